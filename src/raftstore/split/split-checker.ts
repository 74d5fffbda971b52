/**
 * The split checker the raftstore calls: each check scans a region on the split-check thread (a
 * piscina pool running workers/split-check.ts) from the kv LMDB environment, so neither the raft
 * pollers nor the main thread read a whole region. Checks are bounded: one per region at a time
 * (a second ask gets the running one's answer), at most `maxInFlight` regions, each answered
 * within `timeoutMs`.
 */
import { Piscina } from 'piscina';
import type { Engine } from '../../engine/engine.js';
import type { LmdbEngineOptions } from '../../engine/lmdb-engine.js';
import { ErrorCode, TinyKvError } from '../../util/errors.js';
import { workerFileUrl } from '../../util/worker-path.js';
import { LMDB_WORKER_POOL_OPTIONS } from '../../engine/worker-pool-options.js';
import { checkSplit, type BoundaryOf, type RegionRange, type SplitCheckResult, type SplitThresholds } from './split-check.js';

/** One region to check, in the kv environment opened with the store's options. */
export interface SplitCheckTask extends SplitThresholds {
  readonly kv: LmdbEngineOptions;
  readonly regionId: number;
  readonly startKey: Uint8Array;
  readonly endKey: Uint8Array;
}

/** What a task returns across the thread boundary (structured clone turns Buffers into Uint8Arrays). */
export interface SplitCheckAnswer {
  readonly splitKey?: Uint8Array;
  readonly sizeBytes: number;
  readonly keys: number;
  readonly complete: boolean;
}

/** Runs one task; in production the split-check pool, in tests anything. */
export type SplitCheckTaskRunner = (task: SplitCheckTask) => Promise<SplitCheckAnswer>;

/** The task itself (what the worker runs, given the data layout's boundaries): one consistent kv snapshot. */
export function runSplitCheckTask(kv: Engine, task: SplitCheckTask, boundaryOf: BoundaryOf): SplitCheckAnswer {
  const view = kv.snapshot();
  try {
    return checkSplit(view, task, task, boundaryOf);
  } finally {
    view.close();
  }
}

export interface SplitCheckerOptions {
  readonly kv: LmdbEngineOptions;
  readonly thresholds: SplitThresholds;
  readonly run: SplitCheckTaskRunner;
  /** Regions checked at once; a check beyond is refused (KV:Raftstore:SplitCheckBusy). */
  readonly maxInFlight: number;
  /** A check not answered in this time fails (KV:Raftstore:SplitCheckTimeout); its slot stays taken until it ends. */
  readonly timeoutMs: number;
}

export const DEFAULT_SPLIT_CHECK_MAX_IN_FLIGHT = 64;
export const DEFAULT_SPLIT_CHECK_TIMEOUT_MS = 60_000;

export class SplitChecker {
  private readonly inFlight = new Map<number, Promise<SplitCheckResult>>();

  constructor(private readonly options: SplitCheckerOptions) {}

  /**
   * The region's size, and where to split it if it is past max-size. The answer is for the range
   * given (or, when a check of the region was already running, the range that one was given); the
   * caller proposes a split only if the region's epoch has not moved since. `thresholds` replace
   * the store's for this check (a split the scheduler asks for cuts at the middle: max-size 0,
   * split-size half the region).
   */
  check(regionId: number, region: RegionRange, thresholds: SplitThresholds = this.options.thresholds): Promise<SplitCheckResult> {
    const running = this.inFlight.get(regionId);
    if (running) return withTimeout(running, this.options.timeoutMs, regionId);
    if (this.inFlight.size >= this.options.maxInFlight) {
      return Promise.reject(
        new TinyKvError(
          ErrorCode.SplitCheckBusy,
          `split check of region ${regionId} refused: ${this.inFlight.size} checks running`,
          { regionId },
          { retryable: true },
        ),
      );
    }
    const { kv } = this.options;
    const task = this.options
      .run({
        kv,
        regionId,
        startKey: region.startKey,
        endKey: region.endKey,
        maxSizeBytes: thresholds.maxSizeBytes,
        splitSizeBytes: thresholds.splitSizeBytes,
      })
      .then(toResult)
      .finally(() => this.inFlight.delete(regionId));
    this.inFlight.set(regionId, task);
    return withTimeout(task, this.options.timeoutMs, regionId);
  }

  /** Regions being checked now. */
  get running(): number {
    return this.inFlight.size;
  }
}

function toResult(answer: SplitCheckAnswer): SplitCheckResult {
  const { splitKey, sizeBytes, keys, complete } = answer;
  return splitKey === undefined ? { sizeBytes, keys, complete } : { splitKey: Buffer.from(splitKey), sizeBytes, keys, complete };
}

function withTimeout(task: Promise<SplitCheckResult>, timeoutMs: number, regionId: number): Promise<SplitCheckResult> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      reject(
        new TinyKvError(
          ErrorCode.SplitCheckTimeout,
          `split check of region ${regionId} took over ${timeoutMs} ms`,
          { regionId },
          { retryable: true },
        ),
      );
    }, timeoutMs);
    timer.unref();
  });
  return Promise.race([task, timeout]).finally(() => clearTimeout(timer));
}

/**
 * A split checker on a thread of its own (workers/split-check.ts); close the pool when the store
 * stops. `threads` is how many threads the pool runs now.
 */
export function pooledSplitChecker(
  kv: LmdbEngineOptions,
  thresholds: SplitThresholds,
  limits: { maxInFlight?: number; timeoutMs?: number } = {},
): { checker: SplitChecker; close: () => Promise<void>; threads: () => number } {
  const maxInFlight = limits.maxInFlight ?? DEFAULT_SPLIT_CHECK_MAX_IN_FLIGHT;
  // The checker bounds what is queued; the pool's queue only needs to hold that much.
  // The thread starts with the first check and stays until close (engine/worker-pool-options.ts).
  const pool = new Piscina({
    filename: workerFileUrl('split-check'),
    minThreads: 0,
    maxThreads: 1,
    ...LMDB_WORKER_POOL_OPTIONS,
    maxQueue: maxInFlight,
    closeTimeout: 5_000,
  });
  const checker = new SplitChecker({
    kv,
    thresholds,
    maxInFlight,
    timeoutMs: limits.timeoutMs ?? DEFAULT_SPLIT_CHECK_TIMEOUT_MS,
    run: (task) => pool.run(task) as Promise<SplitCheckAnswer>,
  });
  // close() lets a scan in flight finish rather than terminating its thread inside LMDB.
  return { checker, close: () => pool.close(), threads: () => pool.threads.length };
}
