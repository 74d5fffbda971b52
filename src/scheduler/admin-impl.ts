/**
 * SchedulerAdmin over the scheduler's parts: reads from the cluster state, operators through the
 * OperatorController, schedulers through the Coordinator, config through the ScheduleConfigStore.
 * Admin operators carry OpKind.Admin: they skip schedule limits and replace a running operator
 * that a scheduler or checker made, but never another admin operator (OperatorExists).
 */
import type { Clock } from '../env/clock.js';
import { Peer, StoreState } from '../proto/metapb.js';
import { compareBytes } from '../util/bytes.js';
import { encodeBytes } from '../txn/codec.js';
import { defined } from '../util/assert.js';
import type { ClusterStatusView, MemberView, OperatorRequest, OperatorView, SchedulerAdmin, StoreStateName, StoreView } from './admin.js';
import type { ClusterState, RegionInfo, StoreInfo } from './cluster-state.js';
import { SchedulerError, SchedulerErrorCode, invalidArgument } from './errors.js';
import type { ScheduleCluster } from './schedule/cluster-view.js';
import type { ScheduleConfigStore } from './schedule/config-store.js';
import type { Coordinator } from './schedule/coordinator.js';
import {
  OpKind,
  Operator,
  createAddPeerOperator,
  createRemovePeerOperator,
  createSplitRegionOperator,
  createTransferLeaderOperator,
  type OpStep,
} from './schedule/operator.js';
import type { OperatorController } from './schedule/operator-controller.js';
import { STORE_DISCONNECTED_AFTER_MS, type ScheduleConfig, type SchedulerEntry } from './schedule/schedule-config.js';

/** What the admin needs of SchedulerCore. */
export interface AdminCore {
  readonly clusterId: bigint;
  readonly isBootstrapped: boolean;
  readonly state: ClusterState;
  allocId(): Promise<number>;
  deleteStore(storeId: number): Promise<void>;
}

export interface SchedulerAdminDeps {
  readonly core: AdminCore;
  readonly controller: OperatorController;
  readonly coordinator: Pick<Coordinator, 'isPrepared' | 'addScheduler' | 'removeScheduler' | 'pauseScheduler'>;
  readonly configStore: ScheduleConfigStore;
  readonly cluster: ScheduleCluster;
  readonly clock: Clock;
  readonly bootstrapTimeMs: () => number | undefined;
  /** host:port clients reach the scheduler's gRPC at. */
  readonly advertiseAddr: () => string;
}

export class SchedulerAdminImpl implements SchedulerAdmin {
  constructor(private readonly deps: SchedulerAdminDeps) {}

  clusterStatus(): ClusterStatusView {
    const { core, coordinator } = this.deps;
    return {
      clusterId: Number(core.clusterId),
      bootstrapped: core.isBootstrapped,
      bootstrapTimeMs: this.deps.bootstrapTimeMs(),
      prepared: coordinator.isPrepared,
    };
  }

  members(): MemberView[] {
    return [{ name: 'tinykv-scheduler', clientUrls: [`http://${this.deps.advertiseAddr()}`], memberId: Number(this.deps.core.clusterId) }];
  }

  // ---- stores -------------------------------------------------------------------------------

  /** Every store, tombstones included, by id (the HTTP layer filters by state as PD's does). */
  stores(): StoreView[] {
    return this.deps.core.state.getStores().map((info) => this.storeView(info));
  }

  store(storeId: number): StoreView {
    return this.storeView(this.requireStore(storeId));
  }

  async deleteStore(storeId: number): Promise<void> {
    this.requireStore(storeId);
    await this.deps.core.deleteStore(storeId);
  }

  private storeView(info: StoreInfo): StoreView {
    const nowMs = this.deps.clock.nowMs();
    const sinceHeartbeatMs = info.lastHeartbeatMs === undefined ? undefined : Math.max(0, nowMs - info.lastHeartbeatMs);
    return { info, stateName: this.stateName(info, this.deps.core.state.storeDownMs(info)), sinceHeartbeatMs };
  }

  private stateName(info: StoreInfo, silentMs: number): StoreStateName {
    if (info.store.state === StoreState.Tombstone) return 'Tombstone';
    if (info.store.state === StoreState.Offline) return 'Offline';
    if (this.deps.cluster.isStoreDown(info)) return 'Down';
    return silentMs >= STORE_DISCONNECTED_AFTER_MS ? 'Disconnected' : 'Up';
  }

  private requireStore(storeId: number): StoreInfo {
    requireId(storeId, 'store id');
    const info = this.deps.core.state.getStore(storeId);
    if (!info) throw new SchedulerError(SchedulerErrorCode.StoreNotFound, `store ${storeId} not found`, { storeId });
    return info;
  }

