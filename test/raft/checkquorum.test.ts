import { describe, expect, it } from 'vitest';
import { MessageType } from '../../src/proto/eraftpb.js';
import { msg, Network } from './helpers.js';

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
