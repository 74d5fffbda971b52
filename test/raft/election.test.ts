import { describe, expect, it } from 'vitest';
import { Message, MessageType } from '../../src/proto/eraftpb.js';
import { ErrStepLocalMsg, ErrStepPeerNotFound } from '../../src/raft/errors.js';
import { NONE } from '../../src/raft/raft.js';
import { RawNode } from '../../src/raft/raw-node.js';
import { MemoryStorage } from '../../src/raft/storage.js';
import { entsWithTerms, msg, Network, newTestRaft } from './helpers.js';

describe('leader election (TinyKV 2AA conventions)', () => {
  it('starts as a follower at term 0 with no leader', () => {
    const r = newTestRaft(1, [1, 2, 3]);
    expect(r.state).toBe('Follower');
    expect(r.term).toBe(0);
    expect(r.lead).toBe(NONE);
  });

  it.each([
    { name: '3 of 3 up', peers: [undefined, undefined, undefined], state: 'Leader' },
    { name: '2 of 3 up', peers: [undefined, undefined, null], state: 'Leader' },
    { name: '1 of 3 up', peers: [undefined, null, null], state: 'Candidate' },
    { name: '2 of 4 up', peers: [undefined, null, null, undefined], state: 'Candidate' },
    { name: '3 of 5 up', peers: [undefined, null, null, undefined, undefined], state: 'Leader' },
  ] as const)('elects a leader only with a majority ($name)', ({ peers, state }) => {
    const nt = new Network([...peers]);
    nt.campaign(1);
    expect(nt.raft(1).state).toBe(state);
    expect(nt.raft(1).term).toBe(1);
  });

  it('becomes a candidate at term 1 and sends RequestVote with exactly {from,to,term,type,index,logTerm}', () => {
    const r = newTestRaft(1, [1, 2, 3]);
    for (let i = 0; i < 2 * r.electionTimeout; i++) r.tick();
    expect(r.state).toBe('Candidate');
    expect(r.term).toBe(1);
    expect(r.tracker.voteOf(1)).toBe(true);
    const msgs = r.readMessages().sort((a, b) => a.to - b.to);
    expect(msgs).toEqual([
      Message.fromPartial({ from: 1, to: 2, term: 1, msgType: MessageType.MsgRequestVote }),
      Message.fromPartial({ from: 1, to: 3, term: 1, msgType: MessageType.MsgRequestVote }),
    ]);
  });

  it('carries the last log index and term in RequestVote', () => {
    const s = new MemoryStorage();
    s.append(entsWithTerms([1, 2]));
    s.setHardState({ term: 2, vote: 0, commit: 0 });
    const r = newTestRaft(1, [1, 2], 10, 1, s);
    for (let i = 0; i < 2 * r.electionTimeout; i++) r.tick();
    const [m] = r.readMessages();
    expect(m).toEqual(Message.fromPartial({ from: 1, to: 2, term: 3, msgType: MessageType.MsgRequestVote, index: 2, logTerm: 2 }));
  });

  it('randomizes the election timeout over every value in [et, 2et)', () => {
    const r = newTestRaft(1, [1, 2, 3]);
    const seen = new Set<number>();
    for (let round = 0; round < 500; round++) {
      r.becomeFollower(r.term + 1, NONE);
      let ticks = 0;
      while (r.state === 'Follower') {
        r.tick();
        ticks++;
      }
      seen.add(ticks);
    }
    expect([...seen].sort((a, b) => a - b)).toEqual([10, 11, 12, 13, 14, 15, 16, 17, 18, 19]);
  });

  it('rarely times out several followers on the same tick', () => {
    const rafts = [1, 2, 3, 4, 5].map((id) => newTestRaft(id, [1, 2, 3, 4, 5]));
    let conflicts = 0;
    for (let round = 0; round < 1000; round++) {
      for (const r of rafts) r.becomeFollower(r.term + 1, NONE);
      let timedOut = 0;
      while (timedOut === 0) {
        for (const r of rafts) {
          r.tick();
          if (r.readMessages().length > 0) timedOut++;
        }
      }
      if (timedOut > 1) conflicts++;
    }
    expect(conflicts / 1000).toBeLessThanOrEqual(0.3);
  });

  it('votes for at most one candidate per term, with an exact response', () => {
    const cases = [
      { vote: NONE, from: 2, reject: false },
      { vote: NONE, from: 3, reject: false },
      { vote: 2, from: 2, reject: false },
      { vote: 3, from: 3, reject: false },
      { vote: 2, from: 3, reject: true },
      { vote: 3, from: 2, reject: true },
    ];
    for (const c of cases) {
      const r = newTestRaft(1, [1, 2, 3]);
      r.term = 1;
      r.vote = c.vote;
      r.step(msg({ from: c.from, to: 1, term: 1, msgType: MessageType.MsgRequestVote }));
      expect(r.readMessages()).toEqual([
        Message.fromPartial({ from: 1, to: c.from, term: 1, msgType: MessageType.MsgRequestVoteResponse, reject: c.reject }),
      ]);
    }
  });

  it('rejects a candidate whose log is less up to date (§5.4.1)', () => {
    // Voter log: [t1@1, t1@2] or [t1@1, t2@2] etc.
    const cases: [number[], number, number, boolean][] = [
      [[1, 1], 2, 1, false],
      [[1, 1], 3, 1, false],
      [[1, 1], 1, 1, true],
      [[1, 2], 2, 1, true],
      [[1, 2], 1, 2, true],
      [[1, 2], 2, 2, false],
      [[1, 2], 1, 3, false],
      [[2, 2], 2, 1, true],
      [[2, 2], 3, 2, false],
    ];
    for (const [terms, index, logTerm, reject] of cases) {
      const s = new MemoryStorage();
      s.append(entsWithTerms(terms));
      const r = newTestRaft(1, [1, 2], 10, 1, s);
      r.step(msg({ from: 2, to: 1, term: 3, msgType: MessageType.MsgRequestVote, index, logTerm }));
      const [m] = r.readMessages();
      expect(m?.reject).toBe(reject);
    }
  });

  it.each(['Follower', 'Candidate', 'Leader'] as const)('a %s grants a higher-term vote and steps down', (state) => {
    const r = newTestRaft(1, [1, 2, 3]);
    r.term = 1;
    if (state === 'Candidate') r.becomeCandidate();
    if (state === 'Leader') {
      r.becomeCandidate();
      r.becomeLeader();
    }
    r.readMessages();
    const newTerm = r.term + 1;
    r.step(msg({ from: 2, to: 1, term: newTerm, msgType: MessageType.MsgRequestVote, index: 42, logTerm: newTerm }));
    const msgs = r.readMessages();
    expect(msgs).toHaveLength(1);
    expect(msgs[0]?.reject).toBe(false);
    expect(r.state).toBe('Follower');
    expect(r.term).toBe(newTerm);
    expect(r.vote).toBe(2);
  });

  it('a leader or candidate rejects a vote request of its own term', () => {
    for (const state of ['Candidate', 'Leader'] as const) {
      const r = newTestRaft(1, [1, 2, 3]);
      r.becomeCandidate();
      if (state === 'Leader') r.becomeLeader();
      r.readMessages();
      r.step(msg({ from: 2, to: 1, term: r.term, msgType: MessageType.MsgRequestVote }));
      expect(r.readMessages()[0]?.reject).toBe(true);
      expect(r.state).toBe(state);
    }
  });

  it('wins a single-node election immediately, and a second campaign changes nothing', () => {
    const nt = new Network([undefined]);
    nt.campaign(1);
    expect(nt.raft(1).state).toBe('Leader');
    nt.campaign(1);
    expect(nt.raft(1).state).toBe('Leader');
    expect(nt.raft(1).term).toBe(1);
  });

  it('cycles leadership: each campaigner wins and the others follow', () => {
    const nt = new Network([undefined, undefined, undefined]);
    for (const id of [1, 2, 3]) {
      nt.campaign(id);
      for (const [pid, p] of nt.peers) expect(p?.state).toBe(pid === id ? 'Leader' : 'Follower');
    }
  });

  it('appends a noop entry in its own term on becoming leader', () => {
    const nt = new Network([undefined, undefined, undefined]);
    nt.campaign(1);
    const r = nt.raft(1);
    const last = r.log.slice(r.log.lastIndex(), r.log.lastIndex() + 1)[0];
    expect(last).toMatchObject({ index: 1, term: 1 });
    expect(last?.data.length).toBe(0);
    expect(r.log.committed).toBe(1);
  });

  it('resolves a split vote in a later term', () => {
    const nt = new Network([undefined, undefined, undefined]);
    nt.campaign(1);
    nt.isolate(1);
    nt.cut(2, 3);
    nt.campaign(2);
    nt.campaign(3);
    expect(nt.raft(2).state).toBe('Candidate');
    expect(nt.raft(3).state).toBe('Candidate');
    nt.recover();
    nt.campaign(2);
    expect(nt.raft(2).state).toBe('Leader');
    expect(nt.raft(3).state).toBe('Follower');
    expect(nt.raft(2).term).toBe(nt.raft(3).term);
  });

  it('a leader steps down when a follower answers a stale heartbeat with a higher term', () => {
    const nt = new Network([undefined, undefined, undefined]);
    nt.campaign(1);
    const n3 = nt.raft(3);
    // n3 times out alone and bumps its term.
    n3.becomeCandidate();
    n3.readMessages();
    expect(n3.term).toBe(2);
    nt.send(msg({ from: 1, to: 3, term: 1, msgType: MessageType.MsgHeartbeat }));
    expect(nt.raft(1).state).toBe('Follower');
    expect(nt.raft(1).term).toBe(2);
  });

  it('a candidate falls back to follower on an append of its term or higher', () => {
    for (const term of [1, 2]) {
      const r = newTestRaft(1, [1, 2, 3]);
      r.step(msg({ from: 1, to: 1, msgType: MessageType.MsgHup }));
      r.readMessages();
      r.step(msg({ from: 2, to: 1, term, msgType: MessageType.MsgAppend }));
      expect(r.state).toBe('Follower');
      expect(r.term).toBe(term);
      expect(r.lead).toBe(2);
    }
  });

  it('prints a readable trace of a three-node election', () => {
    const nt = new Network([undefined, undefined, undefined]);
    nt.tracing = true;
    nt.campaign(1);
    expect(nt.trace).toEqual([
      '1->1 Hup t0',
      '1->2 RequestVote t1 last=0/0',
      '1->3 RequestVote t1 last=0/0',
      '2->1 RequestVoteResponse t1 grant',
      '3->1 RequestVoteResponse t1 grant',
      '1->2 Append t1 prev=0/0 commit=0 [1/1]',
      '1->3 Append t1 prev=0/0 commit=0 [1/1]',
      '2->1 AppendResponse t1 index=1',
      '3->1 AppendResponse t1 index=1',
      // Commit advances on node 2's ack; node 3's probe is still outstanding,
      // so only node 2 gets the commit now (node 3 learns it from the next heartbeat).
      '1->2 Append t1 prev=1/1 commit=1 []',
      '2->1 AppendResponse t1 index=1',
    ]);
  });
});

