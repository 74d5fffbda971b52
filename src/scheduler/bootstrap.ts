/**
 * Cluster bootstrap, two ways:
 *
 * - **Scheduler-driven** (`--initial-stores N`, default 1): stores register with PutStore before
 *   the cluster exists. Once N distinct stores in state Up have registered, the scheduler creates
 *   the initial regions covering the whole key space, each with one peer on each of those N stores
 *   (ids from the allocator, epoch {conf_ver: 1, version: 1}, leader unknown), persists them with
 *   the cluster meta in one batch, and the cluster is bootstrapped. Stores learn their regions
 *   with GetRegion/ScanRegions. The "first N" are taken in registration order (after a restart:
 *   by store id). N = 0 disables this and waits for a Bootstrap RPC.
 * - **TinyKV-style** Bootstrap RPC (store only, no region): marks the cluster bootstrapped with
 *   that store; the node creates its own first region and reports it by heartbeat. A repeat (or a
 *   Bootstrap after a scheduler-driven bootstrap) answers ALREADY_BOOTSTRAPPED.
 *
 * Initial regions: K regions need K-1 split keys. By default they are two-byte boundaries evenly
 * spread over the byte range, `floor(i * 65536 / K)` big-endian for i = 1..K-1, with a trailing
 * 0x00 byte dropped (K = 2 gives [0x80]; K = 4 gives [0x40], [0x80], [0xc0]; K = 256 gives every
 * single byte). Keys that share a prefix (the bench's `k000...`) all land in one of those, so give
 * explicit split points for them with `splitKeys` (`--split-keys`), e.g. for the bench's default
 * keyspace of 10000 16-byte keys and 4 regions:
 * `k000000000002500,k000000000005000,k000000000007500`.
 */
import type { Logger } from 'pino';
import { Cluster, Region, StoreState, type Peer, type Store } from '../proto/metapb.js';
import type { Clock } from '../env/clock.js';
import { compareBytes } from '../util/bytes.js';
import { assert, defined } from '../util/assert.js';
import type { ClusterState } from './cluster-state.js';
import type { IdAllocator } from './id-allocator.js';
import { ops, type SchedulerStore } from './store.js';
import { SchedulerError, SchedulerErrorCode, invalidArgument } from './errors.js';

export const MAX_INITIAL_STORES = 100;
export const MAX_INITIAL_REGIONS = 4_096;
/** TinyKV's InitEpochConfVer / InitEpochVer. */
export const INITIAL_EPOCH = { confVer: 1, version: 1 } as const;
/** PD's default MaxReplicas, written into metapb.Cluster.max_peer_count. */
export const DEFAULT_MAX_REPLICAS = 3;

/** K-1 two-byte boundaries evenly spread over the byte range (see the file comment). */
export function evenSplitKeys(regionCount: number): Buffer[] {
  checkRegionCount(regionCount);
  const keys: Buffer[] = [];
  for (let i = 1; i < regionCount; i++) {
    const value = Math.floor((i * 65_536) / regionCount);
    const key = Buffer.from([value >> 8, value & 0xff]);
    keys.push(key[1] === 0 ? key.subarray(0, 1) : key);
  }
  return keys;
}

/**
 * The split keys for the initial regions: the explicit ones (validated: non-empty, strictly
 * ascending) or `evenSplitKeys(initialRegions)`. Both given: their counts must agree.
 */
export function resolveSplitKeys(options: { initialRegions?: number; splitKeys?: readonly Uint8Array[] }): Buffer[] {
  const { initialRegions, splitKeys } = options;
  if (!splitKeys) return evenSplitKeys(initialRegions ?? 1);
  const keys = splitKeys.map((k) => Buffer.from(k));
  checkRegionCount(keys.length + 1);
  if (initialRegions !== undefined && initialRegions !== keys.length + 1) {
    throw invalidArgument(`${keys.length} split keys make ${keys.length + 1} regions, not ${initialRegions}`);
  }
  keys.forEach((key, i) => {
    if (key.length === 0) throw invalidArgument('a split key must not be empty');
    const previous = keys[i - 1];
    if (previous !== undefined && compareBytes(previous, key) >= 0) throw invalidArgument('split keys must be strictly ascending');
  });
  return keys;
}

function checkRegionCount(count: number): void {
  if (!Number.isSafeInteger(count) || count < 1 || count > MAX_INITIAL_REGIONS) {
    throw invalidArgument(`initial regions must be 1..${MAX_INITIAL_REGIONS} (got ${count})`);
  }
}

/** How many ids `planInitialRegions` takes: per region one region id and one peer id per store. */
export function initialIdCount(storeCount: number, regionCount: number): number {
  return regionCount * (storeCount + 1);
}

/** The initial regions, in key order, covering the whole key space. Pure. */
export function planInitialRegions(storeIds: readonly number[], splitKeys: readonly Buffer[], ids: readonly number[]): Region[] {
  const regionCount = splitKeys.length + 1;
  assert(storeIds.length > 0, 'bootstrap needs at least one store');
  assert(ids.length === initialIdCount(storeIds.length, regionCount), 'bootstrap got the wrong number of ids');
  const boundaries = [Buffer.alloc(0), ...splitKeys, Buffer.alloc(0)];
  const regions: Region[] = [];
  let next = 0;
  for (let i = 0; i < regionCount; i++) {
    const id = defined(ids[next++], 'region id');
    const peers: Peer[] = storeIds.map((storeId) => ({ id: defined(ids[next++], 'peer id'), storeId }));
    regions.push(
      Region.fromPartial({
        id,
        startKey: defined(boundaries[i], 'start boundary'),
        endKey: defined(boundaries[i + 1], 'end boundary'),
        regionEpoch: { ...INITIAL_EPOCH },
        peers,
      }),
    );
  }
  return regions;
}

