/**
 * Which stores may give or take replicas and leaders (PD's StoreStateFilter, trimmed). Shared by
 * the schedulers and the replica checker so they agree on health.
 */
import { StoreState } from '../../proto/metapb.js';
import type { RegionInfo, StoreInfo } from '../cluster-state.js';
import type { ScheduleCluster } from './cluster-view.js';

/** A store that may receive a new replica or a leader: Up, heard from within the last 20 s (not Disconnected), not busy. */
export function canReceive(cluster: ScheduleCluster, store: StoreInfo): boolean {
  return cluster.isStoreUp(store) && !cluster.isStoreDisconnected(store) && !cluster.isStoreBusy(store);
}

/**
 * A store that data may be moved off: Up and alive, or Offline (being drained; moving its replicas
 * away is the point). Busy stores are left alone: a move starts with work on the source side.
 */
export function canGive(cluster: ScheduleCluster, store: StoreInfo): boolean {
  if (cluster.isStoreBusy(store)) return false;
  return cluster.isStoreUp(store) || store.store.state === StoreState.Offline;
}

export function regionHoldsStore(region: RegionInfo, storeId: number): boolean {
  return region.region.peers.some((p) => p.storeId === storeId);
}
