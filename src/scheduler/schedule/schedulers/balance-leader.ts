/**
 * balance-leader (PD's, by leader count): moves one leader from a store with many leaders to one of
 * the region's followers on a store with few.
 *
 *   - Out: sources by leader count, most first; a random region the source leads; the target is the
 *     follower store (alive, not busy, peer not pending or down) with the fewest leaders.
 *   - In (when no source gives anything): targets by leader count, fewest first; a random region
 *     the target follows, taken from its leader's store.
 *   - Only when the leader-count gap is at least 2, so the move cannot just swap the imbalance
 *     (counts, not leader sizes: every leader costs the store about the same raft work).
 *   - Counts include the influence of the operators in flight, so a burst of rounds before the
 *     stores report the first moves does not overshoot.
 */
import type { RegionInfo, StoreInfo } from '../../cluster-state.js';
import type { ScheduleCluster } from '../cluster-view.js';
import { OpKind, Operator, createTransferLeaderOperator } from '../operator.js';
import { canGive, canReceive } from '../store-filters.js';
import { MIN_SCHEDULE_INTERVAL_MS, nextScheduleIntervalMs } from './interval.js';
import type { RegionScheduler } from './scheduler.js';

/** Region picks per store before trying the next one. */
const PICKS_PER_STORE = 10;
/** A move needs source leaders - target leaders >= this. */
const MIN_LEADER_GAP = 2;

export class BalanceLeaderScheduler implements RegionScheduler {
  static readonly NAME = 'balance-leader-scheduler';
  readonly name = BalanceLeaderScheduler.NAME;
  readonly type = 'balance-leader';
  readonly minIntervalMs = MIN_SCHEDULE_INTERVAL_MS;

  nextIntervalMs(previousMs: number): number {
    return nextScheduleIntervalMs(previousMs);
  }

  isScheduleAllowed(cluster: ScheduleCluster, opCount: (kindBit: number) => number): boolean {
    return opCount(OpKind.Leader) < cluster.config().leaderScheduleLimit;
  }

  schedule(cluster: ScheduleCluster): Promise<Operator | undefined> {
    const stores = cluster.stores();
    const leaders = (store: StoreInfo) => leaderCountOf(cluster, store);
    const sources = stores.filter((s) => canGive(cluster, s)).sort((a, b) => leaders(b) - leaders(a));
    for (const source of sources) {
      const op = transferOut(cluster, source);
      if (op) return Promise.resolve(op);
    }
    const targets = stores.filter((s) => canReceive(cluster, s)).sort((a, b) => leaders(a) - leaders(b));
    for (const target of targets) {
      const op = transferIn(cluster, target);
      if (op) return Promise.resolve(op);
    }
    return Promise.resolve(undefined);
  }
}

function transferOut(cluster: ScheduleCluster, source: StoreInfo): Operator | undefined {
  for (let pick = 0; pick < PICKS_PER_STORE; pick++) {
    const region = cluster.randomRegionOf(source.store.id, 'leader');
    if (!region) return undefined;
    const target = leaderTargets(cluster, region).sort((a, b) => leaderCountOf(cluster, a) - leaderCountOf(cluster, b))[0];
    if (target && gapWorthMoving(cluster, source, target)) return makeOperator(cluster, region, target);
  }
  return undefined;
}

function transferIn(cluster: ScheduleCluster, target: StoreInfo): Operator | undefined {
  for (let pick = 0; pick < PICKS_PER_STORE; pick++) {
    const region = cluster.randomRegionOf(target.store.id, 'follower');
    if (!region) return undefined;
    const leaderStoreId = region.leader?.storeId;
    const source = leaderStoreId === undefined ? undefined : cluster.getStore(leaderStoreId);
    if (!source || !canGive(cluster, source)) continue;
    if (!leaderTargets(cluster, region).some((s) => s.store.id === target.store.id)) continue;
    if (gapWorthMoving(cluster, source, target)) return makeOperator(cluster, region, target);
  }
  return undefined;
}

/** The store's leaders once the operators in flight are done. */
function leaderCountOf(cluster: ScheduleCluster, store: StoreInfo): number {
  return store.leaderCount + cluster.influence(store.store.id).leaderCount;
}

function gapWorthMoving(cluster: ScheduleCluster, source: StoreInfo, target: StoreInfo): boolean {
  return leaderCountOf(cluster, source) - leaderCountOf(cluster, target) >= MIN_LEADER_GAP;
}

/** Stores of the region's followers that could lead it now: healthy store, peer neither pending nor down. */
function leaderTargets(cluster: ScheduleCluster, region: RegionInfo): StoreInfo[] {
  const leaderId = region.leader?.id;
  if (leaderId === undefined) return [];
  const out: StoreInfo[] = [];
  for (const peer of region.region.peers) {
    if (peer.id === leaderId) continue;
    if (region.pendingPeers.some((p) => p.id === peer.id) || region.downPeers.some((d) => d.peer.id === peer.id)) continue;
    const store = cluster.getStore(peer.storeId);
    if (store && canReceive(cluster, store)) out.push(store);
  }
  return out;
}

function makeOperator(cluster: ScheduleCluster, region: RegionInfo, target: StoreInfo): Operator {
  return createTransferLeaderOperator('balance-leader', region, target.store.id, OpKind.Balance, cluster.nowMs());
}
