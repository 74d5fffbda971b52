/**
 * Lets a log line through at most once per interval and counts the ones held back, so a flood of
 * bad input (forged messages, garbage bytes) is visible in the log without filling it.
 */
export class RateLimitedLog {
  private lastMs = Number.NEGATIVE_INFINITY;
  private suppressed = 0;

  constructor(
    private readonly intervalMs: number,
    private readonly nowMs: () => number = Date.now,
  ) {}

  /** Calls `write` with the number of calls held back since the last write, or holds this one back. */
  run(write: (suppressed: number) => void): void {
    const now = this.nowMs();
    if (now - this.lastMs < this.intervalMs) {
      this.suppressed++;
      return;
    }
    this.lastMs = now;
    const suppressed = this.suppressed;
    this.suppressed = 0;
    write(suppressed);
  }
}
