/**
 * The ScheduleCluster that schedulers and checkers see in the running scheduler: reads straight
 * from ClusterState, with store health judged against the run-time ScheduleConfig. Pure apart from
 * allocId (a durable id reservation); time and randomness come from the injected seams.
 */
import { Peer, StoreState } from '../../proto/metapb.js';
import type { Clock } from '../../env/clock.js';
import type { ClusterState, RegionInfo, StoreInfo } from '../cluster-state.js';
import type { RegionRole, ScheduleCluster } from './cluster-view.js';
import { STORE_DISCONNECTED_AFTER_MS, type ScheduleConfig } from './schedule-config.js';
import { influenceOf, NO_INFLUENCE, type StoreInfluence } from './influence.js';
import type { Operator } from './operator.js';

export interface CoreScheduleClusterDeps {
  readonly state: ClusterState;
  readonly config: () => ScheduleConfig;
  readonly allocId: () => Promise<number>;
  readonly clock: Clock;
  readonly random: () => number;
  /** The operators in flight, for their influence on stores (none when absent). */
  readonly runningOperators?: () => readonly Operator[];
}

export class CoreScheduleCluster implements ScheduleCluster {
  /**
   * A store that has not heartbeated since this scheduler started is timed from the start, not
   * treated as down at once: after a scheduler restart every store is silent until its first beat.
   */
  constructor(private readonly deps: CoreScheduleClusterDeps) {}

  influence(storeId: number): StoreInfluence {
    // Recomputed per call: a few operators at a time (schedule limits), and never stale.
    const running = this.deps.runningOperators?.() ?? [];
    if (running.length === 0) return NO_INFLUENCE;
    return influenceOf(running, (id) => this.deps.state.getRegionById(id)).get(storeId) ?? NO_INFLUENCE;
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
    return store.store.state === StoreState.Up && !this.silentTooLong(store);
  }

  isStoreDown(store: StoreInfo): boolean {
    return store.store.state === StoreState.Up && this.silentTooLong(store);
  }

  isStoreBusy(store: StoreInfo): boolean {
    return store.stats?.isBusy === true;
  }

  getRegion(regionId: number): RegionInfo | undefined {
    return this.deps.state.getRegionById(regionId);
  }

  randomRegionOf(storeId: number, role: RegionRole): RegionInfo | undefined {
    return this.deps.state.randomRegionOf(storeId, role, this.deps.random);
  }

  async allocPeer(storeId: number): Promise<Peer> {
    const id = await this.deps.allocId();
    return Peer.fromPartial({ id, storeId });
  }

  isStoreDisconnected(store: StoreInfo): boolean {
    return store.store.state === StoreState.Up && this.deps.state.storeDownMs(store) >= STORE_DISCONNECTED_AFTER_MS;
  }

  private silentTooLong(store: StoreInfo): boolean {
    // Before a store's first heartbeat since the scheduler started, its silence counts from that start.
    return this.deps.state.storeDownMs(store) >= this.deps.config().maxStoreDownTimeMs;
  }
}
