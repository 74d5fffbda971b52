/**
 * Routing for the tinykv target on a multi-region cluster: the store leading the region of a key
 * and the kvrpcpb.Context addressing that region. Region lookups, and what a region error does to
 * them, are the client library's (RegionCache over SchedulerClient); this adds one channel pool per
 * store and one encoded Context per cached region, so a routed call costs a cache lookup (a binary
 * search over the sorted regions) more than an unrouted one and encodes no Context of its own.
 */
import { contextOf, RegionCache, type RegionInfo } from '../../src/client/region-cache.js';
import { isUnimplemented, SchedulerClient } from '../../src/client/scheduler-client.js';
import type { Error as RegionErrorPb } from '../../src/proto/errorpb.js';
import { Context } from '../../src/proto/kvrpcpb.js';
import { silentLogger } from '../../src/log/logger.js';
import { ChannelPool, type CallPool, type CallPoolFactory } from './channel-pool.js';

/** Where a call for one region goes, built once per cached region. */
export interface Route {
  readonly region: RegionInfo;
  readonly pool: CallPool;
  /** The encoded kvrpcpb.Context (region id, epoch, peer); empty for a standalone node. */
  readonly context: Uint8Array;
}

export class RegionRouter {
  private readonly pools = new Map<string, CallPool>();
  // Keyed by the cache's entries: an entry the cache replaces (new leader, new epoch) gets a new route.
  private readonly routes = new WeakMap<RegionInfo, Route>();

  private constructor(
    private readonly scheduler: SchedulerClient,
    private readonly cache: RegionCache,
    private readonly connectionsPerStore: number,
    private readonly openPool: CallPoolFactory,
  ) {}

  /**
   * Connects to the scheduler (or a standalone node standing in for one), caches every region it
   * knows and opens the channels to their leaders' stores.
   */
  static async connect(
    schedulerAddr: string,
    connectionsPerStore: number,
    connectTimeoutMs: number,
    openPool: CallPoolFactory = (addrs, connections) => new ChannelPool(addrs, connections),
  ): Promise<RegionRouter> {
    const scheduler = await SchedulerClient.connect(schedulerAddr, { timeoutMs: connectTimeoutMs, maxRetries: 1, retryOn: 'transport' });
    const router = new RegionRouter(scheduler, new RegionCache(scheduler, scheduler.addr, silentLogger()), connectionsPerStore, openPool);
    try {
      await router.warm(connectTimeoutMs);
    } catch (err) {
      router.close();
      throw err;
    }
    return router;
  }

  get schedulerAddr(): string {
    return this.scheduler.addr;
  }

  /** Regions cached and stores with channels, for the report header. */
  get layout(): { readonly regions: number; readonly stores: number; readonly standalone: boolean } {
    return { regions: this.cache.snapshot().length, stores: this.pools.size, standalone: this.cache.mode === 'standalone' };
  }

  /** The route of a raw key (the bench's routed calls are all raw: RawGet, RawPut, RawScan). */
  route(key: Buffer): Promise<Route> {
    return this.cache.locate(key, 'raw').then((region) => this.routes.get(region) ?? this.newRoute(region));
  }

  /** Updates the cache after a region error; resolves to whether to retry at once (else back off first). */
  onRegionError(region: RegionInfo, error: RegionErrorPb): Promise<boolean> {
    return this.cache.onRegionError(region, error);
  }

  /** After the region's store could not be reached: the next call tries another peer. */
  onSendFail(region: RegionInfo): Promise<void> {
    return this.cache.onSendFail(region);
  }

  cancelAll(): void {
    for (const pool of this.pools.values()) pool.cancelAll();
  }

  close(): void {
    for (const pool of this.pools.values()) pool.close();
    this.pools.clear();
    this.scheduler.close();
  }

  private async warm(connectTimeoutMs: number): Promise<void> {
    let startKeys: Buffer[];
    try {
      startKeys = (await this.scheduler.scanRegions(Buffer.alloc(0))).map((lookup) => Buffer.from(lookup.region.startKey));
    } catch (err) {
      if (!isUnimplemented(err)) throw err;
      startKeys = [Buffer.alloc(0)]; // a standalone node: one region holding every key
    }
    for (const key of startKeys) await this.route(key);
    await Promise.all([...this.pools.values()].map((pool) => pool.ready(connectTimeoutMs)));
  }

  private newRoute(region: RegionInfo): Route {
    let pool = this.pools.get(region.addr);
    if (pool === undefined) {
      // A store first seen mid-run: its channels connect while the first call waits on them.
      pool = this.openPool([region.addr], this.connectionsPerStore);
      this.pools.set(region.addr, pool);
    }
    const route: Route = { region, pool, context: Context.encode(contextOf(region)).finish() };
    this.routes.set(region, route);
    return route;
  }
}
