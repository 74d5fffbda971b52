import { describe, expect, it } from 'vitest';
import { MessageType } from '../../src/proto/eraftpb.js';
import { MemoryStorage } from '../../src/raft/storage.js';
import { entsWithTerms, logEntries, msg, Network, newTestRaft } from './helpers.js';

describe('fast log backtracking with reject hints', () => {
  it('a rejection carries index=rejected prev, commit=hint index, logTerm=hint term', () => {
    const s = new MemoryStorage();
    s.append(entsWithTerms([1, 1, 2, 2, 2]));
    const r = newTestRaft(2, [1, 2], 10, 1, s);
    r.becomeFollower(5, 1);
    // Leader probes at (7, 4): we have 5 entries; the largest index <= 5 with term <= 4 is 5 (term 2).
    r.step(msg({ from: 1, to: 2, term: 5, msgType: MessageType.MsgAppend, index: 7, logTerm: 4 }));
    const [m] = r.readMessages();
    expect(m).toMatchObject({ msgType: MessageType.MsgAppendResponse, reject: true, index: 7, commit: 5, logTerm: 2 });
    // Probe at (4, 1): term at 4 is 2 > 1, so the hint walks back to index 2 (term 1).
    r.step(msg({ from: 1, to: 2, term: 5, msgType: MessageType.MsgAppend, index: 4, logTerm: 1 }));
    expect(r.readMessages()[0]).toMatchObject({ reject: true, index: 4, commit: 2, logTerm: 1 });
  });

  it('catches up a follower with a long divergent tail in a few round trips', () => {
    // Follower: 1 entry of term 1, then 200 entries of term 2 (never committed).
    const fs = new MemoryStorage();
    fs.append(entsWithTerms([1, ...Array<number>(200).fill(2)]));
    fs.setHardState({ term: 2, vote: 0, commit: 1 });
    // Leader: term 1, then 100 entries of term 3.
    const ls = new MemoryStorage();
    ls.append(entsWithTerms([1, ...Array<number>(100).fill(3)]));
    ls.setHardState({ term: 3, vote: 0, commit: 1 });
    const leader = newTestRaft(1, [1, 2, 3], 10, 1, ls);
    const follower = newTestRaft(2, [1, 2, 3], 10, 1, fs);
    const voter = newTestRaft(3, [1, 2, 3], 10, 1, new MemoryStorage());
    voter.term = 3;
    const nt = new Network([leader, follower, voter]);
    nt.tracing = true;
    nt.cut(1, 2);
    nt.campaign(1);
    nt.recover();
    nt.trace.length = 0;
    nt.send(msg({ from: 1, to: 1, msgType: MessageType.MsgBeat }));
    const rejections = nt.trace.filter((l) => l.startsWith('2->1 AppendResponse') && l.includes('reject'));
    expect(rejections.length).toBeLessThanOrEqual(2);
    expect(logEntries(follower)).toEqual(logEntries(leader));
  });

  it('ignores a stale rejection (not for the outstanding probe)', () => {
    const { r } = (() => {
      const r = newTestRaft(1, [1, 2], 10, 1);
      r.becomeCandidate();
      r.becomeLeader();
      return { r };
    })();
    for (let i = 0; i < 3; i++) r.step(msg({ from: 1, to: 1, msgType: MessageType.MsgPropose, entries: entsWithTerms([0]) }));
    r.readMessages();
    const pr = r.tracker.get(2)!;
    const next = pr.next;
    // Rejection of an index the leader is not probing: ignored.
    r.step(msg({ from: 2, to: 1, term: 1, msgType: MessageType.MsgAppendResponse, index: next + 5, reject: true, commit: 0 }));
    expect(pr.next).toBe(next);
  });
});
