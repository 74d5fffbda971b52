/**
 * Logs damaged MVCC records at error level, at most `maxPerWindow` lines per window: a scan over a
 * damaged range meets the same records on every call, and the log must stay readable (the first
 * lines name the keys; later ones are counted and reported when the window turns).
 */
import type { Logger } from 'pino';
import { quoteForError } from '../util/errors.js';

export interface CorruptionReport {
  readonly code: string;
  readonly message: string;
  readonly details?: Record<string, unknown>;
}

export class CorruptionLog {
  private windowStartMs = Number.NEGATIVE_INFINITY;
  private loggedInWindow = 0;
  private suppressed = 0;

  constructor(
    private readonly logger: Logger,
    private readonly now: () => number = Date.now,
    private readonly maxPerWindow = 10,
    private readonly windowMs = 10_000,
  ) {}

  report(err: CorruptionReport, method: string, key?: Buffer): void {
    const nowMs = this.now();
    if (nowMs - this.windowStartMs >= this.windowMs) {
      if (this.suppressed > 0) this.logger.error({ suppressed: this.suppressed }, 'more damaged MVCC records were met (not logged one by one)');
      this.windowStartMs = nowMs;
      this.loggedInWindow = 0;
      this.suppressed = 0;
    }
    if (this.loggedInWindow >= this.maxPerWindow) {
      this.suppressed++;
      return;
    }
    this.loggedInWindow++;
    const keyText = key !== undefined ? quoteForError(key, 256) : err.details?.['key'];
    this.logger.error({ method, code: err.code, key: keyText, reason: err.message }, 'damaged MVCC record: reads of this key fail with DATA_LOSS');
  }
}
