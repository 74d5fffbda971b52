/**
 * What schedulers and checkers see of the cluster (PD's opt.Cluster, trimmed). The scheduler
 * implements it over its ClusterState; tests implement it with a small in-memory mock. Pure reads
 * apart from allocPeer, which reserves an id durably.
 */
import type { Peer } from '../../proto/metapb.js';
import type { RegionInfo, StoreInfo } from '../cluster-state.js';
import type { ScheduleConfig } from './schedule-config.js';
import type { StoreInfluence } from './influence.js';

/** A region's relation to a store, for picking regions to move off it. */
export type RegionRole = 'pending' | 'follower' | 'leader';

export interface ScheduleCluster {
  /** Wall-clock ms from the scheduler's injected clock. */
  nowMs(): number;
  /** In [0, 1), from the scheduler's injected RNG (seeded in simulation). */
  random(): number;
  config(): ScheduleConfig;

  /** Every store that is not a tombstone. */
  stores(): StoreInfo[];
  getStore(storeId: number): StoreInfo | undefined;
  /** Up (not Offline or Tombstone) and heard from within max-store-down-time. */
  isStoreUp(store: StoreInfo): boolean;
  /** Up but silent for max-store-down-time or longer. */
  isStoreDown(store: StoreInfo): boolean;
  /**
   * Up but silent for STORE_DISCONNECTED_AFTER_MS or longer (PD's disconnected): not Down yet, but
   * nothing should be moved onto it.
   */
  isStoreDisconnected(store: StoreInfo): boolean;
  /** The store told the scheduler it is busy (StoreStats.is_busy). */
  isStoreBusy(store: StoreInfo): boolean;

  getRegion(regionId: number): RegionInfo | undefined;
  /** A random region with a peer on `storeId` in that role (a pending peer, a follower, the leader), or undefined. */
  randomRegionOf(storeId: number, role: RegionRole): RegionInfo | undefined;
  /**
   * What the operators in flight will change on the store once done (PD's OpInfluence); add it to
   * the store's counts when comparing stores.
   */
  influence(storeId: number): StoreInfluence;
  /** A new peer id for a peer on `storeId` (persisted id allocation). */
  allocPeer(storeId: number): Promise<Peer>;
}
