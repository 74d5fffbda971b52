/**
 * The scheduler's domain layer: cluster state + persistence + id allocator + TSO + bootstrap,
 * with one method per operation, in metapb terms (number ids). The gRPC service (service.ts)
 * translates requests to these calls and typed errors to header errors or gRPC statuses; a node
 * can embed a SchedulerCore on its own engine and gRPC server.
 */
import type { Logger } from 'pino';
import type { Engine } from '../engine/engine.js';
import { systemClock, type Clock } from '../env/clock.js';
import { silentLogger } from '../log/logger.js';
import { defined } from '../util/assert.js';
import { StoreState, type Cluster, type Peer, type Region, type Store } from '../proto/metapb.js';
import type { StoreStats } from '../proto/schedulerpb.js';
import { startOracle } from './standalone-scheduler.js';
import type { Timestamp, TimestampOracle } from './tso.js';
import { ClusterState, type DownPeer, type RegionHeartbeatResult, type RegionInfo, type StoreInfo } from './cluster-state.js';
import { IdAllocator, ID_ALLOC_STEP } from './id-allocator.js';
import { SchedulerStore, ops } from './store.js';
import { Bootstrapper, DEFAULT_MAX_REPLICAS, notBootstrapped, resolveSplitKeys } from './bootstrap.js';
import { HeartbeatStreams, type HeartbeatSink } from './heartbeat-streams.js';
import { SchedulerError, SchedulerErrorCode, invalidArgument } from './errors.js';
import { checkHeartbeatExtras } from './input-checks.js';
import { StoreLiveness } from './store-liveness.js';
import { OperatorController, type OperatorControllerDeps } from './schedule/operator-controller.js';
import { DEFAULT_SCHEDULE_CONFIG, type ScheduleConfig } from './schedule/schedule-config.js';

export interface SchedulerCoreOptions {
  /** Stores to wait for before creating the initial regions (default 1; 0 waits for a Bootstrap RPC). */
  readonly initialStores?: number;
  /** Regions to create at bootstrap (default 1, or one more than `splitKeys`). */
  readonly initialRegions?: number;
  /** Explicit split points of the initial regions (strictly ascending, non-empty). */
  readonly splitKeys?: readonly Uint8Array[];
  /** metapb.Cluster.max_peer_count written at bootstrap (default 3, PD's MaxReplicas). */
  readonly maxReplicas?: number;
  readonly clock?: Clock;
  /** Randomness for the cluster id. */
  readonly random?: () => number;
  readonly logger?: Logger;
  /** Ids reserved per durable write of the id bound (default 1000). */
  readonly idAllocStep?: number;
  /** A store silent this long is logged as Down (read on each check; default PD's 30 min). */
  readonly maxStoreDownTimeMs?: () => number;
  /**
   * The live scheduling configuration (default DEFAULT_SCHEDULE_CONFIG), read on every operator
   * added; the scheduler server passes its persisted config store's, bound once that is open.
   */
  readonly scheduleConfig?: () => ScheduleConfig;
  /** Told of every operator that ends (OperatorControllerDeps.onFinished). */
  readonly onOperatorFinished?: OperatorControllerDeps['onFinished'];
}

export interface RegionHeartbeatInput {
  readonly region: Region | undefined;
  readonly leader: Peer | undefined;
  readonly pendingPeers?: readonly Peer[];
  /** As on the wire, where a PeerStats may lack its peer (refused). */
  readonly downPeers?: readonly { readonly peer: Peer | undefined; readonly downSeconds: number }[];
  /** 0 or absent: unknown, the last size reported stays (PD's Inherit). */
  readonly approximateSizeBytes?: number;
  readonly approximateKeys?: number;
}

export interface AskSplitResult {
  readonly newRegionId: number;
  readonly newPeerIds: number[];
}

export class SchedulerCore {
  private gcSafePoint: bigint;

