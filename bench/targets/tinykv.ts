/**
 * A TinyKV-TS node (or anything serving tinykvpb.TinyKv) through the Raw API: RawPut, RawGet, RawScan.
 * With a scheduler address the calls are routed by region instead (region-router.ts): each goes to
 * the leader of its key's region with that region's Context, and a region error refreshes the
 * region and retries the call (bounded; counted as a retry, an error only when the retries run out).
 */
import { status as GrpcStatus } from '@grpc/grpc-js';
import { RawGetResponse, RawPutResponse, RawScanResponse } from '../../src/proto/kvrpcpb.js';
import { TinyKvService } from '../../src/proto/tinykvpb.js';
import { encodeRawGet, encodeRawPut, encodeRawScan, inspectResponse } from '../wire.js';
import { BenchCallError, ChannelPool, notConnected, type CallPool, type CallPoolFactory } from './channel-pool.js';
import { BatchStreamPool } from './batch-stream.js';
import { RegionRouter, type Route } from './region-router.js';
import type { BenchTarget, TargetName } from './target.js';

const RAW_GET = TinyKvService.rawGet.path;
const RAW_PUT = TinyKvService.rawPut.path;
const RAW_SCAN = TinyKvService.rawScan.path;

export interface TinyKvTargetOptions {
  /** host:port of the node (unused when `scheduler` is given). */
  readonly addr: string;
  /** host:port of the scheduler: route every call by region to its leader's store. */
  readonly scheduler?: string;
  /** gRPC channels (connections) to open; per store when routing. */
  readonly connections: number;
  /** Column family; default "default". */
  readonly cf?: string;
  readonly connectTimeoutMs?: number;
  /** Send the calls through TinyKv/BatchCommands streams (batch-stream.ts) instead of unary calls. */
  readonly batchCommands?: boolean;
}

// Responses are walked, not decoded (bench/wire.ts); only a failed call is decoded in full, for
// its message. region_error is field 1 and error field 2 in every Raw*Response.
const ERROR_FIELDS = (1 << 1) | (1 << 2);

/**
 * Attempts of one routed call (the first and the retries after region errors or an unreachable
 * store): with the backoff below, about 4 s of retrying, enough for a region to elect a new leader
 * after its leader's store died on a loaded machine.
 */
const MAX_ROUTED_ATTEMPTS = 20;
/**
 * Attempts that may follow a region error's hint at once; later ones back off first. While a
 * leader moves, two stale peers can name each other leader, and retrying at once would spend every
 * attempt in a few milliseconds.
 */
const IMMEDIATE_ATTEMPTS = 3;
/** Backoff before a retry the region cache cannot make succeed at once (an election, say): doubling up to the cap. */
const RETRY_BACKOFF_BASE_MS = 10;
const RETRY_BACKOFF_MAX_MS = 320;

function failure(decoded: Pick<RawPutResponse, 'regionError' | 'error'>): BenchCallError {
  const regionError = decoded.regionError;
  return regionError ? new BenchCallError(`region error: ${regionError.message}`, undefined, regionError) : new BenchCallError(decoded.error);
}

function parsePut(bytes: Buffer): void {
  if (inspectResponse(bytes, ERROR_FIELDS, 0, 0).errorSet) throw failure(RawPutResponse.decode(bytes));
}

/** Found unless not_found (field 4). */
function parseGet(bytes: Buffer): boolean {
  const facts = inspectResponse(bytes, ERROR_FIELDS, 0, 4);
  if (facts.errorSet) throw failure(RawGetResponse.decode(bytes));
  return !facts.flag;
}

/** The number of kvs (field 3). */
function parseScan(bytes: Buffer): number {
  const facts = inspectResponse(bytes, ERROR_FIELDS, 3, 0);
  if (facts.errorSet) throw failure(RawScanResponse.decode(bytes));
  return facts.count;
}

export class TinyKvTarget implements BenchTarget {
  readonly name: TargetName;
  description: string;
  /** Routed calls sent again after a region error or an unreachable store. */
  retries = 0;
  private pool: CallPool | undefined;
  private readonly openPool: CallPoolFactory;
  private router: RegionRouter | undefined;
  /** Bumped by cancelInFlight: a routed call waiting to retry then gives up instead of sending again. */
  private cancels = 0;
  private readonly cf: Buffer;

  constructor(
    private readonly options: TinyKvTargetOptions,
    name: TargetName = 'tinykv',
  ) {
    this.name = name;
    this.description = options.scheduler ?? options.addr;
    this.cf = Buffer.from(options.cf ?? 'default');
    this.openPool = options.batchCommands
      ? (addrs, connections) => new BatchStreamPool(addrs, connections)
      : (addrs, connections) => new ChannelPool(addrs, connections);
  }

