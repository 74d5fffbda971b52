import { describe, expect, it } from 'vitest';
import { Message, MessageType } from '../../src/proto/eraftpb.js';
import { ErrProposalDropped } from '../../src/raft/errors.js';
import { MemoryStorage } from '../../src/raft/storage.js';
import { entry, entsWithTerms, logEntries, msg, Network, newTestRaft, nextEnts } from './helpers.js';

function leaderOf(peers: number[], storage = new MemoryStorage()) {
  const r = newTestRaft(1, peers, 10, 1, storage);
  r.becomeCandidate();
  r.becomeLeader();
  return { r, storage };
}

/** Leader sends the noop, every follower acks it, the leader persists and applies. */
function commitNoop(r: ReturnType<typeof leaderOf>['r'], s: MemoryStorage): void {
  for (const m of r.readMessages()) {
    if (m.msgType !== MessageType.MsgAppend) continue;
    r.step(msg({ from: m.to, to: 1, term: m.term, msgType: MessageType.MsgAppendResponse, index: m.index + m.entries.length }));
  }
  r.readMessages();
  nextEnts(r, s);
}

describe('log replication (TinyKV 2AB conventions)', () => {
  it('appends a proposal and sends MsgAppend {index=prev, logTerm=prevTerm, entries, commit}', () => {
    const { r, storage } = leaderOf([1, 2, 3]);
    commitNoop(r, storage);
    const li = r.log.lastIndex();
    r.step(msg({ from: 1, to: 1, msgType: MessageType.MsgPropose, entries: [entry(0, 0, 'some data')] }));
    expect(r.log.lastIndex()).toBe(li + 1);
    expect(r.log.committed).toBe(li);
    const wantEntry = entry(li + 1, 1, 'some data');
    expect(r.readMessages().sort((a, b) => a.to - b.to)).toEqual(
      [2, 3].map((to) =>
        Message.fromPartial({
          from: 1,
          to,
          term: 1,
          msgType: MessageType.MsgAppend,
          index: li,
          logTerm: 1,
          entries: [wantEntry],
          commit: li,
        }),
      ),
    );
    expect(r.log.unstableEntries()).toEqual([wantEntry]);
  });

  it('commits once a majority (leader included) acknowledged', () => {
    const cases: [number, number[], boolean][] = [
      [1, [], true],
      [3, [], false],
      [3, [2], true],
      [3, [2, 3], true],
      [5, [], false],
      [5, [2], false],
      [5, [2, 3], true],
      [5, [2, 3, 4, 5], true],
    ];
    for (const [size, acks, commits] of cases) {
      const peers = Array.from({ length: size }, (_, k) => k + 1);
      const { r, storage } = leaderOf(peers);
      commitNoop(r, storage);
      const li = r.log.lastIndex();
      r.step(msg({ from: 1, to: 1, msgType: MessageType.MsgPropose, entries: [entry(0, 0, 'x')] }));
      r.readMessages();
      for (const from of acks) {
        r.step(msg({ from, to: 1, term: 1, msgType: MessageType.MsgAppendResponse, index: li + 1 }));
      }
      expect(r.log.committed > li).toBe(commits);
    }
  });

  it('never commits an old-term entry by counting replicas; the current-term entry commits it', () => {
    const s = new MemoryStorage();
    s.append(entsWithTerms([1, 2]));
    s.setHardState({ term: 2, vote: 0, commit: 0 });
    const r = newTestRaft(1, [1, 2, 3], 10, 1, s);
    r.becomeCandidate();
    r.becomeLeader(); // term 3, noop at 3
    r.readMessages();
    r.step(msg({ from: 2, to: 1, term: 3, msgType: MessageType.MsgAppendResponse, index: 2 }));
    expect(r.log.committed).toBe(0);
    r.step(msg({ from: 2, to: 1, term: 3, msgType: MessageType.MsgAppendResponse, index: 3 }));
    expect(r.log.committed).toBe(3);
    expect(nextEnts(r, s).map((e) => `${e.index}/${e.term}`)).toEqual(['1/1', '2/2', '3/3']);
  });

  it('follower handles MsgAppend: reject on mismatch, truncate conflicts, commit = min(leaderCommit, lastNew)', () => {
    const cases: { m: Partial<Message>; last: number; commit: number; reject: boolean }[] = [
      // prev does not match or is missing
      { m: { term: 2, logTerm: 3, index: 2, commit: 3 }, last: 2, commit: 0, reject: true },
      { m: { term: 2, logTerm: 3, index: 3, commit: 3 }, last: 2, commit: 0, reject: true },
      // matching prev
      { m: { term: 2, logTerm: 1, index: 1, commit: 1 }, last: 2, commit: 1, reject: false },
      { m: { term: 2, logTerm: 0, index: 0, commit: 1, entries: [entry(1, 2)] }, last: 1, commit: 1, reject: false },
      { m: { term: 2, logTerm: 2, index: 2, commit: 3, entries: [entry(3, 2), entry(4, 2)] }, last: 4, commit: 3, reject: false },
      { m: { term: 2, logTerm: 2, index: 2, commit: 4, entries: [entry(3, 2)] }, last: 3, commit: 3, reject: false },
      { m: { term: 2, logTerm: 1, index: 1, commit: 4, entries: [entry(2, 2)] }, last: 2, commit: 2, reject: false },
      // commit never goes past the last new entry
      { m: { term: 1, logTerm: 1, index: 1, commit: 3 }, last: 2, commit: 1, reject: false },
      { m: { term: 1, logTerm: 1, index: 1, commit: 3, entries: [entry(2, 2)] }, last: 2, commit: 2, reject: false },
      { m: { term: 2, logTerm: 2, index: 2, commit: 3 }, last: 2, commit: 2, reject: false },
      { m: { term: 2, logTerm: 2, index: 2, commit: 4 }, last: 2, commit: 2, reject: false },
    ];
    for (const c of cases) {
      const s = new MemoryStorage();
      s.append(entsWithTerms([1, 2]));
      const r = newTestRaft(1, [1], 10, 1, s);
      r.becomeFollower(c.m.term ?? 2, 0);
      r.step(msg({ ...c.m, msgType: MessageType.MsgAppend, from: 2, to: 1 }));
      expect(r.log.lastIndex()).toBe(c.last);
      expect(r.log.committed).toBe(c.commit);
      const ms = r.readMessages();
      expect(ms).toHaveLength(1);
      expect(ms[0]?.reject).toBe(c.reject);
    }
  });

  it('does not re-append entries the follower already has; truncates from the first conflict', () => {
    const s = new MemoryStorage();
    s.append(entsWithTerms([1, 2]));
    const r = newTestRaft(1, [1, 2, 3], 10, 1, s);
    r.becomeFollower(2, 2);
    r.step(msg({ from: 2, to: 1, term: 2, msgType: MessageType.MsgAppend, index: 1, logTerm: 1, entries: [entry(2, 2)] }));
    expect(r.log.unstableEntries()).toEqual([]);
    r.becomeFollower(3, 2);
    r.step(msg({ from: 2, to: 1, term: 3, msgType: MessageType.MsgAppend, index: 1, logTerm: 1, entries: [entry(2, 3), entry(3, 3)] }));
    expect(logEntries(r).map((e) => `${e.index}/${e.term}`)).toEqual(['1/1', '2/3', '3/3']);
    expect(r.log.unstableEntries().map((e) => e.index)).toEqual([2, 3]);
  });

  it('heartbeats carry min(match, committed) and never push a follower past what it matches', () => {
    const nt = new Network([undefined, undefined, undefined]);
    nt.campaign(1);
    nt.isolate(1);
    for (let i = 0; i < 5; i++) nt.propose(1);
    // Node 2 wins term 2 and commits; old leader 1 has 5 uncommitted term-1 entries.
    nt.recover();
    nt.isolate(1);
    nt.campaign(2);
    nt.recover();
    nt.ignore(MessageType.MsgAppend);
    nt.send(msg({ from: 2, to: 2, msgType: MessageType.MsgBeat }));
    expect(nt.raft(1).log.committed).toBe(1);
  });

  it('replicates and applies proposals across leader changes', () => {
    const nt = new Network([undefined, undefined, undefined]);
    nt.campaign(1);
    nt.propose(1, 'a');
    nt.campaign(2);
    nt.propose(2, 'b');
    for (const id of [1, 2, 3]) {
      const r = nt.raft(id);
      expect(r.log.committed).toBe(4);
      const data = nextEnts(r, nt.storages.get(id)!)
        .filter((e) => e.data.length > 0)
        .map((e) => e.data.toString());
      expect(data).toEqual(['a', 'b']);
    }
  });

  it('a leader cut off from the majority cannot commit; the next leader commits everything with its noop', () => {
    const nt = new Network([undefined, undefined, undefined, undefined, undefined]);
    nt.campaign(1);
    nt.cut(1, 3);
    nt.cut(1, 4);
    nt.cut(1, 5);
    nt.propose(1);
    nt.propose(1);
    expect(nt.raft(1).log.committed).toBe(1);
    nt.recover();
    nt.ignore(MessageType.MsgTimeoutNow);
    nt.campaign(2);
    expect(nt.raft(2).log.committed).toBe(4);
  });

  it('syncs divergent follower logs to the leader (paper figure 7)', () => {
    const leaderTerms = [1, 1, 1, 4, 4, 5, 5, 6, 6, 6];
    const followers = [
      [1, 1, 1, 4, 4, 5, 5, 6, 6],
      [1, 1, 1, 4],
      [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 6],
      [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 7, 7],
      [1, 1, 1, 4, 4, 4, 4],
      [1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3],
    ];
    for (const terms of followers) {
      const ls = new MemoryStorage();
      ls.append(entsWithTerms(leaderTerms));
      ls.setHardState({ term: 8, vote: 0, commit: leaderTerms.length });
      const lead = newTestRaft(1, [1, 2, 3], 10, 1, ls);
      const fs = new MemoryStorage();
      fs.append(entsWithTerms(terms));
      fs.setHardState({ term: 7, vote: 0, commit: 0 });
      const follower = newTestRaft(2, [1, 2, 3], 10, 1, fs);
      const nt = new Network([lead, follower, null]);
      nt.campaign(1);
      // Node 3 is a black hole: vote with node 2's term bumped by node 1's campaign.
      nt.send(msg({ from: 3, to: 1, term: lead.term, msgType: MessageType.MsgRequestVoteResponse }));
      nt.propose(1);
      expect(logEntries(follower)).toEqual(logEntries(lead));
      expect(follower.log.committed).toBe(lead.log.committed);
    }
  });

  it('drops proposals on followers and candidates with ErrProposalDropped', () => {
    const r = newTestRaft(1, [1, 2, 3]);
    const p = msg({ from: 1, to: 1, msgType: MessageType.MsgPropose, entries: [entry(0, 0, 'x')] });
    expect(() => r.step(p)).toThrow(ErrProposalDropped);
    r.becomeCandidate();
    expect(() => r.step(p)).toThrow(ErrProposalDropped);
  });

  it('commits after restart from hard state, and follower Next after election = last+1', () => {
    const nt = new Network([undefined, undefined, undefined]);
    nt.campaign(1);
    nt.propose(1);
    expect(nt.raft(1).tracker.get(2)?.next).toBe(3);
    expect(nt.raft(1).tracker.get(1)?.match).toBe(2);
  });
});
