/**
 * The space guard (TiKV's reserve-space, etcd's backend quota): writes are refused with
 * KV:Storage:NoSpace while the data directory's filesystem has less free space than the reserve,
 * so the node refuses cleanly before the disk is actually full instead of failing mid-commit.
 * Reads and deletes are never refused: deletes are how an operator frees space.
 *
 * Free space comes from statfs, cached: refreshed in the background every REFRESH_INTERVAL_MS,
 * and between refreshes lowered by an estimate of what the accepted writes take, so a burst
 * cannot run past the reserve unnoticed. A refused write or a failed commit asks for a refresh,
 * so writes resume soon after space is freed.
 */
import { statfs, statfsSync } from 'node:fs';
import { ErrorCode, TinyKvError } from '../util/errors.js';

export const DEFAULT_RESERVE_SPACE_BYTES = 1024 ** 3;
/** The default reserve takes at most this share of a small filesystem. */
export const DEFAULT_RESERVE_MAX_FRACTION = 0.05;
export const REFRESH_INTERVAL_MS = 1_000;
/** LMDB writes copy-on-write pages and keeps old ones for readers: a batch takes more than its bytes. */
const WRITE_AMPLIFICATION = 2;

export interface SpaceGuardOptions {
  /** Any path on the filesystem to watch (the data directory). */
  readonly path: string;
  /** Configured reserve; undefined: the default (1GiB, at most 5% of the filesystem); 0: off. */
  readonly reserveSpaceBytes: number | undefined;
  readonly refreshIntervalMs?: number;
}

export class SpaceGuard {
  readonly reserveBytes: number;
  private freeBytes: number;
  private refreshing = false;
  private readonly timer: NodeJS.Timeout | undefined;

  constructor(private readonly options: SpaceGuardOptions) {
    const stats = statfsSync(options.path);
    const capacityBytes = stats.blocks * stats.bsize;
    this.freeBytes = stats.bavail * stats.bsize;
    this.reserveBytes = options.reserveSpaceBytes ?? Math.min(DEFAULT_RESERVE_SPACE_BYTES, Math.floor(capacityBytes * DEFAULT_RESERVE_MAX_FRACTION));
    if (this.reserveBytes > 0) {
      this.timer = setInterval(() => this.refresh(), options.refreshIntervalMs ?? REFRESH_INTERVAL_MS);
      // The guard never keeps a process alive by itself.
      this.timer.unref();
    }
  }

  get enabled(): boolean {
    return this.reserveBytes > 0;
  }

  /** Throws KV:Storage:NoSpace when a write of about `sizeBytes` would eat into the reserve. */
  checkWrite(sizeBytes: number): void {
    if (!this.enabled) return;
    const needBytes = sizeBytes * WRITE_AMPLIFICATION;
    if (this.freeBytes - needBytes < this.reserveBytes) {
      this.refresh();
      throw new TinyKvError(
        ErrorCode.NoSpace,
        `write refused: ${this.freeBytes} bytes free on the data directory's filesystem, ${this.reserveBytes} reserved (storage.reserve-space); free space or delete data`,
        { freeBytes: this.freeBytes, reserveBytes: this.reserveBytes, sizeBytes },
      );
    }
    this.freeBytes -= needBytes;
  }

  /** A commit failed for lack of space: look again now rather than at the next interval. */
  noteNoSpace(): void {
    this.freeBytes = 0;
    this.refresh();
  }

  /** Starts one statfs unless one is running; its result replaces the estimate. */
  refresh(): void {
    if (this.refreshing) return;
    this.refreshing = true;
    statfs(this.options.path, (err, stats) => {
      this.refreshing = false;
      // A failed statfs keeps the estimate: the next interval tries again.
      if (!err) this.freeBytes = stats.bavail * stats.bsize;
    });
  }

  stop(): void {
    clearInterval(this.timer);
  }
}
