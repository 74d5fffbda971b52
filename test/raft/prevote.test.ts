import { describe, expect, it } from 'vitest';
import { Message, MessageType } from '../../src/proto/eraftpb.js';
import { CampaignKind } from '../../src/raft/raft.js';
import { msg, Network, newTestRaft } from './helpers.js';
import { defined } from '../../src/raft/assert.js';

describe('PreVote', () => {
  it('runs a pre-vote round (term+1 marked kind=1) before the real election, changing no term on the way', () => {
    const nt = new Network([undefined, undefined, undefined], { preVote: true });
    nt.tracing = true;
    nt.campaign(1);
    expect(nt.trace.slice(0, 5)).toEqual([
      '1->1 Hup t0',
      '1->2 RequestVote t1 last=0/0 pre',
      '1->3 RequestVote t1 last=0/0 pre',
      '2->1 RequestVoteResponse t1 grant pre',
      '3->1 RequestVoteResponse t1 grant pre',
    ]);
    expect(nt.trace[5]).toBe('1->2 RequestVote t1 last=0/0');
    expect(nt.raft(1).state).toBe('Leader');
    expect(nt.raft(1).term).toBe(1);
  });

  it('pre-vote messages are exact eraftpb messages that survive encode/decode', () => {
    const r = newTestRaft(1, [1, 2], 10, 1, undefined, { preVote: true });
    r.step(msg({ from: 1, to: 1, msgType: MessageType.MsgHup }));
    expect(r.state).toBe('PreCandidate');
    expect(r.term).toBe(0);
    const [m] = r.readMessages();
    const want = Message.fromPartial({ from: 1, to: 2, term: 1, msgType: MessageType.MsgRequestVote, commit: CampaignKind.PreVote });
    expect(m).toEqual(want);
    expect(Message.decode(Message.encode(defined(m, 'the vote request')).finish())).toEqual(want);
  });

  it('a voter answering a pre-vote changes neither its term nor its vote', () => {
    const r = newTestRaft(2, [1, 2, 3]);
    r.step(msg({ from: 1, to: 2, term: 5, msgType: MessageType.MsgRequestVote, commit: CampaignKind.PreVote }));
    expect(r.term).toBe(0);
    expect(r.vote).toBe(0);
    expect(r.readMessages()).toEqual([
      Message.fromPartial({ from: 2, to: 1, term: 5, msgType: MessageType.MsgRequestVoteResponse, commit: CampaignKind.PreVote }),
    ]);
  });

  it('a partitioned node cannot disrupt a healthy leader when it rejoins', () => {
    const nt = new Network([undefined, undefined, undefined], { preVote: true, checkQuorum: true });
    nt.campaign(1);
    nt.isolate(3);
    const n3 = nt.raft(3);
    for (let i = 0; i < 100; i++) {
      n3.tick();
      nt.send(...n3.readMessages());
    }
    // Without quorum the pre-vote never succeeds, so the term does not grow.
    expect(n3.term).toBe(1);
    expect(n3.state).toBe('PreCandidate');
    nt.recover();
    for (let i = 0; i < 30; i++) {
      n3.tick();
      nt.send(...n3.readMessages());
    }
    nt.send(msg({ from: 1, to: 1, msgType: MessageType.MsgBeat }));
    expect(nt.raft(1).state).toBe('Leader');
    expect(nt.raft(1).term).toBe(1);
    expect(n3.state).toBe('Follower');
    expect(n3.lead).toBe(1);
  });

  it('followers of a live leader refuse pre-votes even without checkQuorum', () => {
    const nt = new Network([undefined, undefined, undefined], { preVote: true });
    nt.campaign(1);
    nt.tracing = true;
    nt.campaign(3);
    expect(nt.trace).toContain('2->3 RequestVoteResponse t1 reject pre');
    expect(nt.raft(1).state).toBe('Leader');
    expect(nt.raft(3).term).toBe(1);
  });

  it('a candidate with a stale log loses the pre-vote', () => {
    const nt = new Network([undefined, undefined, undefined], { preVote: true });
    nt.campaign(1);
    nt.isolate(3);
    nt.propose(1);
    nt.recover();
    // Nodes 1 and 2 forget their leader (an election timeout without heartbeats).
    for (const id of [1, 2]) nt.raft(id).becomeFollower(nt.raft(id).term, 0);
    nt.campaign(3);
    expect(nt.raft(3).state).toBe('Follower');
    expect(nt.raft(3).term).toBe(1);
  });

  it('a stale leader cut off from its quorum grants pre-votes after an election timeout', () => {
    const r = newTestRaft(1, [1, 2, 3], 10, 1, undefined, { preVote: true });
    r.becomeCandidate();
    r.becomeLeader();
    r.readMessages();
    const ask = () => {
      r.step(msg({ from: 2, to: 1, term: 2, msgType: MessageType.MsgRequestVote, index: 1, logTerm: 1, commit: CampaignKind.PreVote }));
      return r.readMessages().find((m) => m.msgType === MessageType.MsgRequestVoteResponse);
    };
    expect(ask()?.reject).toBe(true);
    for (let i = 0; i < r.electionTimeout; i++) r.tick(); // no follower answered
    expect(ask()?.reject).toBe(false);
    expect(r.state).toBe('Leader');
    expect(r.term).toBe(1);
  });

  it('a late pre-vote grant is not counted as a vote in the real election', () => {
    const r = newTestRaft(1, [1, 2, 3, 4, 5], 10, 1, undefined, { preVote: true });
    r.step(msg({ from: 1, to: 1, msgType: MessageType.MsgHup }));
    for (const from of [2, 3]) {
      r.step(msg({ from, to: 1, term: 1, msgType: MessageType.MsgRequestVoteResponse, commit: CampaignKind.PreVote }));
    }
    expect(r.state).toBe('Candidate');
    expect(r.term).toBe(1);
    // Pre-vote grants from 4 and 5 arrive late: they are not votes.
    for (const from of [4, 5]) {
      r.step(msg({ from, to: 1, term: 1, msgType: MessageType.MsgRequestVoteResponse, commit: CampaignKind.PreVote }));
    }
    expect(r.state).toBe('Candidate');
  });
});
