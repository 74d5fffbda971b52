/**
 * balance-region (TinyKV 3C, reference §8.2): moves one replica from the store with the most region
 * data to the store with the least that does not hold the region, when the gap is worth the move.
 *
 *   1. Sources: stores that may give data (store-filters), by region size, largest first.
 *   2. On a source, a random region where it has a pending peer (a peer that cannot catch up is the
 *      cheapest to replace), else one it follows, else one it leads. Up to 10 picks per source.
 *   3. A region with fewer peers than max-replicas (or a down peer) is the replica checker's, not
 *      ours; one without a known leader is skipped too (nobody would carry the operator out).
 *   4. Target: the smallest store that may receive data and does not hold the region.
 *   5. Only when source size - target size > 2 * region size, else the move would just invert the
 *      imbalance; then a move-peer operator (add on target, leader off the source, remove).
 * Store sizes include the influence of the operators in flight (so rounds before the stores report
 * do not pile moves onto one target), and a region counts at least 1 MiB (EMPTY_REGION_SIZE_BYTES).
 */
import { regionScoreSizeBytes, type RegionInfo, type StoreInfo } from '../../cluster-state.js';
import type { RegionRole, ScheduleCluster } from '../cluster-view.js';
import { OpKind, Operator, createMovePeerOperator } from '../operator.js';
import { canGive, canReceive, regionHoldsStore } from '../store-filters.js';
import { MIN_SCHEDULE_INTERVAL_MS, nextScheduleIntervalMs } from './interval.js';
import type { RegionScheduler } from './scheduler.js';

/** Region picks per source store before trying the next one (TinyKV's balanceRegionRetryLimit). */
const PICKS_PER_SOURCE = 10;
const PICK_ORDER: readonly RegionRole[] = ['pending', 'follower', 'leader'];

export class BalanceRegionScheduler implements RegionScheduler {
  static readonly NAME = 'balance-region-scheduler';
  readonly name = BalanceRegionScheduler.NAME;
  readonly type = 'balance-region';
  readonly minIntervalMs = MIN_SCHEDULE_INTERVAL_MS;

  nextIntervalMs(previousMs: number): number {
    return nextScheduleIntervalMs(previousMs);
  }

  isScheduleAllowed(cluster: ScheduleCluster, opCount: (kindBit: number) => number): boolean {
    return opCount(OpKind.Region) < cluster.config().regionScheduleLimit;
  }

  async schedule(cluster: ScheduleCluster): Promise<Operator | undefined> {
    const stores = cluster.stores();
    const size = (store: StoreInfo) => sizeOf(cluster, store);
    const sources = stores.filter((s) => canGive(cluster, s)).sort((a, b) => size(b) - size(a));
    const targets = stores.filter((s) => canReceive(cluster, s)).sort((a, b) => size(a) - size(b));
    for (const source of sources) {
      for (let pick = 0; pick < PICKS_PER_SOURCE; pick++) {
        const region = pickRegion(cluster, source.store.id);
        if (!region) break;
        if (!movable(cluster, region)) continue;
        const target = targets.find((t) => !regionHoldsStore(region, t.store.id));
        if (!target || !worthMoving(cluster, source, target, region)) continue;
        const peer = await cluster.allocPeer(target.store.id);
        return createMovePeerOperator('balance-region', region, OpKind.Balance, source.store.id, peer, cluster.nowMs());
      }
    }
    return undefined;
  }
}

function pickRegion(cluster: ScheduleCluster, storeId: number): RegionInfo | undefined {
  for (const role of PICK_ORDER) {
    const region = cluster.randomRegionOf(storeId, role);
    if (region) return region;
  }
  return undefined;
}

/**
 * A region with fewer peers than max-replicas or a down peer is the replica checker's to repair
 * first; one without a known leader has nobody to carry an operator out.
 */
function movable(cluster: ScheduleCluster, region: RegionInfo): boolean {
  return region.leader !== undefined && region.downPeers.length === 0 && region.region.peers.length >= cluster.config().maxReplicas;
}

/** The store's region size once the operators in flight are done. */
function sizeOf(cluster: ScheduleCluster, store: StoreInfo): number {
  return store.regionSizeBytes + cluster.influence(store.store.id).regionSizeBytes;
}

function worthMoving(cluster: ScheduleCluster, source: StoreInfo, target: StoreInfo, region: RegionInfo): boolean {
  return sizeOf(cluster, source) - sizeOf(cluster, target) > 2 * regionScoreSizeBytes(region);
}
