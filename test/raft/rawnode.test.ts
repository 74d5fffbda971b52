import { describe, expect, it } from 'vitest';
import { MessageType } from '../../src/proto/eraftpb.js';
import { ErrInvalidConfig, ErrProposalDropped } from '../../src/raft/errors.js';
import { RawNode, type Ready } from '../../src/raft/raw-node.js';
import { MemoryStorage } from '../../src/raft/storage.js';
import { entry, msg } from './helpers.js';

function persist(s: MemoryStorage, rd: Ready): void {
  if (rd.snapshot) s.applySnapshot(rd.snapshot);
  s.append(rd.entries);
  if (rd.hardState) s.setHardState(rd.hardState);
}

describe('RawNode (TinyKV 2AC)', () => {
  it('start: campaign, then a proposal comes back as both entries and committed entries', () => {
    const s = new MemoryStorage();
    const node = new RawNode({ id: 1, peers: [1], electionTick: 10, heartbeatTick: 1, storage: s });
    node.campaign();
    let rd = node.ready();
    expect(rd.softState).toEqual({ lead: 1, raftState: 'Leader' });
    expect(rd.hardState).toEqual({ term: 1, vote: 1, commit: 1 });
    persist(s, rd);
    node.advance(rd);
    node.propose(Buffer.from('foo'));
    expect(node.hasReady()).toBe(true);
    rd = node.ready();
    expect(rd.entries).toHaveLength(1);
    expect(rd.committedEntries).toEqual(rd.entries);
    expect(rd.entries[0]?.data.toString()).toBe('foo');
    persist(s, rd);
    node.advance(rd);
    expect(node.hasReady()).toBe(false);
  });

  it('restart: the first Ready is exactly {entries: [], committedEntries: [entry 1]}', () => {
    const s = new MemoryStorage();
    s.append([entry(1, 1), entry(2, 1, 'foo')]);
    s.setHardState({ term: 1, vote: 0, commit: 1 });
    const node = new RawNode({ id: 1, electionTick: 10, heartbeatTick: 1, storage: s });
    const rd = node.ready();
    expect(rd).toEqual({ entries: [], committedEntries: [entry(1, 1)], messages: [], readStates: [] });
    node.advance(rd);
    expect(node.hasReady()).toBe(false);
  });

  it('restart with `applied` does not re-deliver applied entries', () => {
    const s = new MemoryStorage();
    s.append([entry(1, 1), entry(2, 1, 'a'), entry(3, 1, 'b')]);
    s.setHardState({ term: 1, vote: 0, commit: 3 });
    const node = new RawNode({ id: 1, electionTick: 10, heartbeatTick: 1, storage: s, applied: 2 });
    expect(node.ready().committedEntries.map((e) => e.index)).toEqual([3]);
  });

  it('status() and getProgress()', () => {
    const s = new MemoryStorage();
    const node = new RawNode({ id: 1, peers: [1, 2], electionTick: 10, heartbeatTick: 1, storage: s });
    expect(node.status()).toEqual({ id: 1, term: 0, lead: 0, state: 'Follower', commit: 0, applied: 0 });
    expect(node.getProgress().size).toBe(0);
    node.campaign();
    node.step(msg({ from: 2, to: 1, term: 1, msgType: MessageType.MsgRequestVoteResponse }));
    expect(node.status()).toMatchObject({ term: 1, lead: 1, state: 'Leader' });
    const pr = node.getProgress();
    expect([...pr.keys()]).toEqual([1, 2]);
    expect(pr.get(1)).toMatchObject({ match: 1, next: 2, state: 'Replicate' });
    expect(pr.get(2)).toMatchObject({ match: 0, next: 1, state: 'Probe' });
  });

  it('proposals on a follower are refused with ErrProposalDropped (code Raft:ProposalDropped)', () => {
    const node = new RawNode({ id: 1, peers: [1, 2], electionTick: 10, heartbeatTick: 1, storage: new MemoryStorage() });
    expect(() => node.propose(Buffer.from('x'))).toThrow(ErrProposalDropped);
    try {
      node.propose(Buffer.from('x'));
    } catch (err) {
      expect((err as ErrProposalDropped).code).toBe('Raft:ProposalDropped');
      expect((err as ErrProposalDropped).retryable).toBe(true);
    }
  });

  it('validates its options', () => {
    const storage = new MemoryStorage();
    expect(() => new RawNode({ id: 0, peers: [1], electionTick: 10, heartbeatTick: 1, storage })).toThrow(ErrInvalidConfig);
    expect(() => new RawNode({ id: 1, peers: [1], electionTick: 1, heartbeatTick: 1, storage })).toThrow(ErrInvalidConfig);
    expect(() => new RawNode({ id: 1, peers: [1], electionTick: 10, heartbeatTick: 1, storage, maxInflightMsgs: 0 })).toThrow(ErrInvalidConfig);
  });

  it('proposeBatch appends many entries in one log append and one message per follower', () => {
    const s = new MemoryStorage();
    const node = new RawNode({ id: 1, peers: [1, 2], electionTick: 10, heartbeatTick: 1, storage: s });
    node.campaign();
    node.step(msg({ from: 2, to: 1, term: 1, msgType: MessageType.MsgRequestVoteResponse }));
    let rd = node.ready();
    persist(s, rd);
    node.advance(rd);
    node.step(msg({ from: 2, to: 1, term: 1, msgType: MessageType.MsgAppendResponse, index: 1 }));
    rd = node.ready();
    persist(s, rd);
    node.advance(rd);
    node.proposeBatch(['a', 'b', 'c'].map((x) => Buffer.from(x)));
    rd = node.ready();
    expect(rd.entries.map((e) => e.data.toString())).toEqual(['a', 'b', 'c']);
    const appends = rd.messages.filter((m) => m.msgType === MessageType.MsgAppend);
    expect(appends).toHaveLength(1);
    expect(appends[0]?.entries).toHaveLength(3);
  });

  it('a Ready lists the leader change only once (softState)', () => {
    const s = new MemoryStorage();
    const node = new RawNode({ id: 1, peers: [1], electionTick: 10, heartbeatTick: 1, storage: s });
    node.campaign();
    const rd = node.ready();
    expect(rd.softState?.raftState).toBe('Leader');
    persist(s, rd);
    node.advance(rd);
    node.propose(Buffer.from('x'));
    expect(node.ready().softState).toBeUndefined();
  });
});
