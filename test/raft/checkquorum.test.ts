import { describe, expect, it } from 'vitest';
import { MessageType } from '../../src/proto/eraftpb.js';
import { msg, Network, newTestRaft } from './helpers.js';
import { CampaignKind } from '../../src/raft/raft.js';

describe('CheckQuorum', () => {
  it('a leader that lost its quorum steps down after an election timeout', () => {
    const nt = new Network([undefined, undefined, undefined], { checkQuorum: true });
    nt.campaign(1);
    nt.isolate(1);
    const r = nt.raft(1);
    // The first check still counts the acks of the election window.
    for (let i = 0; i < r.electionTimeout; i++) {
      r.tick();
      nt.send(...r.readMessages());
    }
    expect(r.state).toBe('Leader');
    for (let i = 0; i < r.electionTimeout; i++) {
      r.tick();
      nt.send(...r.readMessages());
    }
    expect(r.state).toBe('Follower');
    expect(r.term).toBe(1);
  });

  it('a leader that hears from its quorum stays leader', () => {
    const nt = new Network([undefined, undefined, undefined], { checkQuorum: true });
    nt.campaign(1);
    nt.isolate(3);
    const r = nt.raft(1);
    for (let i = 0; i < 5 * r.electionTimeout; i++) {
      r.tick();
      nt.send(...r.readMessages());
    }
    expect(r.state).toBe('Leader');
  });

  it('followers inside the leader lease ignore higher-term votes (no term change)', () => {
    const nt = new Network([undefined, undefined, undefined], { checkQuorum: true });
    nt.campaign(1);
    nt.send(msg({ from: 3, to: 2, term: 5, msgType: MessageType.MsgRequestVote, index: 10, logTerm: 5 }));
    expect(nt.raft(2).term).toBe(1);
    expect(nt.raft(2).lead).toBe(1);
  });

  it('without checkQuorum a higher-term vote does move the follower', () => {
    const nt = new Network([undefined, undefined, undefined]);
    nt.campaign(1);
    nt.send(msg({ from: 3, to: 2, term: 5, msgType: MessageType.MsgRequestVote, index: 10, logTerm: 5 }));
    expect(nt.raft(2).term).toBe(5);
  });

  it('a node isolated with checkQuorum can rejoin after its term grew', () => {
    const nt = new Network([undefined, undefined, undefined], { checkQuorum: true });
    nt.campaign(1);
    nt.isolate(3);
    const n3 = nt.raft(3);
    for (let i = 0; i < 40; i++) {
      n3.tick();
      nt.send(...n3.readMessages());
    }
    expect(n3.term).toBeGreaterThan(1);
    nt.recover();
    // The leader's heartbeat is answered with the higher term; the cluster re-elects and n3 rejoins.
    nt.send(msg({ from: 1, to: 1, msgType: MessageType.MsgBeat }));
    nt.campaign(1);
    expect(nt.raft(1).state).toBe('Leader');
    nt.propose(1, 'x');
    expect(n3.log.committed).toBe(nt.raft(1).log.committed);
  });
});

describe('startInLease (a restarted node keeps its vote promise)', () => {
  const vote = (from: number, to: number, term: number) => msg({ from, to, term, msgType: MessageType.MsgRequestVote, index: 10, logTerm: 5 });

  it('refuses votes for its first election timeout of ticks, then grants them', () => {
    const restarted = newTestRaft(2, [1, 2, 3], 10, 1, undefined, { checkQuorum: true, startInLease: true });
    for (let tick = 0; tick < 9; tick++) {
      restarted.step(vote(3, 2, 2));
      expect(restarted.term, `tick ${tick}`).toBe(0);
      restarted.tick();
      restarted.readMessages();
    }
    // The tenth tick ends the promise: a candidate is heard again.
    restarted.tick();
    restarted.readMessages();
    restarted.step(vote(3, 2, 2));
    expect(restarted.term).toBe(2);
    expect(restarted.readMessages().some((m) => m.msgType === MessageType.MsgRequestVoteResponse && !m.reject)).toBe(true);
  });

  it('a node started without it votes at once, and a leader transfer is never held back', () => {
    const fresh = newTestRaft(2, [1, 2, 3], 10, 1, undefined, { checkQuorum: true });
    fresh.step(vote(3, 2, 2));
    expect(fresh.term).toBe(2);
    const restarted = newTestRaft(2, [1, 2, 3], 10, 1, undefined, { checkQuorum: true, startInLease: true });
    restarted.step({ ...vote(3, 2, 2), commit: CampaignKind.Transfer });
    expect(restarted.term).toBe(2);
  });
});