  // ---- regions ------------------------------------------------------------------------------

  regions(): RegionInfo[] {
    return [...this.deps.core.state.allRegions()];
  }

  region(regionId: number): RegionInfo {
    requireId(regionId, 'region id');
    const info = this.deps.core.state.getRegionById(regionId);
    if (!info) throw new SchedulerError(SchedulerErrorCode.RegionNotFound, `region ${regionId} not found`, { regionId });
    return info;
  }

  regionByKey(key: Uint8Array): RegionInfo {
    const info = this.deps.core.state.getRegion(key);
    if (!info) {
      throw new SchedulerError(SchedulerErrorCode.RegionNotFound, `no region holds key 0x${Buffer.from(key).toString('hex')}`);
    }
    return info;
  }

  // ---- operators ----------------------------------------------------------------------------

  operators(): OperatorView[] {
    return this.deps.controller.running().map(operatorView);
  }

  operatorHistory(): OperatorView[] {
    return this.deps.controller.history().map(operatorView);
  }

  operator(regionId: number): OperatorView {
    requireId(regionId, 'region id');
    const op = this.deps.controller.getLatest(regionId);
    if (!op) throw new SchedulerError(SchedulerErrorCode.RegionNotFound, `region ${regionId} has no operator`, { regionId });
    return operatorView(op);
  }

  async addOperator(request: OperatorRequest): Promise<OperatorView> {
    const region = this.region(request.regionId);
    this.requireNoAdminOperator(region.region.id);
    const op = await this.buildOperator(request, region);
    // Checked again: another admin request may have added one while this one allocated ids.
    const running = this.requireNoAdminOperator(region.region.id);
    this.deps.controller.addOperator(op, { replace: running !== undefined });
    return operatorView(op);
  }

  removeOperator(regionId: number): boolean {
    requireId(regionId, 'region id');
    return this.deps.controller.removeOperator(regionId, 'cancel') !== undefined;
  }

  private requireNoAdminOperator(regionId: number): Operator | undefined {
    const running = this.deps.controller.getRunning(regionId);
    if (running && (running.kind & OpKind.Admin) !== 0) {
      throw new SchedulerError(SchedulerErrorCode.OperatorExists, `region ${regionId} already has an admin operator: ${running.toString()}`, {
        regionId,
      });
    }
    return running;
  }

  private buildOperator(request: OperatorRequest, region: RegionInfo): Promise<Operator> {
    const nowMs = this.deps.clock.nowMs();
    switch (request.name) {
      case 'add-peer':
        return this.addPeerOperator(region, request.storeId, nowMs);
      case 'remove-peer': {
        this.requirePeerOn(region, request.storeId);
        if (region.region.peers.length === 1) throw invalidArgument(`cannot remove the only peer of region ${region.region.id}`);
        return Promise.resolve(createRemovePeerOperator('admin-remove-peer', region, request.storeId, OpKind.Admin, nowMs));
      }
      case 'transfer-leader': {
        this.requirePeerOn(region, request.toStoreId);
        if (region.leader?.storeId === request.toStoreId) {
          throw invalidArgument(`the leader of region ${region.region.id} is already on store ${request.toStoreId}`);
        }
        return Promise.resolve(createTransferLeaderOperator('admin-transfer-leader', region, request.toStoreId, OpKind.Admin, nowMs));
      }
      case 'transfer-region':
        return this.transferRegionOperator(region, request.toStoreIds, nowMs);
      case 'split-region':
        return Promise.resolve(this.splitRegionOperator(region, request.keys, nowMs));
    }
  }

  private async addPeerOperator(region: RegionInfo, storeId: number, nowMs: number): Promise<Operator> {
    this.requireNewPeerStore(region, storeId);
    const peer = Peer.fromPartial({ id: await this.deps.core.allocId(), storeId });
    return createAddPeerOperator('admin-add-peer', region, peer, OpKind.Admin, nowMs);
  }

