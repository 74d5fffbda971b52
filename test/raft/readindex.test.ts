import { describe, expect, it } from 'vitest';
import { MessageType } from '../../src/proto/eraftpb.js';
import { ErrProposalDropped } from '../../src/raft/errors.js';
import { msg, Network, newTestRaft } from './helpers.js';
import { defined } from '../../src/raft/assert.js';

const ctx = (s: string) => Buffer.from(s);

describe('ReadIndex', () => {
  it('confirms a read after a heartbeat round and reports the commit index with its context', () => {
    const nt = new Network([undefined, undefined, undefined]);
    nt.campaign(1);
    nt.propose(1, 'a');
    const r = nt.raft(1);
    r.readIndex(ctx('req-1'));
    expect(r.readStates).toEqual([]);
    nt.tracing = true;
    nt.send(...r.readMessages());
    expect(nt.trace.some((l) => l.startsWith('1->2 Heartbeat'))).toBe(true);
    expect(r.readStates).toEqual([{ index: 2, requestCtx: ctx('req-1') }]);
  });

  it('heartbeats carry the read sequence in index and followers echo it', () => {
    const nt = new Network([undefined, undefined, undefined]);
    nt.campaign(1);
    const r = nt.raft(1);
    r.readIndex(ctx('x'));
    const hb = r.readMessages().find((m) => m.msgType === MessageType.MsgHeartbeat);
    expect(hb?.index).toBe(1);
    const f = nt.raft(2);
    f.step(hb!);
    expect(f.readMessages()[0]).toMatchObject({ msgType: MessageType.MsgHeartbeatResponse, index: 1 });
  });

  it('batches reads: one heartbeat round confirms all earlier reads', () => {
    const nt = new Network([undefined, undefined, undefined]);
    nt.campaign(1);
    const r = nt.raft(1);
    r.readIndex(ctx('a'));
    r.readIndex(ctx('b'));
    const msgs = r.readMessages();
    expect(msgs.filter((m) => m.msgType === MessageType.MsgHeartbeat)).toHaveLength(2);
    nt.send(...msgs);
    expect(r.readStates.map((s) => Buffer.from(s.requestCtx).toString())).toEqual(['a', 'b']);
  });

  it('waits until the leader committed an entry of its term', () => {
    const r = newTestRaft(1, [1, 2, 3]);
    r.becomeCandidate();
    r.becomeLeader();
    r.readMessages();
    r.readIndex(ctx('early'));
    expect(r.readMessages().filter((m) => m.msgType === MessageType.MsgHeartbeat)).toHaveLength(0);
    r.step(msg({ from: 2, to: 1, term: 1, msgType: MessageType.MsgAppendResponse, index: 1 }));
    const hbs = r.readMessages().filter((m) => m.msgType === MessageType.MsgHeartbeat);
    expect(hbs).toHaveLength(2);
    r.step(msg({ from: 2, to: 1, term: 1, msgType: MessageType.MsgHeartbeatResponse, index: defined(hbs[0], 'hbs[0]').index }));
    expect(r.readStates).toEqual([{ index: 1, requestCtx: ctx('early') }]);
  });

  it('a single-node leader answers immediately', () => {
    const nt = new Network([undefined]);
    nt.campaign(1);
    nt.raft(1).readIndex(ctx('solo'));
    expect(nt.raft(1).readStates).toEqual([{ index: 1, requestCtx: ctx('solo') }]);
  });

  it('a follower refuses with ErrProposalDropped', () => {
    const nt = new Network([undefined, undefined, undefined]);
    nt.campaign(1);
    expect(() => nt.raft(2).readIndex(ctx('x'))).toThrow(ErrProposalDropped);
  });

  it('a deposed leader cannot confirm reads', () => {
    const nt = new Network([undefined, undefined, undefined]);
    nt.campaign(1);
    nt.isolate(1);
    nt.campaign(2);
    nt.propose(2, 'new');
    const old = nt.raft(1);
    old.readIndex(ctx('stale'));
    nt.send(...old.readMessages());
    expect(old.readStates).toEqual([]);
    nt.recover();
    nt.send(msg({ from: 1, to: 1, msgType: MessageType.MsgBeat }));
    expect(old.state).toBe('Follower');
    expect(old.readStates).toEqual([]);
  });
});
