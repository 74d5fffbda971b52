/**
 * Bounds on receiving snapshots over TinyKv/Snapshot. A snapshot is buffered whole before it goes
 * to its region, so without bounds a few senders that stall halfway pin memory for good. As
 * TiKV does (`concurrent-recv-snap-limit`, `snap-max-total-size`), the number of streams received
 * at once and the bytes they buffer together are capped, one snapshot's size is capped, and a
 * stream that stops sending (or takes too long overall) is cancelled and its bytes released.
 * The defaults are `[server] snap-*` in src/config/config.ts.
 */
export interface SnapshotRecvLimits {
  /** Largest snapshot accepted. */
  readonly maxSizeBytes: number;
  /** Bytes all snapshot streams may buffer together. */
  readonly maxTotalSizeBytes: number;
  /** Snapshot streams received at once; more are refused. */
  readonly maxConcurrent: number;
  /** A stream that sends nothing for this long is cancelled. */
  readonly idleTimeoutMs: number;
  /** A stream not finished this long after it opened is cancelled. */
  readonly timeoutMs: number;
}

/** The streams and bytes in flight across every snapshot stream of a server. */
export class SnapshotRecvBudget {
  private streams = 0;
  private bytes = 0;

  constructor(readonly limits: SnapshotRecvLimits) {}

  get activeStreams(): number {
    return this.streams;
  }

  get bufferedBytes(): number {
    return this.bytes;
  }

  /** Takes a stream slot, or returns false when all are taken. */
  openStream(): boolean {
    if (this.streams >= this.limits.maxConcurrent) return false;
    this.streams++;
    return true;
  }

  closeStream(bufferedBytes: number): void {
    this.streams--;
    this.bytes -= bufferedBytes;
  }

  /** Reserves room for `sizeBytes` more, or returns false when the total would pass the cap. */
  reserve(sizeBytes: number): boolean {
    if (this.bytes + sizeBytes > this.limits.maxTotalSizeBytes) return false;
    this.bytes += sizeBytes;
    return true;
  }
}