export interface BootstrapperOptions {
  readonly clusterId: bigint;
  readonly state: ClusterState;
  readonly store: SchedulerStore;
  readonly ids: IdAllocator;
  readonly clock: Clock;
  readonly logger: Logger;
  /** Stores to wait for before creating the initial regions; 0 waits for a Bootstrap RPC. */
  readonly initialStores: number;
  readonly splitKeys: readonly Buffer[];
  readonly maxReplicas: number;
  /** The cluster meta loaded from storage (present iff bootstrapped). */
  readonly cluster: Cluster | undefined;
}

/** Owns the bootstrapped flag and the store registry's write path (PutStore, Bootstrap, cluster config). */
export class Bootstrapper {
  private cluster: Cluster | undefined;
  private readonly registrationOrder: number[];
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly options: BootstrapperOptions) {
    const { initialStores } = options;
    if (!Number.isSafeInteger(initialStores) || initialStores < 0 || initialStores > MAX_INITIAL_STORES) {
      throw invalidArgument(`initial stores must be 0..${MAX_INITIAL_STORES} (got ${initialStores})`);
    }
    this.cluster = options.cluster;
    this.registrationOrder = options.state.getStores().map((s) => s.store.id);
  }

  get bootstrapped(): boolean {
    return this.cluster !== undefined;
  }

  get clusterMeta(): Cluster | undefined {
    return this.cluster && Cluster.fromPartial(this.cluster);
  }

  /** Finishes a scheduler-driven bootstrap that enough stores had asked for before a restart. */
  resume(): Promise<void> {
    return this.serialize(() => this.maybeBootstrapRegions());
  }

  /** PutStore: registers or updates a store, then bootstraps if it completes the initial stores. */
  putStore(store: Store): Promise<void> {
    return this.serialize(async () => {
      const stored = this.options.state.putStore(store);
      if (!this.registrationOrder.includes(stored.id)) this.registrationOrder.push(stored.id);
      await this.options.store.write([ops.putStore(stored)]);
      await this.maybeBootstrapRegions();
    });
  }

  /** TinyKV's Bootstrap RPC: the cluster with this one store and no region. */
  bootstrapWithStore(store: Store): Promise<void> {
    return this.serialize(async () => {
      if (this.cluster) throw alreadyBootstrapped();
      const stored = this.options.state.putStore(store);
      if (!this.registrationOrder.includes(stored.id)) this.registrationOrder.push(stored.id);
      const cluster = this.newClusterMeta();
      const bootstrapTime = ops.putBootstrapTime(this.options.clock.nowMs());
      await this.options.store.write([ops.putStore(stored), ops.putCluster(cluster), bootstrapTime]);
      this.cluster = cluster;
      this.options.logger.info({ storeId: stored.id }, 'cluster bootstrapped by a store');
    });
  }

  /** PutClusterConfig: an id of 0 means this cluster's; another id is refused. */
  putClusterConfig(cluster: Cluster): Promise<void> {
    return this.serialize(async () => {
      if (!this.cluster) throw notBootstrapped();
      const id = cluster.id === 0 ? this.cluster.id : cluster.id;
      if (id !== this.cluster.id) throw invalidArgument(`cluster id ${cluster.id} does not match ${this.cluster.id}`);
      const next = Cluster.fromPartial({ id, maxPeerCount: cluster.maxPeerCount });
      await this.options.store.write([ops.putCluster(next)]);
      this.cluster = next;
    });
  }

  private async maybeBootstrapRegions(): Promise<void> {
    const { state, initialStores, splitKeys, ids, store, clock, logger } = this.options;
    if (this.cluster || initialStores === 0) return;
    const upStores = this.registrationOrder.filter((id) => state.getStore(id)?.store.state === StoreState.Up);
    if (upStores.length < initialStores) return;
    const storeIds = upStores.slice(0, initialStores);
    const regionIds = await ids.allocMany(initialIdCount(storeIds.length, splitKeys.length + 1));
    const regions = planInitialRegions(storeIds, splitKeys, regionIds);
    const cluster = this.newClusterMeta();
    await store.write([...regions.map(ops.putRegion), ops.putCluster(cluster), ops.putBootstrapTime(clock.nowMs())]);
    for (const region of regions) {
      const removed = state.loadRegion(region);
      assert(removed.length === 0, 'initial regions overlap a known region');
    }
    this.cluster = cluster;
    logger.info({ storeIds, regions: regions.length }, 'cluster bootstrapped with initial regions');
  }

  private newClusterMeta(): Cluster {
    return Cluster.fromPartial({ id: Number(this.options.clusterId), maxPeerCount: this.options.maxReplicas });
  }

  private serialize<T>(task: () => Promise<T>): Promise<T> {
    const next = this.queue.then(task);
    this.queue = next.catch(() => {});
    return next;
  }
}

export function notBootstrapped(): SchedulerError {
  return new SchedulerError(SchedulerErrorCode.NotBootstrapped, 'cluster is not bootstrapped');
}

function alreadyBootstrapped(): SchedulerError {
  return new SchedulerError(SchedulerErrorCode.AlreadyBootstrapped, 'cluster is already bootstrapped');
}
