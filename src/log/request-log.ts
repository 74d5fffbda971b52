/**
 * The server's per-request log, kept off the hot path: a request costs a clock read and a compare,
 * and only the exceptions are written. A request slower than the slow-log threshold is logged at
 * warn (method, region, duration); one answered DATA_LOSS or INTERNAL at error, since either
 * means damaged data or a bug. Both are rate-limited: under overload every request is slow, and a
 * damaged range fails every scan of it.
 */
import { status as GrpcStatus } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { RateLimitedLog } from '../util/rate-limited-log.js';

/** TiKV's default slow-log threshold. */
export const DEFAULT_SLOW_LOG_THRESHOLD_MS = 1_000;

/** Lines of each kind written per second at most; the rest are counted on the next line. */
const MAX_LINES_PER_SECOND = 10;

export class RequestLog {
  private readonly slow: RateLimitedLog;
  private readonly failed: RateLimitedLog;

  constructor(
    private readonly logger: Logger,
    private readonly slowThresholdMs = DEFAULT_SLOW_LOG_THRESHOLD_MS,
    nowMs: () => number = Date.now,
  ) {
    this.slow = new RateLimitedLog(1_000, nowMs, MAX_LINES_PER_SECOND);
    this.failed = new RateLimitedLog(1_000, nowMs, MAX_LINES_PER_SECOND);
  }

  /** After a request was answered: `status` is the gRPC status it got (OK when it succeeded). */
  finished(method: string, request: unknown, durationMs: number, status: GrpcStatus, err?: unknown): void {
    const serious = status === GrpcStatus.DATA_LOSS || status === GrpcStatus.INTERNAL;
    if (!serious && durationMs < this.slowThresholdMs) return;
    const regionId = regionOf(request);
    const fields = { method, ...(regionId === undefined ? {} : { regionId }), durationMs: Math.round(durationMs) };
    if (serious) {
      const code = GrpcStatus[status];
      this.failed.run((suppressed) => this.logger.error({ ...fields, status: code, err, suppressed }, `request answered ${code}`));
    } else {
      this.slow.run((suppressed) => this.logger.warn({ ...fields, thresholdMs: this.slowThresholdMs, suppressed }, 'slow request'));
    }
  }
}

/** The region a request names in its kvrpcpb context, if any (the scheduler's requests name none). */
function regionOf(request: unknown): number | undefined {
  if (typeof request !== 'object' || request === null || !('context' in request)) return undefined;
  const context = (request as { context?: { regionId?: unknown } }).context;
  return typeof context?.regionId === 'number' && context.regionId !== 0 ? context.regionId : undefined;
}