  async connect(): Promise<void> {
    const timeoutMs = this.options.connectTimeoutMs ?? 5000;
    const connections = this.options.connections;
    if (this.options.scheduler !== undefined) {
      const router = await RegionRouter.connect(this.options.scheduler, connections, timeoutMs, this.openPool);
      this.router = router;
      const { regions, stores, standalone } = router.layout;
      const plural = (n: number, what: string) => `${n} ${what}${n === 1 ? '' : 's'}`;
      this.description = standalone
        ? `${router.schedulerAddr} (standalone, routed; ${plural(connections, 'connection')}${this.options.batchCommands ? ', BatchCommands streams' : ''})`
        : `routed by scheduler ${router.schedulerAddr}: ${plural(regions, 'region')} led from ${plural(stores, 'store')} (${plural(connections, 'connection')} per store${this.options.batchCommands ? ', BatchCommands streams' : ''})`;
      return;
    }
    const pool = this.openPool([this.options.addr], connections);
    try {
      await pool.ready(timeoutMs);
    } catch (err) {
      pool.close();
      throw err;
    }
    this.pool = pool;
    this.description = `${this.options.addr} (${pool.size} connection${pool.size === 1 ? '' : 's'}${this.options.batchCommands ? ', BatchCommands streams' : ''})`;
  }

  put(key: Buffer, value: Buffer, lane: number): Promise<void> {
    if (this.router) return this.routed(this.router, key, lane, RAW_PUT, (context) => encodeRawPut(key, value, this.cf, context), parsePut);
    return this.pool ? this.pool.call(lane, RAW_PUT, encodeRawPut(key, value, this.cf), parsePut) : notConnected(this.name);
  }

  get(key: Buffer, lane: number): Promise<boolean> {
    if (this.router) return this.routed(this.router, key, lane, RAW_GET, (context) => encodeRawGet(key, this.cf, context), parseGet);
    return this.pool ? this.pool.call(lane, RAW_GET, encodeRawGet(key, this.cf), parseGet) : notConnected(this.name);
  }

  /** Routed by the start key; the store answers from that region only. */
  scan(startKey: Buffer, limit: number, lane: number): Promise<number> {
    if (this.router)
      return this.routed(this.router, startKey, lane, RAW_SCAN, (context) => encodeRawScan(startKey, limit, this.cf, context), parseScan);
    return this.pool ? this.pool.call(lane, RAW_SCAN, encodeRawScan(startKey, limit, this.cf), parseScan) : notConnected(this.name);
  }

  cancelInFlight(): void {
    this.cancels++;
    this.pool?.cancelAll();
    this.router?.cancelAll();
  }

  async close(): Promise<void> {
    this.pool?.close();
    this.pool = undefined;
    this.router?.close();
    this.router = undefined;
  }

  private async routed<T>(
    router: RegionRouter,
    key: Buffer,
    lane: number,
    path: string,
    encode: (context: Uint8Array) => Buffer,
    parse: (response: Buffer) => T,
  ): Promise<T> {
    const cancels = this.cancels;
    for (let attempt = 1; ; attempt++) {
      const route = await router.route(key);
      try {
        return await route.pool.call(lane, path, encode(route.context), parse);
      } catch (err) {
        if (attempt >= MAX_ROUTED_ATTEMPTS || this.router !== router) throw err;
        const immediate = await this.afterFailure(router, route, err);
        if (!immediate || attempt > IMMEDIATE_ATTEMPTS) await sleepMs(Math.min(RETRY_BACKOFF_BASE_MS * 2 ** (attempt - 1), RETRY_BACKOFF_MAX_MS));
        // Cancelled (stall watchdog, Ctrl-C) or closed meanwhile: a call sent now would not be cancelled.
        if (this.cancels !== cancels || this.router !== router) throw err;
        this.retries++;
      }
    }
  }

  /** Updates the region cache after a failed routed call; rethrows what no retry can fix. */
  private async afterFailure(router: RegionRouter, route: Route, err: unknown): Promise<boolean> {
    if (!(err instanceof BenchCallError)) throw err;
    if (err.regionError !== undefined) return router.onRegionError(route.region, err.regionError);
    // A store down or restarting; CANCELLED (the stall watchdog, Ctrl-C) and the rest are final.
    if (err.grpcStatus !== GrpcStatus.UNAVAILABLE) throw err;
    await router.onSendFail(route.region);
    return false;
  }
}

function sleepMs(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
