import { describe, expect, it } from 'vitest';
import { MessageType, type Snapshot } from '../../src/proto/eraftpb.js';
import { ErrCompacted, ErrSnapOutOfDate, ErrSnapshotTemporarilyUnavailable, ErrUnavailable } from '../../src/raft/errors.js';
import { RawNode } from '../../src/raft/raw-node.js';
import { MemoryStorage } from '../../src/raft/storage.js';
import { entry, entsWithTerms, msg, Network, newTestRaft, nextEnts } from './helpers.js';

function snap(index: number, term: number, nodes: number[]): Snapshot {
  return { data: Buffer.from('state'), metadata: { index, term, confState: { nodes } } };
}

describe('MemoryStorage', () => {
  function storage(): MemoryStorage {
    const s = new MemoryStorage();
    s.applySnapshot(snap(3, 3, [1]));
    s.append([entry(4, 4), entry(5, 5), entry(6, 6)]);
    return s;
  }

  it('reports first/last index and terms, with typed errors outside the range', () => {
    const s = storage();
    expect([s.firstIndex(), s.lastIndex()]).toEqual([4, 6]);
    expect([s.term(3), s.term(4), s.term(6)]).toEqual([3, 4, 6]);
    expect(() => s.term(2)).toThrow(ErrCompacted);
    expect(() => s.term(7)).toThrow(ErrUnavailable);
    expect(s.entries(4, 6).map((e) => e.index)).toEqual([4, 5]);
    expect(() => s.entries(3, 5)).toThrow(ErrCompacted);
    expect(() => s.entries(4, 8)).toThrow(ErrUnavailable);
    try {
      s.term(2);
    } catch (err) {
      expect((err as ErrCompacted).code).toBe('Raft:Storage:Compacted');
    }
  });

  it('limits entries by size but returns at least one', () => {
    const s = new MemoryStorage();
    s.append([entry(1, 1, 'a'.repeat(100)), entry(2, 1, 'b'), entry(3, 1, 'c')]);
    expect(s.entries(1, 4, 10)).toHaveLength(1);
    expect(s.entries(2, 4, 34)).toHaveLength(2);
    expect(s.entries(2, 4, 33)).toHaveLength(1);
  });

  it('compacts, keeping the term of the compacted index', () => {
    const s = storage();
    s.compact(5);
    expect([s.firstIndex(), s.lastIndex(), s.term(5)]).toEqual([6, 6, 5]);
    expect(() => s.compact(4)).toThrow(ErrCompacted);
  });

  it('creates snapshots and refuses out-of-date ones', () => {
    const s = storage();
    const sn = s.createSnapshot(5, { nodes: [1, 2] }, Buffer.from('x'));
    expect(sn.metadata).toEqual({ index: 5, term: 5, confState: { nodes: [1, 2] } });
    expect(() => s.createSnapshot(4, undefined, Buffer.alloc(0))).toThrow(ErrSnapOutOfDate);
    expect(() => s.applySnapshot(snap(5, 5, [1]))).toThrow(ErrSnapOutOfDate);
    s.applySnapshot(snap(10, 7, [1, 2, 3]));
    expect([s.firstIndex(), s.lastIndex(), s.term(10)]).toEqual([11, 10, 7]);
    expect(s.initialState().confState.nodes).toEqual([1, 2, 3]);
  });

  it('appends with overwrite, ignoring compacted entries', () => {
    const s = storage();
    s.append([entry(5, 7), entry(6, 7), entry(7, 7)]);
    expect(s.entries(4, 8).map((e) => `${e.index}/${e.term}`)).toEqual(['4/4', '5/7', '6/7', '7/7']);
    s.append([entry(2, 1), entry(3, 3), entry(4, 4), entry(5, 8)]);
    expect(s.entries(4, 6).map((e) => `${e.index}/${e.term}`)).toEqual(['4/4', '5/8']);
    expect(s.lastIndex()).toBe(5);
  });
});

