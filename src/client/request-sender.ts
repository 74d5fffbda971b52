/**
 * Sends kvrpcs to the region that owns their keys, with a Context {region_id, region_epoch, peer},
 * locating raw calls' regions by the raw key and transactional calls' by the encoded key,
 * and retries with bounded backoff when a response carries a region error (after updating the
 * region cache) or the call fails in a retryable way (unreachable store, busy server). Batches are
 * split by region, and by size; a batch that meets a region error is regrouped and resent, since
 * the region may have split.
 *
 * Every kvrpc the client sends is idempotent (prewrite of our own lock, commit, rollback, resolve,
 * check status, reads, raw put/delete), so re-sending after an ambiguous failure is safe.
 */
import type { Logger } from 'pino';
import type { Context } from '../proto/kvrpcpb.js';
import type { Error as RegionErrorPb } from '../proto/errorpb.js';
import { ClientError, ClientErrorCode } from './errors.js';
import { keySpaceOf } from './key-space.js';
import { contextOf, type RegionCache, type RegionInfo } from './region-cache.js';
import type { KvMethod, KvRequest, KvResponse, KvTransport } from './store-pool.js';
import { backoffMs, sleep } from './util.js';

export interface SenderOptions {
  readonly logger: Logger;
  /** Retries of one request after region errors or retryable failures. Default 64. */
  readonly maxRetries?: number;
  /**
   * Total backoff one request may sleep before it fails (client-go's Backoffer budget: raw calls get
   * 20 s there). Attempts stop at whichever of this and `maxRetries` runs out first. A region whose
   * leader is being elected (after a split, a crash or a transfer) answers NotLeader for an election
   * timeout or more, longer on a loaded machine; a budget in time rides that out where a fixed count
   * of jittered sleeps may not. Default 20 s.
   */
  readonly maxBackoffMs?: number;
  readonly backoffBaseMs?: number;
  readonly backoffCapMs?: number;
}

export interface Sent<M extends KvMethod> {
  readonly region: RegionInfo;
  readonly keys: Buffer[];
  readonly response: KvResponse<M>;
}

export interface BatchLimits {
  readonly maxKeys: number;
  readonly maxBytes: number;
  readonly sizeOf: (key: Buffer) => number;
}

/** Attempts of one request that may follow a region error's hint without sleeping first. */
const IMMEDIATE_RETRIES = 3;

type WithRegionError = { regionError?: RegionErrorPb | undefined };

/** The backoff one top-level request has slept so far, shared by the retries of all its batches. */
interface Budget {
  sleptMs: number;
}

export class RequestSender {
  private readonly maxRetries: number;
  private readonly baseMs: number;
  private readonly capMs: number;
  private readonly maxBackoffMs: number;
  /** Region errors and retried failures seen, for tests and diagnostics. */
  readonly stats = { regionErrors: 0, retriedFailures: 0 };

  constructor(
    readonly cache: RegionCache,
    private readonly transport: KvTransport,
    private readonly options: SenderOptions,
  ) {
    this.maxRetries = options.maxRetries ?? 64;
    this.baseMs = options.backoffBaseMs ?? 2;
    this.capMs = options.backoffCapMs ?? 500;
    this.maxBackoffMs = options.maxBackoffMs ?? 20_000;
  }

  /** Sends a single-key request to the key's region (found in the method's key space: raw or txn). */
  async sendToKey<M extends KvMethod>(key: Buffer, method: M, build: (ctx: Context) => KvRequest<M>): Promise<Sent<M>> {
    const budget: Budget = { sleptMs: 0 };
    for (let attempt = 0; ; attempt++) {
      const region = await this.cache.locate(key, keySpaceOf(method));
      const response = await this.attempt(region, method, build(contextOf(region)), attempt, budget);
      if (response !== undefined) return { region, keys: [key], response };
    }
  }

  /**
   * Sends `keys` grouped by region (and split by `limits`), all groups in parallel; resolves to one
   * entry per request that finally succeeded, covering every key exactly once.
   */
  async sendToKeys<M extends KvMethod>(
    keys: readonly Buffer[],
    method: M,
    build: (ctx: Context, keys: Buffer[]) => KvRequest<M>,
    limits?: BatchLimits,
  ): Promise<Sent<M>[]> {
    return this.sendGrouped(keys, method, build, limits, 0, { sleptMs: 0 });
  }

