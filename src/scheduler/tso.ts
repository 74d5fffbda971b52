/**
 * The timestamp oracle: ts = physical ms << 18 | logical, strictly increasing, also across restarts.
 *
 * Like PD, it persists an upper bound ("saved until") a window ahead of the physical time it hands
 * out, and on start resumes above the saved bound, so a restart never reissues a timestamp even if
 * the wall clock went backwards. When 2^18 logical values are used up within one millisecond the
 * physical part moves ahead of the wall clock by one.
 */
import { assert } from '../util/assert.js';
import { ErrorCode, TinyKvError } from '../util/errors.js';
import type { Clock } from '../env/clock.js';
import { TsoResponse, type ResponseHeader } from '../proto/schedulerpb.js';

export const LOGICAL_BITS = 18n;
export const MAX_LOGICAL = 1 << 18;
/** Largest batch one Tso request may ask for. */
export const TSO_MAX_COUNT = 10_000;

export interface TsoPersistence {
  /** The last saved upper bound in ms, or 0 when none was ever saved. */
  load(): number;
  /** Durably records the new upper bound. */
  save(savedUntilMs: number): Promise<void>;
}

export interface Timestamp {
  readonly physicalMs: number;
  /** The last logical value of the allocated batch. */
  readonly logical: number;
}

/** The wire form of an allocation: the last timestamp of a batch of `count`. */
export function tsoResponse(header: ResponseHeader, count: number, ts: Timestamp): TsoResponse {
  return TsoResponse.fromPartial({ header, count, timestamp: { physical: BigInt(ts.physicalMs), logical: BigInt(ts.logical) } });
}

export function composeTs(ts: Timestamp): bigint {
  return (BigInt(ts.physicalMs) << LOGICAL_BITS) | BigInt(ts.logical);
}

export class TimestampOracle {
  private physicalMs = 0;
  private logical = 0;
  private savedUntilMs = 0;
  private queue: Promise<unknown> = Promise.resolve();

  private constructor(
    private readonly clock: Clock,
    private readonly persistence: TsoPersistence,
    private readonly saveWindowMs: number,
  ) {}

  static async start(clock: Clock, persistence: TsoPersistence, saveWindowMs = 3_000): Promise<TimestampOracle> {
    const oracle = new TimestampOracle(clock, persistence, saveWindowMs);
    const saved = persistence.load();
    oracle.physicalMs = Math.max(clock.nowMs(), saved + 1);
    await oracle.extendWindow();
    return oracle;
  }

  /** Allocates `count` consecutive timestamps; resolves to the last one. Calls are served in order. */
  allocate(count: number): Promise<Timestamp> {
    if (!Number.isInteger(count) || count < 1 || count > TSO_MAX_COUNT) {
      return Promise.reject(new TinyKvError(ErrorCode.InvalidArgument, `tso count must be 1..${TSO_MAX_COUNT} (got ${count})`));
    }
    const next = this.queue.then(() => this.allocateNow(count));
    this.queue = next.catch(() => {});
    return next;
  }

  private async allocateNow(count: number): Promise<Timestamp> {
    const now = this.clock.nowMs();
    if (now > this.physicalMs) {
      this.physicalMs = now;
      this.logical = 0;
    }
    if (this.logical + count >= MAX_LOGICAL) {
      this.physicalMs += 1;
      this.logical = 0;
    }
    if (this.physicalMs >= this.savedUntilMs) await this.extendWindow();
    this.logical += count;
    assert(this.logical < MAX_LOGICAL, 'tso logical overflow');
    assert(this.physicalMs < this.savedUntilMs, 'tso handed out a timestamp beyond its saved bound');
    return { physicalMs: this.physicalMs, logical: this.logical };
  }

  private async extendWindow(): Promise<void> {
    const until = this.physicalMs + this.saveWindowMs;
    await this.persistence.save(until);
    this.savedUntilMs = until;
  }
}
