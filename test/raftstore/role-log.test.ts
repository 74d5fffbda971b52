// A peer's changes to and from leader, as an operator reads them: elected, lost (with the new
// leader), nothing for follower-side changes, and a per-thread rate limit.
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { RoleLog } from '../../src/raftstore/peer/role-log.js';

function recording() {
  const lines: Array<Record<string, unknown>> = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => lines.push(JSON.parse(line) as Record<string, unknown>) });
  let nowMs = 0;
  return { lines, log: new RoleLog(logger, () => nowMs), advance: (ms: number) => (nowMs += ms) };
}

describe('RoleLog', () => {
  it('logs a peer becoming leader and a leader stepping down, with region, peer and term', () => {
    const { lines, log } = recording();
    log.note({ regionId: 2, peerId: 3, term: 5, before: 'Candidate', after: { raftState: 'Leader', lead: 3 } });
    log.note({ regionId: 2, peerId: 3, term: 6, before: 'Leader', after: { raftState: 'Follower', lead: 4 } });
    expect(lines.map(({ msg, regionId, peerId, term, role, leaderId }) => ({ msg, regionId, peerId, term, role, leaderId }))).toEqual([
      { msg: 'leader elected', regionId: 2, peerId: 3, term: 5, role: undefined, leaderId: undefined },
      { msg: 'leadership lost', regionId: 2, peerId: 3, term: 6, role: 'Follower', leaderId: 4 },
    ]);
  });

  it('says nothing of changes that neither gain nor lose leadership', () => {
    const { lines, log } = recording();
    log.note({ regionId: 2, peerId: 3, term: 5, before: 'Follower', after: { raftState: 'PreCandidate', lead: 0 } });
    log.note({ regionId: 2, peerId: 3, term: 5, before: 'Follower', after: { raftState: 'Follower', lead: 4 } });
    expect(lines).toEqual([]);
  });

  it('writes at most 50 lines a second and counts the rest on the next one', () => {
    const { lines, log, advance } = recording();
    for (let regionId = 1; regionId <= 80; regionId++)
      log.note({ regionId, peerId: 1, term: 2, before: 'Candidate', after: { raftState: 'Leader', lead: 1 } });
    expect(lines).toHaveLength(50);
    advance(1_000);
    log.note({ regionId: 81, peerId: 1, term: 2, before: 'Candidate', after: { raftState: 'Leader', lead: 1 } });
    expect(lines.at(-1)).toMatchObject({ regionId: 81, suppressed: 30 });
  });
});