  private constructor(
    readonly clusterId: bigint,
    readonly state: ClusterState,
    readonly streams: HeartbeatStreams,
    private readonly store: SchedulerStore,
    private readonly ids: IdAllocator,
    private readonly oracle: TimestampOracle,
    private readonly bootstrapper: Bootstrapper,
    private readonly logger: Logger,
    private readonly liveness: StoreLiveness,
    gcSafePoint: bigint,
    /** The operators in flight; every accepted region heartbeat is dispatched to them. */
    readonly operators: OperatorController,
  ) {
    this.gcSafePoint = gcSafePoint;
  }

  /** Loads (or creates) the scheduler's state on `engine`; the caller owns the engine. */
  static async open(engine: Engine, options: SchedulerCoreOptions = {}): Promise<SchedulerCore> {
    const clock = options.clock ?? systemClock;
    const logger = options.logger ?? silentLogger();
    const splitKeys = resolveSplitKeys({ initialRegions: options.initialRegions, splitKeys: options.splitKeys });
    const store = new SchedulerStore(engine);
    const clusterId = await store.loadOrCreateClusterId(clock, options.random ?? Math.random);
    const persisted = store.load();
    const state = new ClusterState(clock);
    for (const s of persisted.stores) state.loadStore(s);
    for (const r of persisted.regions) state.loadRegion(r);
    const ids = IdAllocator.open(
      { load: () => store.loadIdBound(), save: (bound) => store.write([ops.putIdBound(bound)]) },
      options.idAllocStep ?? ID_ALLOC_STEP,
    );
    const oracle = await startOracle(engine, clock);
    const bootstrapper = new Bootstrapper({
      clusterId,
      state,
      store,
      ids,
      clock,
      logger,
      initialStores: options.initialStores ?? 1,
      splitKeys,
      maxReplicas: options.maxReplicas ?? DEFAULT_MAX_REPLICAS,
      cluster: persisted.cluster,
    });
    await bootstrapper.resume();
    const streams = new HeartbeatStreams(clusterId, clock);
    const operators = new OperatorController({
      clock,
      send: (info, command) => streams.sendToLeader(info, command),
      config: options.scheduleConfig ?? (() => DEFAULT_SCHEDULE_CONFIG),
      logger: logger.child({ module: 'operators' }),
      regionOf: (regionId) => state.getRegionById(regionId),
      onFinished: options.onOperatorFinished,
    });
    const liveness = new StoreLiveness(state, options.maxStoreDownTimeMs ?? (() => DEFAULT_SCHEDULE_CONFIG.maxStoreDownTimeMs), logger);
    const core = new SchedulerCore(clusterId, state, streams, store, ids, oracle, bootstrapper, logger, liveness, persisted.gcSafePoint, operators);
    logger.info(
      { clusterId: String(clusterId), bootstrapped: core.isBootstrapped, stores: persisted.stores.length, regions: state.regionCount },
      'scheduler state loaded',
    );
    return core;
  }

  get isBootstrapped(): boolean {
    return this.bootstrapper.bootstrapped;
  }

  allocTimestamp(count: number): Promise<Timestamp> {
    return this.oracle.allocate(count);
  }

  allocId(): Promise<number> {
    return this.ids.alloc();
  }

  bootstrap(store: Store | undefined): Promise<void> {
    if (!store) return Promise.reject(invalidArgument('Bootstrap needs a store'));
    return this.bootstrapper.bootstrapWithStore(store);
  }

  /** Accepted before bootstrap too: that is how stores register for the scheduler-driven bootstrap. */
  putStore(store: Store | undefined): Promise<void> {
    if (!store) return Promise.reject(invalidArgument('PutStore needs a store'));
    return this.bootstrapper.putStore(store);
  }

  getStore(storeId: number): StoreInfo {
    this.requireBootstrapped();
    const info = this.state.getStore(storeId);
    if (!info) throw new SchedulerError(SchedulerErrorCode.StoreNotFound, `store ${storeId} not found`, { storeId });
    this.liveness.observe(info);
    return info;
  }

