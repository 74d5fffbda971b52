/**
 * Logs damaged MVCC records at error level, at most `maxPerWindow` lines per window: a scan over a
 * damaged range meets the same records on every call, and the log must stay readable (the first
 * lines name the keys; later ones are counted, and the count rides on the next line logged).
 */
import type { Logger } from 'pino';
import { quoteForError } from '../util/errors.js';
import { RateLimitedLog } from '../util/rate-limited-log.js';

export interface CorruptionReport {
  readonly code: string;
  readonly message: string;
  readonly details?: Record<string, unknown>;
}

export class CorruptionLog {
  private readonly limit: RateLimitedLog;

  constructor(
    private readonly logger: Logger,
    now: () => number = Date.now,
    maxPerWindow = 10,
    windowMs = 10_000,
  ) {
    this.limit = new RateLimitedLog(windowMs, now, maxPerWindow);
  }

  report(err: CorruptionReport, method: string, key?: Buffer): void {
    this.limit.run((suppressed) => {
      const keyText = key !== undefined ? quoteForError(key, 256) : err.details?.['key'];
      this.logger.error(
        { method, code: err.code, key: keyText, reason: err.message, suppressedSinceLast: suppressed },
        'damaged MVCC record: reads of this key fail with DATA_LOSS',
      );
    });
  }
}
