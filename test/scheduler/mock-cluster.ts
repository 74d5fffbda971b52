/**
 * A ScheduleCluster for scheduler and checker unit tests, after PD's mockcluster: store counts and
 * sizes are set directly (not derived from regions), regions are put whole, time is a ManualClock,
 * randomness a seeded generator, peer ids come from a counter.
 */
import { Peer, Region, Store, StoreState } from '../../src/proto/metapb.js';
import { StoreStats } from '../../src/proto/schedulerpb.js';
import { ManualClock } from '../../src/env/clock.js';
import { mulberry32 } from '../../src/raft/rng.js';
import type { RegionInfo, StoreInfo } from '../../src/scheduler/cluster-state.js';
import type { RegionRole, ScheduleCluster } from '../../src/scheduler/schedule/cluster-view.js';
import { DEFAULT_SCHEDULE_CONFIG, STORE_DISCONNECTED_AFTER_MS, type ScheduleConfig } from '../../src/scheduler/schedule/schedule-config.js';
import { influenceOf, NO_INFLUENCE, type StoreInfluence } from '../../src/scheduler/schedule/influence.js';
import type { Operator } from '../../src/scheduler/schedule/operator.js';

/** What PD's mock gives a region put by AddLeaderRegion (ApproximateSize 10, in MiB as PD counts). */
export const MOCK_REGION_SIZE_BYTES = 10 * 1024 * 1024;

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

export class MockCluster implements ScheduleCluster {
  readonly clock = new ManualClock(1_700_000_000_000);
  private scheduleConfig: ScheduleConfig;
  private readonly storeInfos = new Map<number, Mutable<StoreInfo>>();
  private readonly regions = new Map<number, RegionInfo>();
  private readonly rng: () => number;
  private nextId = 1000;
  /** Operators a test says are in flight: their influence is what influence() answers. */
  readonly running: Operator[] = [];

  constructor(options: { config?: Partial<ScheduleConfig>; seed?: number } = {}) {
    this.scheduleConfig = { ...DEFAULT_SCHEDULE_CONFIG, ...options.config };
    this.rng = mulberry32(options.seed ?? 1);
  }

  // ---- ScheduleCluster ------------------------------------------------------------------------

  nowMs(): number {
    return this.clock.nowMs();
  }
  influence(storeId: number): StoreInfluence {
    return influenceOf(this.running, (id) => this.regions.get(id)).get(storeId) ?? NO_INFLUENCE;
  }
  random(): number {
    return this.rng();
  }
  config(): ScheduleConfig {
    return this.scheduleConfig;
  }
  stores(): StoreInfo[] {
    return [...this.storeInfos.values()].filter((s) => s.store.state !== StoreState.Tombstone).sort((a, b) => a.store.id - b.store.id);
  }
  getStore(storeId: number): StoreInfo | undefined {
    return this.storeInfos.get(storeId);
  }
  isStoreUp(store: StoreInfo): boolean {
    return store.store.state === StoreState.Up && !this.silentTooLong(store);
  }
  isStoreDown(store: StoreInfo): boolean {
    return store.store.state === StoreState.Up && this.silentTooLong(store);
  }
  isStoreBusy(store: StoreInfo): boolean {
    return store.stats?.isBusy === true;
  }
  getRegion(regionId: number): RegionInfo | undefined {
    return this.regions.get(regionId);
  }
  randomRegionOf(storeId: number, role: RegionRole): RegionInfo | undefined {
    const matching = [...this.regions.values()].filter((r) => hasRole(r, storeId, role)).sort((a, b) => a.region.id - b.region.id);
    return matching[Math.floor(this.rng() * matching.length)];
  }
  allocPeer(storeId: number): Promise<Peer> {
    return Promise.resolve(Peer.fromPartial({ id: this.allocId(), storeId }));
  }

  // ---- helpers (PD mockcluster's) ---------------------------------------------------------------

  setConfig(changes: Partial<ScheduleConfig>): void {
    this.scheduleConfig = { ...this.scheduleConfig, ...changes };
  }

  allocId(): number {
    return this.nextId++;
  }

  /** An Up store with `regionCount` regions of MOCK_REGION_SIZE_BYTES each, heard from now. */
  addRegionStore(storeId: number, regionCount: number): void {
    const store = this.putStore(storeId);
    store.regionCount = regionCount;
    store.regionSizeBytes = regionCount * MOCK_REGION_SIZE_BYTES;
  }

  /** An Up store leading `leaderCount` regions of MOCK_REGION_SIZE_BYTES each, heard from now. */
  addLeaderStore(storeId: number, leaderCount: number): void {
    const store = this.putStore(storeId);
    this.updateLeaderCount(storeId, leaderCount);
    store.regionCount = Math.max(store.regionCount, leaderCount);
    store.regionSizeBytes = store.regionCount * MOCK_REGION_SIZE_BYTES;
  }