  getAllStores(excludeTombstones: boolean): StoreInfo[] {
    this.requireBootstrapped();
    const stores = this.state.getStores({ excludeTombstones });
    for (const info of stores) this.liveness.observe(info);
    return stores;
  }

  storeHeartbeat(stats: StoreStats | undefined): void {
    this.requireBootstrapped();
    if (!stats) throw invalidArgument('StoreHeartbeat needs stats');
    const storeId = toId(stats.storeId, 'store id');
    this.state.storeHeartbeat(storeId, stats);
    this.liveness.observe(defined(this.state.getStore(storeId), 'store that just heartbeat'));
  }

  /** Logs the stores that went Down, or came back, since the last look (a periodic check calls this). */
  checkStoreLiveness(): void {
    for (const info of this.state.getStores({ excludeTombstones: true })) this.liveness.observe(info);
  }

  /**
   * Sets an Up store Offline (an operator removes it; its replicas are to move away), persisted
   * before it resolves. Offline again changes nothing; a tombstone is refused (StoreTombstone), an
   * unknown id too (StoreNotFound).
   */
  async deleteStore(storeId: number): Promise<void> {
    this.requireBootstrapped();
    const { store, changed } = this.state.setStoreOffline(storeId);
    if (!changed) return;
    await this.store.write([ops.putStore(store)]);
    this.logger.info({ storeId, address: store.address }, 'store is offline; its replicas will move to other stores');
  }

  /**
   * Offline -> Tombstone once no region has a peer on the store (the coordinator calls this when
   * an offline store has drained), persisted before it resolves. From then on the store is refused
   * everywhere and its address is free for a new store id. A tombstone again changes nothing; an
   * Up store or one still holding peers is refused (StoreNotDrained).
   */
  async tombstoneStore(storeId: number): Promise<void> {
    this.requireBootstrapped();
    const { store, changed } = this.state.setStoreTombstone(storeId);
    if (!changed) return;
    this.liveness.forget(storeId);
    await this.store.write([ops.putStore(store)]);
    this.logger.info({ storeId, address: store.address }, 'store is a tombstone; its address is free for a new store');
  }

  /**
   * Validates and applies one region heartbeat, binds `sink` to the leader's store, persists
   * what changed and dispatches the region's operator (its next step goes to the leader). Resolves once the change is durable. Accepted only if the leader is one of the
   * region's peers, every peer is on a registered store that is not a tombstone, pending and down
   * peers are peers of the region (input-checks.ts checkHeartbeatExtras), and `sink` may speak for the leader's store (HeartbeatStreams.checkMayReport).
   */
  async regionHeartbeat(input: RegionHeartbeatInput, sink?: HeartbeatSink): Promise<RegionHeartbeatResult> {
    this.requireBootstrapped();
    const { region, leader } = input;
    if (!region) throw invalidArgument('region heartbeat without a region');
    if (!leader) throw invalidArgument(`region ${region.id} heartbeat without a leader`, { regionId: region.id });
    if (!region.peers.some((p) => p.id === leader.id && p.storeId === leader.storeId)) {
      const where = `leader ${leader.id} on store ${leader.storeId}`;
      throw invalidArgument(`${where} is not a peer of region ${region.id}`, { regionId: region.id });
    }
    this.requireLiveStore(leader.storeId, 'leader');
    for (const peer of region.peers) this.requireLiveStore(peer.storeId, `peer ${peer.id}`);
    checkHeartbeatExtras(region, input);
    if (sink) this.streams.checkMayReport(leader.storeId, sink);
    const result = this.state.processRegionHeartbeat(region, leader, {
      pendingPeers: input.pendingPeers,
      downPeers: input.downPeers?.map((down): DownPeer => ({ peer: defined(down.peer, 'checked down peer'), downSeconds: down.downSeconds })),
      approximateSizeBytes: input.approximateSizeBytes || undefined,
      approximateKeys: input.approximateKeys || undefined,
    });
    if (sink) this.streams.bind(leader.storeId, sink);
    if (result.metaChanged) {
      await this.store.write([...result.removed.map((r) => ops.deleteRegion(r.region.id)), ops.putRegion(result.region.region)]);
    }
    // After the write: an operator's next step is decided on what the scheduler has made durable.
    // A region the heartbeat's range replaced is gone, and so is what its operator planned.
    for (const gone of result.removed) this.operators.removeOperator(gone.region.id, 'cancel');
    this.operators.dispatch(result.region);
    return result;
  }

