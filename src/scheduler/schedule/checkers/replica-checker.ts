/**
 * The replica checker (PD's ReplicaChecker, trimmed): keeps each region at max-replicas healthy
 * replicas. In order, at most one operator per check, all of kind OpKind.Replica:
 *
 *   1. a down peer (its store is Down, or the leader reports it in down_peers): replaced;
 *   2. a peer on a store that is not Up (Offline, Tombstone): replaced;
 *   3. fewer peers than max-replicas: one added (`make-up-replica`);
 *   4. more: the worst removed (`remove-extra-replica`).
 *
 * Replacing a peer while the region has more peers than max-replicas just removes it; otherwise it
 * is a move (add on the best store first, then remove), so the live replica count never dips. A
 * region with a peer on a store the scheduler does not know (a scheduler recovering its state) or
 * without a known leader (nobody to carry the operator out) is left alone.
 */
import { StoreState, type Peer } from '../../../proto/metapb.js';
import type { RegionInfo, StoreInfo } from '../../cluster-state.js';
import type { ScheduleCluster } from '../cluster-view.js';
import { OpKind, Operator, createAddPeerOperator, createMovePeerOperator, createRemovePeerOperator } from '../operator.js';
import { canReceive, regionHoldsStore } from '../store-filters.js';

type PeerTrouble = 'down' | 'offline';

interface RegionPeer {
  readonly peer: Peer;
  readonly store: StoreInfo;
}

export class ReplicaChecker {
  async check(cluster: ScheduleCluster, region: RegionInfo): Promise<Operator | undefined> {
    if (!region.leader) return undefined;
    const peers = peersWithStores(cluster, region);
    if (!peers) return undefined;
    for (const trouble of ['down', 'offline'] as const) {
      const sick = peers.find((p) => troubleOf(cluster, region, p) === trouble);
      if (sick) return this.fixPeer(cluster, region, sick, trouble);
    }
    const maxReplicas = cluster.config().maxReplicas;
    if (peers.length < maxReplicas) {
      const target = bestTarget(cluster, region);
      if (!target) return undefined;
      const peer = await cluster.allocPeer(target.store.id);
      return createAddPeerOperator('make-up-replica', region, peer, OpKind.Replica, cluster.nowMs());
    }
    if (peers.length > maxReplicas) {
      const worst = worstPeer(cluster, region, peers);
      if (!worst) return undefined;
      return createRemovePeerOperator('remove-extra-replica', region, worst.store.store.id, OpKind.Replica, cluster.nowMs());
    }
    return undefined;
  }

  private async fixPeer(cluster: ScheduleCluster, region: RegionInfo, sick: RegionPeer, trouble: PeerTrouble): Promise<Operator | undefined> {
    const nowMs = cluster.nowMs();
    if (region.region.peers.length > cluster.config().maxReplicas) {
      return createRemovePeerOperator(`remove-extra-${trouble}-replica`, region, sick.store.store.id, OpKind.Replica, nowMs);
    }
    const target = bestTarget(cluster, region);
    if (!target) return undefined;
    const peer = await cluster.allocPeer(target.store.id);
    return createMovePeerOperator(`replace-${trouble}-replica`, region, OpKind.Replica, sick.store.store.id, peer, nowMs);
  }
}

/** The region's peers with their stores, or undefined when a peer sits on a store the scheduler does not know. */
function peersWithStores(cluster: ScheduleCluster, region: RegionInfo): RegionPeer[] | undefined {
  const out: RegionPeer[] = [];
  for (const peer of region.region.peers) {
    const store = cluster.getStore(peer.storeId);
    if (!store) return undefined;
    out.push({ peer, store });
  }
  return out;
}

function troubleOf(cluster: ScheduleCluster, region: RegionInfo, { peer, store }: RegionPeer): PeerTrouble | undefined {
  if (cluster.isStoreDown(store) || region.downPeers.some((d) => d.peer.id === peer.id)) return 'down';
  if (store.store.state !== StoreState.Up) return 'offline';
  return undefined;
}

/** Fewest regions (then least region data, then lowest id) among the stores that may take a new replica of the region. */
function bestTarget(cluster: ScheduleCluster, region: RegionInfo): StoreInfo | undefined {
  const candidates = cluster.stores().filter((s) => canReceive(cluster, s) && !regionHoldsStore(region, s.store.id));
  return candidates.sort(byLoad(cluster))[0];
}

/**
 * The peer to drop from a region with too many (none is down or offline, or step 1 or 2 would have
 * taken it): a follower, never the leader (dropping it costs an election; with two or more peers a
 * follower always exists); a pending one first (it is behind anyway, so the up-to-date peers keep
 * their majority); then the one on the most loaded store.
 */
function worstPeer(cluster: ScheduleCluster, region: RegionInfo, peers: readonly RegionPeer[]): RegionPeer | undefined {
  const isPending = (p: RegionPeer): boolean => region.pendingPeers.some((q) => q.id === p.peer.id);
  const followers = peers.filter((p) => p.peer.id !== region.leader?.id);
  return followers.sort((a, b) => Number(isPending(b)) - Number(isPending(a)) || byLoad(cluster)(b.store, a.store))[0];
}

/** Orders stores by region count, then region size, each with the influence of the operators in flight (so a patrol that makes up many replicas at once spreads them), then id. */
function byLoad(cluster: ScheduleCluster): (a: StoreInfo, b: StoreInfo) => number {
  const load = (store: StoreInfo) => {
    const influence = cluster.influence(store.store.id);
    return { count: store.regionCount + influence.regionCount, sizeBytes: store.regionSizeBytes + influence.regionSizeBytes };
  };
  return (a, b) => {
    const [x, y] = [load(a), load(b)];
    return x.count - y.count || x.sizeBytes - y.sizeBytes || a.store.id - b.store.id;
  };
}
