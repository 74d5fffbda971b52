/** The transaction layer's metrics hooks: latch waits timed, command responses classified. */
import { performance } from 'node:perf_hooks';
import type { Histogram } from 'prom-client';
import type { TxnResult } from '../metrics/store-metrics.js';
import { Latches, type LatchGuard, type LatchesOptions } from '../txn/index.js';

/** Latches that time each acquire into `waitSeconds` (0-ish when no earlier command held a key). */
export class TimedLatches extends Latches {
  constructor(
    private readonly waitSeconds: Histogram,
    options?: LatchesOptions,
  ) {
    super(options);
  }

  override async acquire(keys: readonly Buffer[]): Promise<LatchGuard> {
    const startedMs = performance.now();
    const guard = await super.acquire(keys);
    this.waitSeconds.observe((performance.now() - startedMs) / 1000);
    return guard;
  }
}

/** How a transaction command's response came out, from its error fields. */
export function txnResultOf(response: {
  readonly regionError?: unknown;
  readonly error?: unknown;
  readonly errors?: readonly unknown[];
  readonly pairs?: ReadonlyArray<{ readonly error?: unknown }>;
}): TxnResult {
  if (response.regionError !== undefined) return 'region_error';
  if (response.error !== undefined || (response.errors?.length ?? 0) > 0) return 'key_error';
  if (response.pairs?.some((pair) => pair.error !== undefined)) return 'key_error';
  return 'ok';
}
