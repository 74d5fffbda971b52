// stand-in until part B merges: the contract's CoreScheduleCluster over ClusterState, simple and
// O(regions) per pick. Part B's module (with per-store region sub-sets) replaces this file whole.
import type { Clock } from '../../env/clock.js';
import { Peer, StoreState } from '../../proto/metapb.js';
import type { ClusterState, RegionInfo, StoreInfo } from '../cluster-state.js';
import type { RegionRole, ScheduleCluster } from './cluster-view.js';
import type { ScheduleConfig } from './schedule-config.js';

export interface CoreScheduleClusterDeps {
  readonly state: ClusterState;
  readonly config: () => ScheduleConfig;
  readonly allocId: () => Promise<number>;
  readonly clock: Clock;
  readonly random: () => number;
}

export class CoreScheduleCluster implements ScheduleCluster {
  private readonly startMs: number;

  constructor(private readonly deps: CoreScheduleClusterDeps) {
    this.startMs = deps.clock.nowMs();
  }

  nowMs(): number {
    return this.deps.clock.nowMs();
  }

  random(): number {
    return this.deps.random();
  }

  config(): ScheduleConfig {
    return this.deps.config();
  }

  stores(): StoreInfo[] {
    return this.deps.state.getStores({ excludeTombstones: true });
  }

  getStore(storeId: number): StoreInfo | undefined {
    return this.deps.state.getStore(storeId);
  }

  isStoreUp(store: StoreInfo): boolean {
    return store.store.state === StoreState.Up && !this.isStoreDown(store);
  }

  isStoreDown(store: StoreInfo): boolean {
    const silentMs = this.nowMs() - (store.lastHeartbeatMs ?? this.startMs);
    return store.store.state === StoreState.Up && silentMs >= this.config().maxStoreDownTimeMs;
  }

  isStoreBusy(store: StoreInfo): boolean {
    return store.stats?.isBusy ?? false;
  }

  getRegion(regionId: number): RegionInfo | undefined {
    return this.deps.state.getRegionById(regionId);
  }

  randomRegionOf(storeId: number, role: RegionRole): RegionInfo | undefined {
    const matches = this.deps.state.allRegions().filter((info) => {
      const peer = info.region.peers.find((p) => p.storeId === storeId);
      if (!peer) return false;
      if (role === 'pending') return info.pendingPeers.some((p) => p.id === peer.id);
      const leads = info.leader?.id === peer.id;
      return role === 'leader' ? leads : !leads;
    });
    return matches[Math.floor(this.random() * matches.length)];
  }

  async allocPeer(storeId: number): Promise<Peer> {
    return Peer.fromPartial({ id: await this.deps.allocId(), storeId });
  }
}
