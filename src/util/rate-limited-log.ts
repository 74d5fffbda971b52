/**
 * Lets at most `maxPerInterval` log lines through per interval and counts the ones held back, so a
 * flood of bad input (forged messages, garbage bytes, damaged records met by every scan) is visible
 * in the log without filling it. The count of held-back lines rides on the next line let through.
 */
export class RateLimitedLog {
  private intervalStartMs = Number.NEGATIVE_INFINITY;
  private writtenInInterval = 0;
  private suppressed = 0;

  constructor(
    private readonly intervalMs: number,
    private readonly nowMs: () => number = Date.now,
    private readonly maxPerInterval = 1,
  ) {}

  /** Calls `write` with the number of calls held back since the last write, or holds this one back. */
  run(write: (suppressed: number) => void): void {
    const now = this.nowMs();
    if (now - this.intervalStartMs >= this.intervalMs) {
      this.intervalStartMs = now;
      this.writtenInInterval = 0;
    }
    if (this.writtenInInterval >= this.maxPerInterval) {
      this.suppressed++;
      return;
    }
    this.writtenInInterval++;
    const suppressed = this.suppressed;
    this.suppressed = 0;
    write(suppressed);
  }
}