describe('snapshots in Raft (TinyKV 2C)', () => {
  it('restores from a snapshot: last index, term and configuration', () => {
    const r = newTestRaft(1, [1, 2]);
    expect(r.restore(snap(11, 11, [1, 2, 3]))).toBe(true);
    expect(r.log.lastIndex()).toBe(11);
    expect(r.log.term(11)).toBe(11);
    expect([...r.tracker.ids()]).toEqual([1, 2, 3]);
    expect(r.log.committed).toBe(11);
  });

  it('ignores a snapshot at or below the commit index', () => {
    const s = new MemoryStorage();
    s.append(entsWithTerms([1, 1, 1]));
    const r = newTestRaft(1, [1, 2], 10, 1, s);
    r.log.commitTo(3);
    expect(r.restore(snap(1, 1, [1, 2]))).toBe(false);
    expect(r.log.committed).toBe(3);
  });

  it('fast-forwards the commit index when the log already matches the snapshot', () => {
    const s = new MemoryStorage();
    s.append(entsWithTerms([1, 1, 1]));
    const r = newTestRaft(1, [1, 2], 10, 1, s);
    r.log.commitTo(1);
    expect(r.restore(snap(2, 1, [1, 2]))).toBe(false);
    expect(r.log.committed).toBe(2);
    expect(r.log.lastIndex()).toBe(3);
  });

  it('ignores a snapshot whose configuration does not include this node', () => {
    const r = newTestRaft(1, [1, 2]);
    expect(r.restore(snap(11, 11, [2, 3]))).toBe(false);
    expect(r.log.lastIndex()).toBe(0);
  });

  it('sends MsgSnapshot to a follower whose next entries are compacted', () => {
    const s = new MemoryStorage();
    s.applySnapshot(snap(11, 11, [1, 2]));
    s.setHardState({ term: 11, vote: 0, commit: 11 });
    const r = newTestRaft(1, [1, 2], 10, 1, s);
    r.becomeCandidate();
    r.becomeLeader();
    r.readMessages();
    const pr = r.tracker.get(2)!;
    pr.next = r.log.firstIndex() - 1; // 10 < first index 12
    pr.probeSent = false;
    r.step(msg({ from: 2, to: 1, term: r.term, msgType: MessageType.MsgAppendResponse, index: pr.next - 1, reject: true, commit: 0 }));
    const msgs = r.readMessages();
    expect(msgs).toHaveLength(1);
    expect(msgs[0]?.msgType).toBe(MessageType.MsgSnapshot);
    expect(msgs[0]?.snapshot?.metadata?.index).toBe(11);
    expect(pr.state).toBe('Snapshot');
  });

  it('a follower stepping MsgSnapshot learns the leader and acks the snapshot index', () => {
    const r = newTestRaft(2, [1, 2]);
    r.step(msg({ from: 1, to: 2, term: 2, msgType: MessageType.MsgSnapshot, snapshot: snap(11, 11, [1, 2]) }));
    expect(r.lead).toBe(1);
    expect(r.readMessages()[0]).toMatchObject({ msgType: MessageType.MsgAppendResponse, index: 11 });
  });

  it('retries later when storage says the snapshot is temporarily unavailable', () => {
    class Busy extends MemoryStorage {
      busy = true;
      override snapshot(): Snapshot {
        if (this.busy) throw new ErrSnapshotTemporarilyUnavailable();
        return super.snapshot();
      }
    }
    const s = new Busy();
    s.applySnapshot(snap(11, 11, [1, 2]));
    s.setHardState({ term: 11, vote: 0, commit: 11 });
    const r = newTestRaft(1, [1, 2], 10, 1, s);
    r.becomeCandidate();
    r.becomeLeader();
    r.readMessages();
    r.tracker.get(2)!.next = 5;
    r.step(msg({ from: 2, to: 1, term: r.term, msgType: MessageType.MsgHeartbeatResponse }));
    expect(r.readMessages()).toHaveLength(0);
    s.busy = false;
    r.step(msg({ from: 2, to: 1, term: r.term, msgType: MessageType.MsgHeartbeatResponse }));
    expect(r.readMessages().map((m) => m.msgType)).toEqual([MessageType.MsgSnapshot]);
  });

  it('re-probes (and resends) after a snapshot got lost for an election timeout', () => {
    const s = new MemoryStorage();
    s.applySnapshot(snap(11, 11, [1, 2]));
    s.setHardState({ term: 11, vote: 0, commit: 11 });
    const r = newTestRaft(1, [1, 2], 10, 1, s);
    r.becomeCandidate();
    r.becomeLeader();
    r.readMessages();
    r.tracker.get(2)!.next = 5;
    r.step(msg({ from: 2, to: 1, term: r.term, msgType: MessageType.MsgHeartbeatResponse }));
    expect(r.readMessages().map((m) => m.msgType)).toEqual([MessageType.MsgSnapshot]);
    for (let i = 0; i < 10; i++) r.tick();
    r.readMessages();
    r.step(msg({ from: 2, to: 1, term: r.term, msgType: MessageType.MsgHeartbeatResponse }));
    // Probe from the snapshot index; the follower has nothing, so it rejects and gets the snapshot again.
    const [probe] = r.readMessages();
    expect(probe).toMatchObject({ msgType: MessageType.MsgAppend, index: 11 });
    r.step(msg({ from: 2, to: 1, term: r.term, msgType: MessageType.MsgAppendResponse, index: 11, reject: true, commit: 0 }));
    expect(r.readMessages().map((m) => m.msgType)).toEqual([MessageType.MsgSnapshot]);
  });

  it('brings back a node isolated across log compaction (slow node restore)', () => {
    const nt = new Network([undefined, undefined, undefined]);
    nt.campaign(1);
    nt.isolate(3);
    for (let i = 0; i < 100; i++) nt.propose(1);
    const lead = nt.raft(1);
    const ls = nt.storages.get(1)!;
    nextEnts(lead, ls);
    ls.createSnapshot(lead.log.applied, { nodes: [1, 2, 3] }, Buffer.from('snap'));
    ls.compact(lead.log.applied);
    nt.recover();
    // Heartbeat -> response -> the follower is behind -> snapshot; then more proposals.
    for (let i = 0; i < 3; i++) nt.send(msg({ from: 1, to: 1, msgType: MessageType.MsgBeat }));
    nt.propose(1);
    const follower = nt.raft(3);
    expect(follower.log.committed).toBe(lead.log.committed);
    expect(follower.log.pendingSnapshot?.metadata?.index).toBe(ls.firstIndex() - 1);
  });

  it('RawNode restarted from a snapshot: first Ready has no entries and the committed tail', () => {
    const s = new MemoryStorage();
    s.applySnapshot(snap(2, 1, [1, 2]));
    s.append([entry(3, 1, 'foo')]);
    s.setHardState({ term: 1, vote: 0, commit: 3 });
    const node = new RawNode({ id: 1, electionTick: 10, heartbeatTick: 1, storage: s });
    const rd = node.ready();
    expect(rd).toEqual({ entries: [], committedEntries: [entry(3, 1, 'foo')], messages: [], readStates: [] });
    node.advance(rd);
    expect(node.hasReady()).toBe(false);
  });

  it('a Ready carries a received snapshot; advance marks it applied', () => {
    const node = new RawNode({ id: 2, peers: [1, 2], electionTick: 10, heartbeatTick: 1, storage: new MemoryStorage() });
    node.step(msg({ from: 1, to: 2, term: 2, msgType: MessageType.MsgSnapshot, snapshot: snap(11, 11, [1, 2]) }));
    const rd = node.ready();
    expect(rd.snapshot?.metadata?.index).toBe(11);
    expect(rd.committedEntries).toEqual([]);
    expect(rd.hardState).toEqual({ term: 2, vote: 0, commit: 11 });
    node.advance(rd);
    expect(node.status().applied).toBe(11);
    expect(node.hasReady()).toBe(false);
  });
});