describe('RawNode.step guards', () => {
  it('rejects local messages and responses from unknown peers', () => {
    const node = new RawNode({ id: 1, peers: [1, 2], electionTick: 10, heartbeatTick: 1, storage: new MemoryStorage() });
    expect(() => node.step(msg({ from: 1, to: 1, msgType: MessageType.MsgHup }))).toThrow(ErrStepLocalMsg);
    expect(() => node.step(msg({ from: 1, to: 1, msgType: MessageType.MsgBeat }))).toThrow(ErrStepLocalMsg);
    for (const t of [MessageType.MsgAppendResponse, MessageType.MsgRequestVoteResponse, MessageType.MsgHeartbeatResponse]) {
      expect(() => node.step(msg({ from: 9, to: 1, term: 1, msgType: t }))).toThrow(ErrStepPeerNotFound);
    }
    try {
      node.step(msg({ from: 1, to: 1, msgType: MessageType.MsgHup }));
    } catch (err) {
      expect((err as ErrStepLocalMsg).code).toBe('Raft:StepLocalMsg');
    }
  });

  it('a leader with heartbeatTick 1 sends exactly {from,to,term,type} heartbeats after one tick', () => {
    const r = newTestRaft(1, [1, 2, 3]);
    r.becomeCandidate();
    r.becomeLeader();
    r.readMessages();
    r.tick();
    const msgs = r.readMessages().sort((a, b) => a.to - b.to);
    expect(msgs).toEqual([
      Message.fromPartial({ from: 1, to: 2, term: 1, msgType: MessageType.MsgHeartbeat }),
      Message.fromPartial({ from: 1, to: 3, term: 1, msgType: MessageType.MsgHeartbeat }),
    ]);
  });
});
