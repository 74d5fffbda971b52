import { describe, expect, it } from 'vitest';
import { ConfChange, ConfChangeType, EntryType, MessageType } from '../../src/proto/eraftpb.js';
import { ErrProposalDropped } from '../../src/raft/errors.js';
import { RawNode, type Ready } from '../../src/raft/raw-node.js';
import { MemoryStorage } from '../../src/raft/storage.js';
import { entry, msg, Network, newTestRaft } from './helpers.js';
import { defined } from '../../src/raft/assert.js';

describe('membership change (TinyKV 3A)', () => {
  it('adds and removes nodes; removing the last node does not crash', () => {
    const r = newTestRaft(1, [1]);
    r.addNode(2);
    expect([...r.tracker.ids()]).toEqual([1, 2]);
    r.removeNode(2);
    expect([...r.tracker.ids()]).toEqual([1]);
    r.removeNode(1);
    expect([...r.tracker.ids()]).toEqual([]);
  });

  it('applyConfChange returns the sorted ConfState; node id 0 is a no-op', () => {
    const r = newTestRaft(1, [3, 1]);
    expect(r.applyConfChange(ConfChange.create({ changeType: ConfChangeType.AddNode, nodeId: 2 }))).toEqual({ nodes: [1, 2, 3] });
    expect(r.applyConfChange(ConfChange.create({ changeType: ConfChangeType.RemoveNode, nodeId: 0 }))).toEqual({ nodes: [1, 2, 3] });
  });

  it('re-checks commit when a node is removed (quorum shrinks)', () => {
    const s = new MemoryStorage();
    const r = newTestRaft(1, [1, 2], 5, 1, s);
    r.becomeCandidate();
    r.becomeLeader();
    r.readMessages();
    r.step(msg({ from: 2, to: 1, term: 1, msgType: MessageType.MsgAppendResponse, index: 1 }));
    const cc = ConfChange.create({ changeType: ConfChangeType.RemoveNode, nodeId: 2 });
    r.step(
      msg({
        from: 1,
        to: 1,
        msgType: MessageType.MsgPropose,
        entries: [{ ...entry(0, 0), entryType: EntryType.EntryConfChange, data: Buffer.from(ConfChange.encode(cc).finish()) }],
      }),
    );
    r.step(msg({ from: 1, to: 1, msgType: MessageType.MsgPropose, entries: [entry(0, 0, 'hello')] }));
    r.readMessages();
    // Node 2 acks the conf change (index 2) only.
    r.step(msg({ from: 2, to: 1, term: 1, msgType: MessageType.MsgAppendResponse, index: 2 }));
    expect(r.log.committed).toBe(2);
    r.removeNode(2);
    expect(r.log.committed).toBe(3);
  });

  it('allows one pending conf change at a time (PendingConfIndex)', () => {
    const node = new RawNode({ id: 1, peers: [1], electionTick: 10, heartbeatTick: 1, storage: new MemoryStorage() });
    node.campaign();
    const s = node.raft.log.storage as MemoryStorage;
    const flush = (apply: boolean): Ready => {
      const rd = node.ready();
      s.append(rd.entries);
      if (rd.hardState) s.setHardState(rd.hardState);
      if (apply) node.advance(rd);
      return rd;
    };
    flush(true);
    node.proposeConfChange(ConfChange.create({ changeType: ConfChangeType.AddNode, nodeId: 2 }));
    expect(() => node.proposeConfChange(ConfChange.create({ changeType: ConfChangeType.AddNode, nodeId: 3 }))).toThrow(ErrProposalDropped);
    const rd = flush(false);
    expect(rd.committedEntries.at(-1)?.entryType).toBe(EntryType.EntryConfChange);
    node.applyConfChange(ConfChange.decode(rd.committedEntries.at(-1)!.data));
    node.advance(rd);
    node.proposeConfChange(ConfChange.create({ changeType: ConfChangeType.AddNode, nodeId: 3 }));
  });

  it('stores the encoded ConfChange as the last entry after a normal proposal', () => {
    const s = new MemoryStorage();
    const node = new RawNode({ id: 1, peers: [1], electionTick: 10, heartbeatTick: 1, storage: s });
    node.campaign();
    for (;;) {
      const rd = node.ready();
      s.append(rd.entries);
      if (rd.softState?.lead === 1) {
        expect(rd.softState.raftState).toBe('Leader');
        node.advance(rd);
        break;
      }
      node.advance(rd);
    }
    node.propose(Buffer.from('somedata'));
    const cc = ConfChange.create({ changeType: ConfChangeType.AddNode, nodeId: 1 });
    node.proposeConfChange(cc);
    const rd = node.ready();
    s.append(rd.entries);
    node.advance(rd);
    const last = s.entries(s.lastIndex() - 1, s.lastIndex() + 1);
    expect(last[0]?.data.toString()).toBe('somedata');
    expect(last[1]?.entryType).toBe(EntryType.EntryConfChange);
    expect(Buffer.from(defined(last[1], 'last[1]').data)).toEqual(Buffer.from(ConfChange.encode(cc).finish()));
  });

  it('a duplicate AddNode does not block later conf changes', () => {
    const s = new MemoryStorage();
    const node = new RawNode({ id: 1, peers: [1], electionTick: 10, heartbeatTick: 1, storage: s });
    node.campaign();
    const drain = () => {
      while (node.hasReady()) {
        const rd = node.ready();
        s.append(rd.entries);
        if (rd.hardState) s.setHardState(rd.hardState);
        for (const e of rd.committedEntries) {
          if (e.entryType === EntryType.EntryConfChange) node.applyConfChange(ConfChange.decode(e.data));
        }
        node.advance(rd);
      }
    };
    drain();
    const cc1 = ConfChange.create({ changeType: ConfChangeType.AddNode, nodeId: 1 });
    const cc2 = ConfChange.create({ changeType: ConfChangeType.AddNode, nodeId: 2 });
    for (const cc of [cc1, cc1, cc2]) {
      node.proposeConfChange(cc);
      drain();
    }
    const tail = s.entries(s.lastIndex() - 2, s.lastIndex() + 1).map((e) => ConfChange.decode(e.data).nodeId);
    expect(tail).toEqual([1, 1, 2]);
    expect(node.raft.tracker.ids()).toEqual([1, 2]);
  });

  it('a leader that removes itself steps down; the rest elect a new leader', () => {
    const nt = new Network([undefined, undefined, undefined]);
    nt.campaign(1);
    for (const id of [1, 2, 3]) nt.raft(id).removeNode(1);
    expect(nt.raft(1).state).toBe('Follower');
    nt.campaign(2);
    expect(nt.raft(2).state).toBe('Leader');
    nt.propose(2, 'after');
    expect(nt.raft(3).log.committed).toBe(nt.raft(2).log.lastIndex());
  });

  it('a new leader refuses a conf change until earlier log entries are applied', () => {
    const nt = new Network([undefined, undefined, undefined]);
    nt.campaign(1);
    const r = nt.raft(1);
    expect(r.pendingConfIndex).toBe(0); // lastIndex before the noop
    nt.campaign(2);
    const r2 = nt.raft(2);
    expect(r2.pendingConfIndex).toBe(1);
    expect(() =>
      r2.step(msg({ from: 2, to: 2, msgType: MessageType.MsgPropose, entries: [{ ...entry(0, 0), entryType: EntryType.EntryConfChange }] })),
    ).toThrow(ErrProposalDropped);
  });
});