  private async sendGrouped<M extends KvMethod>(
    keys: readonly Buffer[],
    method: M,
    build: (ctx: Context, keys: Buffer[]) => KvRequest<M>,
    limits: BatchLimits | undefined,
    attempt: number,
    budget: Budget,
  ): Promise<Sent<M>[]> {
    if (keys.length === 0) return [];
    const groups = await this.cache.groupKeys(keys, keySpaceOf(method));
    const batches = groups.flatMap((group) => splitBatch(group.keys, limits).map((batch) => ({ region: group.region, keys: batch })));
    const results = await Promise.all(
      batches.map(async ({ region, keys: batch }): Promise<Sent<M>[]> => {
        const response = await this.attempt(region, method, build(contextOf(region), batch), attempt, budget);
        if (response !== undefined) return [{ region, keys: batch, response }];
        return this.sendGrouped(batch, method, build, limits, attempt + 1, budget);
      }),
    );
    return results.flat();
  }

  /** One try: the response, or undefined when the caller should relocate and try again (after any backoff). */
  private async attempt<M extends KvMethod>(
    region: RegionInfo,
    method: M,
    request: KvRequest<M>,
    attempt: number,
    budget: Budget,
  ): Promise<KvResponse<M> | undefined> {
    let response: KvResponse<M>;
    try {
      response = await this.transport.call(region.addr, method, request);
    } catch (err) {
      if (!(err instanceof ClientError) || !err.retryable || this.exhausted(attempt, budget)) throw err;
      this.stats.retriedFailures++;
      this.options.logger.debug({ err: err.message, method, attempt }, 'retrying after a failed call');
      if (err.code === ClientErrorCode.Transport) await this.cache.onSendFail(region);
      await this.backoff(backoffMs(attempt, this.baseMs * 4, this.capMs * 4), budget);
      return undefined;
    }
    const regionError = (response as WithRegionError).regionError;
    if (regionError === undefined) return response;
    this.stats.regionErrors++;
    if (this.exhausted(attempt, budget)) {
      throw new ClientError(
        ClientErrorCode.RegionUnavailable,
        `region ${region.id}: ${regionError.message || 'region error'} (after ${attempt + 1} attempts)`,
        { details: { regionId: region.id, method } },
      );
    }
    const retryNow = await this.cache.onRegionError(region, regionError);
    // A hint (a new leader, the regions after a split) is worth an immediate retry, but not forever:
    // while leadership moves (a transfer, a store killed) two stale peers can point at each other,
    // and retrying at once would spend every attempt in a few milliseconds.
    if (!retryNow || attempt >= IMMEDIATE_RETRIES) await this.backoff(backoffMs(attempt, this.baseMs, this.capMs), budget);
    return undefined;
  }

  private exhausted(attempt: number, budget: Budget): boolean {
    return attempt >= this.maxRetries || budget.sleptMs >= this.maxBackoffMs;
  }

  /** Sleeps `ms`, cut to what is left of the request's budget, and charges it. */
  private async backoff(ms: number, budget: Budget): Promise<void> {
    const sleepMs = Math.min(ms, Math.max(0, this.maxBackoffMs - budget.sleptMs));
    budget.sleptMs += sleepMs;
    await sleep(sleepMs);
  }
}

/** Splits one region's keys into batches within `limits`. */
export function splitBatch(keys: Buffer[], limits: BatchLimits | undefined): Buffer[][] {
  if (limits === undefined || keys.length === 0) return [keys];
  const batches: Buffer[][] = [];
  let batch: Buffer[] = [];
  let bytes = 0;
  for (const key of keys) {
    const size = limits.sizeOf(key);
    if (batch.length > 0 && (batch.length >= limits.maxKeys || bytes + size > limits.maxBytes)) {
      batches.push(batch);
      batch = [];
      bytes = 0;
    }
    batch.push(key);
    bytes += size;
  }
  batches.push(batch);
  return batches;
}