  updateLeaderCount(storeId: number, leaderCount: number): void {
    const store = this.mustStore(storeId);
    store.leaderCount = leaderCount;
    store.leaderSizeBytes = leaderCount * MOCK_REGION_SIZE_BYTES;
  }

  /** Region `regionId` led by a peer on `leaderStore`, followers on `followerStores`, epoch {1, 1}, size 10. */
  addLeaderRegion(regionId: number, leaderStore: number, ...followerStores: number[]): RegionInfo {
    const peers = [leaderStore, ...followerStores].map((storeId) => Peer.fromPartial({ id: this.allocId(), storeId }));
    const region = Region.fromPartial({ id: regionId, regionEpoch: { confVer: 1, version: 1 }, peers });
    const info: RegionInfo = {
      region,
      leader: peers[0],
      pendingPeers: [],
      downPeers: [],
      approximateSizeBytes: MOCK_REGION_SIZE_BYTES,
      approximateKeys: 10,
    };
    this.regions.set(regionId, info);
    return info;
  }

  putRegion(info: RegionInfo): void {
    this.regions.set(info.region.id, info);
  }

  /** Marks the peers of region `regionId` on `storeIds` pending (replacing the previous list). */
  updatePendingPeers(regionId: number, ...storeIds: number[]): RegionInfo {
    const info = this.mustRegion(regionId);
    const pendingPeers = info.region.peers.filter((p) => storeIds.includes(p.storeId));
    const updated = { ...info, pendingPeers };
    this.regions.set(regionId, updated);
    return updated;
  }

  setStoreUp(storeId: number): void {
    const store = this.mustStore(storeId);
    store.store = { ...store.store, state: StoreState.Up };
    store.lastHeartbeatMs = this.nowMs();
  }

  /** Silent since long before max-store-down-time (PD's SetStoreDown: a zero heartbeat time). */
  setStoreDown(storeId: number): void {
    const store = this.mustStore(storeId);
    store.store = { ...store.store, state: StoreState.Up };
    store.lastHeartbeatMs = this.nowMs() - this.scheduleConfig.maxStoreDownTimeMs - 1;
  }

  setStoreOffline(storeId: number): void {
    const store = this.mustStore(storeId);
    store.store = { ...store.store, state: StoreState.Offline };
  }

  setStoreBusy(storeId: number, busy: boolean): void {
    const store = this.mustStore(storeId);
    store.stats = { ...(store.stats ?? StoreStats.fromPartial({})), isBusy: busy };
  }

  private putStore(storeId: number): Mutable<StoreInfo> {
    const existing = this.storeInfos.get(storeId);
    if (existing) {
      existing.lastHeartbeatMs = this.nowMs();
      return existing;
    }
    const store: Mutable<StoreInfo> = {
      store: Store.fromPartial({ id: storeId, address: `127.0.0.1:${20160 + storeId}`, state: StoreState.Up }),
      stats: undefined,
      lastHeartbeatMs: this.nowMs(),
      regionCount: 0,
      leaderCount: 0,
      pendingPeerCount: 0,
      regionSizeBytes: 0,
      leaderSizeBytes: 0,
    };
    this.storeInfos.set(storeId, store);
    return store;
  }

  private mustStore(storeId: number): Mutable<StoreInfo> {
    const store = this.storeInfos.get(storeId);
    if (!store) throw new Error(`mock cluster has no store ${storeId}`);
    return store;
  }

  private mustRegion(regionId: number): RegionInfo {
    const info = this.regions.get(regionId);
    if (!info) throw new Error(`mock cluster has no region ${regionId}`);
    return info;
  }

  isStoreDisconnected(store: StoreInfo): boolean {
    return store.store.state === StoreState.Up && this.nowMs() - (store.lastHeartbeatMs ?? this.nowMs()) >= STORE_DISCONNECTED_AFTER_MS;
  }

  private silentTooLong(store: StoreInfo): boolean {
    return this.nowMs() - (store.lastHeartbeatMs ?? this.nowMs()) >= this.scheduleConfig.maxStoreDownTimeMs;
  }
}

function hasRole(info: RegionInfo, storeId: number, role: RegionRole): boolean {
  switch (role) {
    case 'pending':
      return info.pendingPeers.some((p) => p.storeId === storeId);
    case 'leader':
      return info.leader?.storeId === storeId;
    case 'follower':
      return info.region.peers.some((p) => p.storeId === storeId && p.id !== info.leader?.id);
  }
}
