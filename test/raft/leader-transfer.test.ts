import { describe, expect, it } from 'vitest';
import { MessageType } from '../../src/proto/eraftpb.js';
import { ErrProposalDropped } from '../../src/raft/errors.js';
import { NONE, type Raft } from '../../src/raft/raft.js';
import { MemoryStorage } from '../../src/raft/storage.js';
import { entry, msg, Network, newTestRaft, nextEnts } from './helpers.js';

function transfer(nt: Network, to: number, transferee: number): void {
  nt.send(msg({ from: transferee, to, msgType: MessageType.MsgTransferLeader }));
}

function expectLeader(r: Raft, state: Raft['state'], lead: number): void {
  expect(r.state).toBe(state);
  expect(r.lead).toBe(lead);
}

describe('leader transfer (TinyKV 3A)', () => {
  it('transfers to an up-to-date follower, and back', () => {
    const nt = new Network([undefined, undefined, undefined]);
    nt.campaign(1);
    transfer(nt, 1, 2);
    expectLeader(nt.raft(1), 'Follower', 2);
    expectLeader(nt.raft(2), 'Leader', 2);
    nt.propose(2);
    transfer(nt, 2, 1);
    expectLeader(nt.raft(1), 'Leader', 1);
  });

  it('works when the request is stepped on a follower (forwarded to the leader)', () => {
    const nt = new Network([undefined, undefined, undefined]);
    nt.campaign(1);
    transfer(nt, 2, 2);
    expectLeader(nt.raft(1), 'Follower', 2);
    expectLeader(nt.raft(2), 'Leader', 2);
  });

  it('catches a slow transferee up before handing over', () => {
    const nt = new Network([undefined, undefined, undefined]);
    nt.campaign(1);
    nt.isolate(3);
    nt.propose(1);
    nt.propose(1);
    nt.recover();
    expect(nt.raft(1).tracker.get(3)?.match).toBe(1);
    transfer(nt, 1, 3);
    expectLeader(nt.raft(1), 'Follower', 3);
  });

  it('completes after the transferee needed a snapshot', () => {
    const nt = new Network([undefined, undefined, undefined]);
    nt.campaign(1);
    nt.isolate(3);
    nt.propose(1);
    const lead = nt.raft(1);
    const ls = nt.storages.get(1)!;
    nextEnts(lead, ls);
    ls.createSnapshot(lead.log.applied, { nodes: [1, 2, 3] }, Buffer.alloc(0));
    ls.compact(lead.log.applied);
    nt.recover();
    expect(lead.tracker.get(3)?.match).toBe(1);
    nt.ignore(MessageType.MsgAppendResponse);
    transfer(nt, 1, 3); // sends a snapshot, whose ack is ignored
    expect(lead.leadTransferee).toBe(3);
    nt.recover();
    nt.send(msg({ from: 3, to: 1, term: lead.term, msgType: MessageType.MsgHeartbeatResponse }));
    expectLeader(lead, 'Follower', 3);
  });

  it('ignores a transfer to self or to a node outside the configuration', () => {
    const nt = new Network([undefined, undefined, undefined]);
    nt.campaign(1);
    transfer(nt, 1, 1);
    expectLeader(nt.raft(1), 'Leader', 1);
    transfer(nt, 1, 4);
    expectLeader(nt.raft(1), 'Leader', 1);
    expect(nt.raft(1).leadTransferee).toBe(NONE);
  });

  it('aborts after an election timeout, and proposals are dropped meanwhile', () => {
    const nt = new Network([undefined, undefined, undefined]);
    nt.campaign(1);
    nt.isolate(3);
    const lead = nt.raft(1);
    transfer(nt, 1, 3);
    expect(lead.leadTransferee).toBe(3);
    expect(() => lead.step(msg({ from: 1, to: 1, msgType: MessageType.MsgPropose, entries: [entry(0, 0, 'x')] }))).toThrow(ErrProposalDropped);
    for (let i = 0; i < lead.electionTimeout; i++) lead.tick();
    expect(lead.leadTransferee).toBe(NONE);
    expect(lead.state).toBe('Leader');
    lead.step(msg({ from: 1, to: 1, msgType: MessageType.MsgPropose, entries: [entry(0, 0, 'x')] }));
  });

  it('gives up when another node wins a higher-term election', () => {
    const nt = new Network([undefined, undefined, undefined]);
    nt.campaign(1);
    nt.isolate(3);
    transfer(nt, 1, 3);
    expect(nt.raft(1).leadTransferee).toBe(3);
    nt.campaign(2);
    expectLeader(nt.raft(1), 'Follower', 2);
    expect(nt.raft(1).leadTransferee).toBe(NONE);
  });

  it('is cancelled when the transferee is removed', () => {
    const nt = new Network([undefined, undefined, undefined]);
    nt.campaign(1);
    nt.ignore(MessageType.MsgTimeoutNow);
    transfer(nt, 1, 3);
    expect(nt.raft(1).leadTransferee).toBe(3);
    nt.raft(1).removeNode(3);
    expect(nt.raft(1).leadTransferee).toBe(NONE);
    expectLeader(nt.raft(1), 'Leader', 1);
  });

  it('a transfer back to self cancels a pending transfer', () => {
    const nt = new Network([undefined, undefined, undefined]);
    nt.campaign(1);
    nt.isolate(3);
    transfer(nt, 1, 3);
    transfer(nt, 1, 1);
    expect(nt.raft(1).leadTransferee).toBe(NONE);
    expectLeader(nt.raft(1), 'Leader', 1);
  });

  it('a second transfer to another node replaces the first', () => {
    const nt = new Network([undefined, undefined, undefined]);
    nt.campaign(1);
    nt.isolate(3);
    transfer(nt, 1, 3);
    transfer(nt, 1, 2);
    expectLeader(nt.raft(1), 'Follower', 2);
  });

  it('a node outside its own configuration ignores MsgTimeoutNow', () => {
    const r = newTestRaft(1, [2, 3, 4], 10, 1, new MemoryStorage());
    r.step(msg({ from: 2, to: 1, term: 1, msgType: MessageType.MsgTimeoutNow }));
    expect(r.state).toBe('Follower');
    expect(r.readMessages().filter((m) => m.msgType === MessageType.MsgRequestVote)).toHaveLength(0);
  });

  it('the transferee campaigns with the transfer kind, bypassing leader leases', () => {
    const nt = new Network([undefined, undefined, undefined], { checkQuorum: true, preVote: true });
    nt.campaign(1);
    nt.tracing = true;
    transfer(nt, 1, 2);
    expect(nt.trace).toContain('2->3 RequestVote t2 last=1/1 transfer');
    expectLeader(nt.raft(2), 'Leader', 2);
  });
});