  /** Throws unless `storeId` is registered and not a tombstone. */
  private requireLiveStore(storeId: number, role: string): void {
    const info = this.state.getStore(storeId);
    if (!info) throw new SchedulerError(SchedulerErrorCode.StoreNotFound, `${role} store ${storeId} not found`, { storeId });
    if (info.store.state === StoreState.Tombstone) {
      throw new SchedulerError(SchedulerErrorCode.StoreTombstone, `${role} store ${storeId} is a tombstone`, { storeId });
    }
  }

  getRegion(key: Uint8Array): RegionInfo | undefined {
    this.requireBootstrapped();
    return this.state.getRegion(key);
  }

  getPrevRegion(key: Uint8Array): RegionInfo | undefined {
    this.requireBootstrapped();
    return this.state.getPrevRegion(key);
  }

  getRegionById(id: number): RegionInfo | undefined {
    this.requireBootstrapped();
    return this.state.getRegionById(id);
  }

  scanRegions(startKey: Uint8Array, endKey: Uint8Array, limit: number): RegionInfo[] {
    this.requireBootstrapped();
    return this.state.scanRegions(startKey, endKey, limit);
  }

  /** A new region id and one new peer id per peer of `region`, if its epoch is current. */
  async askSplit(region: Region | undefined): Promise<AskSplitResult> {
    this.requireBootstrapped();
    if (!region) throw invalidArgument('AskSplit needs a region');
    this.state.checkRequestRegion(region);
    const [newRegionId, ...newPeerIds] = await this.ids.allocMany(1 + region.peers.length);
    return { newRegionId: defined(newRegionId, 'new region id'), newPeerIds };
  }

  clusterConfig(): Cluster {
    const meta = this.bootstrapper.clusterMeta;
    if (!meta) throw notBootstrapped();
    return meta;
  }

  putClusterConfig(cluster: Cluster | undefined): Promise<void> {
    if (!cluster) return Promise.reject(invalidArgument('PutClusterConfig needs a cluster'));
    return this.bootstrapper.putClusterConfig(cluster);
  }

  getGcSafePoint(): bigint {
    this.requireBootstrapped();
    return this.gcSafePoint;
  }

  /** Saves the safe point only if it is larger; resolves to the safe point in force. */
  async updateGcSafePoint(safePoint: bigint): Promise<bigint> {
    this.requireBootstrapped();
    if (safePoint <= this.gcSafePoint) {
      if (safePoint < this.gcSafePoint) this.logger.warn({ safePoint: String(safePoint) }, 'ignoring a smaller gc safe point');
      return this.gcSafePoint;
    }
    this.gcSafePoint = safePoint;
    await this.store.write([ops.putGcSafePoint(safePoint)]);
    return safePoint;
  }

  private requireBootstrapped(): void {
    if (!this.bootstrapper.bootstrapped) throw notBootstrapped();
  }
}

/** A uint64 id from the wire as a metapb number id. */
export function toId(value: bigint, what: string): number {
  if (value < 0n || value > BigInt(Number.MAX_SAFE_INTEGER)) throw invalidArgument(`${what} ${value} is out of range`);
  return Number(value);
}
