/**
 * A peer's role changes at info: an operator follows leadership through the log ("leader elected",
 * "leadership lost") with the region and term. Only changes to or from leader are logged; a
 * follower learning of a new leader is the other side of a line already written by that leader.
 */
import type { Logger } from 'pino';
import type { SoftState, StateType } from '../../raft/index.js';
import { RateLimitedLog } from '../../util/rate-limited-log.js';

/** Role-change lines a thread writes per second at most: a store restarting with thousands of regions elects them all at once. */
const MAX_ROLE_LINES_PER_SECOND = 50;

export interface RoleChange {
  readonly regionId: number;
  readonly peerId: number;
  readonly term: number;
  readonly before: StateType;
  readonly after: SoftState;
}

export class RoleLog {
  private readonly limiter: RateLimitedLog;

  constructor(
    private readonly logger: Logger,
    nowMs: () => number = Date.now,
  ) {
    this.limiter = new RateLimitedLog(1_000, nowMs, MAX_ROLE_LINES_PER_SECOND);
  }

  note(change: RoleChange): void {
    const { regionId, peerId, term, before, after } = change;
    const elected = after.raftState === 'Leader' && before !== 'Leader';
    const lost = before === 'Leader' && after.raftState !== 'Leader';
    if (!elected && !lost) return;
    this.limiter.run((suppressed) => {
      const fields = { regionId, peerId, term, ...(suppressed > 0 ? { suppressed } : {}) };
      if (elected) this.logger.info(fields, 'leader elected');
      else this.logger.info({ ...fields, role: after.raftState, leaderId: after.lead }, 'leadership lost');
    });
  }
}