  /**
   * One operator moving the region onto exactly `toStoreIds`: every add-peer first (the region never
   * drops below its replica count), then the leader off a store that leaves, then every remove-peer.
   */
  private async transferRegionOperator(region: RegionInfo, toStoreIds: readonly number[], nowMs: number): Promise<Operator> {
    if (toStoreIds.length === 0) throw invalidArgument('transfer-region needs at least one target store');
    if (new Set(toStoreIds).size !== toStoreIds.length) throw invalidArgument('transfer-region target stores repeat');
    const current = region.region.peers.map((p) => p.storeId);
    const added = toStoreIds.filter((id) => !current.includes(id));
    const removed = current.filter((id) => !toStoreIds.includes(id));
    for (const storeId of toStoreIds) this.requireStore(storeId);
    for (const storeId of added) this.requireNewPeerStore(region, storeId);
    if (added.length === 0 && removed.length === 0) throw invalidArgument(`region ${region.region.id} is already on stores ${toStoreIds.join(',')}`);
    const steps: OpStep[] = [];
    for (const toStore of added) steps.push({ type: 'add-peer', toStore, peerId: await this.deps.core.allocId() });
    let kind = OpKind.Admin | OpKind.Region;
    const leaderStore = region.leader?.storeId;
    if (leaderStore !== undefined && removed.includes(leaderStore)) {
      const pending = new Set(region.pendingPeers.map((p) => p.storeId));
      const kept = toStoreIds.find((id) => current.includes(id) && !pending.has(id));
      steps.push({ type: 'transfer-leader', fromStore: leaderStore, toStore: kept ?? defined(added[0], 'a target store') });
      kind |= OpKind.Leader;
    }
    for (const fromStore of removed) steps.push({ type: 'remove-peer', fromStore });
    const epoch = defined(region.region.regionEpoch, 'region epoch');
    return new Operator({
      desc: 'admin-transfer-region',
      regionId: region.region.id,
      regionEpoch: { confVer: epoch.confVer, version: epoch.version },
      kind,
      steps,
      createdMs: nowMs,
    });
  }

  private splitRegionOperator(region: RegionInfo, keys: readonly Buffer[], nowMs: number): Operator {
    const { startKey, endKey } = region.region;
    for (const key of keys) {
      if (key.length === 0) throw invalidArgument('a split key must not be empty');
      // The store cuts at the key's transactional encoding (src/server/split-driver.ts firstKeyInside), and
      // region bounds are stored keys: a key judged raw could be "inside" yet cut at the region's end, a
      // split the store never makes while the operator waits for it.
      const cut = encodeBytes(key);
      const inside = compareBytes(cut, startKey) > 0 && (endKey.length === 0 || compareBytes(cut, endKey) < 0);
      if (!inside) throw invalidArgument(`split key 0x${key.toString('hex')} (encoded) is not inside region ${region.region.id}`);
    }
    return createSplitRegionOperator('admin-split-region', region, keys, OpKind.Admin, nowMs);
  }

  private requirePeerOn(region: RegionInfo, storeId: number): void {
    this.requireStore(storeId);
    if (!region.region.peers.some((p) => p.storeId === storeId)) {
      throw invalidArgument(`region ${region.region.id} has no peer on store ${storeId}`, { regionId: region.region.id, storeId });
    }
  }

  /** A store that may receive a new peer of the region: known, Up and not holding one already. */
  private requireNewPeerStore(region: RegionInfo, storeId: number): void {
    const store = this.requireStore(storeId);
    if (!this.deps.cluster.isStoreUp(store)) throw invalidArgument(`store ${storeId} is not up`, { storeId });
    if (region.region.peers.some((p) => p.storeId === storeId)) {
      throw invalidArgument(`region ${region.region.id} already has a peer on store ${storeId}`, { regionId: region.region.id, storeId });
    }
  }

  // ---- schedulers and config ----------------------------------------------------------------

  schedulers(): SchedulerEntry[] {
    return this.deps.configStore.schedulers();
  }

  addScheduler(name: string): Promise<void> {
    return this.deps.coordinator.addScheduler(name);
  }

  removeScheduler(name: string): Promise<void> {
    return this.deps.coordinator.removeScheduler(name);
  }

  pauseScheduler(name: string, delaySeconds: number): Promise<void> {
    return this.deps.coordinator.pauseScheduler(name, delaySeconds);
  }

  config(): ScheduleConfig {
    return this.deps.configStore.config();
  }

  setConfig(patch: Partial<ScheduleConfig>): Promise<ScheduleConfig> {
    return this.deps.configStore.setConfig(patch);
  }
}

function requireId(id: number, what: string): void {
  if (!Number.isSafeInteger(id) || id <= 0) throw invalidArgument(`invalid ${what} ${id}`);
}

export function operatorView(op: Operator): OperatorView {
  return {
    regionId: op.regionId,
    desc: op.desc,
    kind: op.kindNames(),
    status: op.status,
    steps: op.steps,
    stepIndex: op.status === 'success' ? op.steps.length : op.stepIndex,
    createdMs: op.createdMs,
    finishedMs: op.finishedMs,
    text: op.toString(),
  };
}
