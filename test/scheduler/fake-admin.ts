// A SchedulerAdmin over fixed data, for the admin HTTP API and `tinykv ctl` tests: it records the
// calls it gets and throws the errors the real one would, with the same codes.
import { StoreState, type Peer, type Region } from '../../src/proto/metapb.js';
import type { StoreStats } from '../../src/proto/schedulerpb.js';
import type { RegionInfo, StoreInfo } from '../../src/scheduler/cluster-state.js';
import type { ClusterStatusView, MemberView, OperatorRequest, OperatorView, SchedulerAdmin, StoreView } from '../../src/scheduler/admin.js';
import { SchedulerError, SchedulerErrorCode } from '../../src/scheduler/errors.js';
import { DEFAULT_SCHEDULE_CONFIG, type ScheduleConfig, type SchedulerEntry } from '../../src/scheduler/schedule/schedule-config.js';
import { compareBytes } from '../../src/util/bytes.js';

export const NOW_MS = Date.UTC(2026, 0, 2, 3, 4, 5);
const GIB = 1024 ** 3;
const MIB = 1024 ** 2;

function stats(storeId: number): StoreStats {
  return {
    storeId: BigInt(storeId),
    capacity: BigInt(100 * GIB),
    available: BigInt(60 * GIB + GIB / 2),
    regionCount: 2,
    sendingSnapCount: 0,
    receivingSnapCount: 1,
    startTime: (NOW_MS - 3_600_000) / 1_000,
    applyingSnapCount: 0,
    isBusy: false,
    usedSize: BigInt(1536),
    bytesWritten: 0n,
    keysWritten: 0n,
    bytesRead: 0n,
    keysRead: 0n,
    interval: undefined,
    cpuUsages: [],
    readIoRates: [],
    writeIoRates: [],
    opLatencies: [],
  };
}

function storeInfo(id: number, state: StoreState): StoreInfo {
  return {
    store: { id, address: `127.0.0.1:2016${id}`, state },
    stats: state === StoreState.Tombstone ? undefined : stats(id),
    lastHeartbeatMs: state === StoreState.Tombstone ? undefined : NOW_MS - 1_000,
    regionCount: 2,
    leaderCount: id === 1 ? 2 : 0,
    pendingPeerCount: id === 3 ? 1 : 0,
    regionSizeBytes: 200 * MIB,
    leaderSizeBytes: id === 1 ? 200 * MIB : 0,
  };
}

const peer = (id: number, storeId: number): Peer => ({ id, storeId });

function regionInfo(id: number, start: string, end: string, peers: Peer[], extra: Partial<RegionInfo> = {}): RegionInfo {
  const region: Region = { id, startKey: Buffer.from(start), endKey: Buffer.from(end), regionEpoch: { confVer: 3, version: id }, peers };
  return { region, leader: peers[0], pendingPeers: [], downPeers: [], approximateSizeBytes: 100 * MIB, approximateKeys: 1000, ...extra };
}

export class FakeAdmin implements SchedulerAdmin {
  readonly calls: Array<[string, ...unknown[]]> = [];
  storeViews: StoreView[] = [
    { info: storeInfo(1, StoreState.Up), stateName: 'Up', sinceHeartbeatMs: 1_000 },
    { info: storeInfo(2, StoreState.Up), stateName: 'Down', sinceHeartbeatMs: 40 * 60_000 },
    { info: storeInfo(3, StoreState.Offline), stateName: 'Offline', sinceHeartbeatMs: 1_000 },
    { info: storeInfo(4, StoreState.Tombstone), stateName: 'Tombstone', sinceHeartbeatMs: undefined },
  ];
  regionInfos: RegionInfo[] = [
    regionInfo(2, '', 'm', [peer(3, 1), peer(4, 2), peer(5, 3)], { pendingPeers: [peer(5, 3)] }),
    regionInfo(6, 'm', '', [peer(7, 1), peer(8, 2)], { downPeers: [{ peer: peer(8, 2), downSeconds: 2400 }], approximateSizeBytes: 10 }),
  ];
  operatorViews: OperatorView[] = [
    {
      regionId: 2,
      desc: 'admin-add-peer',
      kind: 'admin,region',
      status: 'running',
      steps: [{ type: 'add-peer', toStore: 4, peerId: 9 }],
      stepIndex: 0,
      createdMs: NOW_MS - 500,
      finishedMs: undefined,
      text: 'admin-add-peer (kind:admin,region, region:2, status:running) [add peer 9 on store 4]',
    },
  ];
  schedulerEntries: SchedulerEntry[] = [
    { name: 'balance-region-scheduler', pausedUntilMs: 0 },
    { name: 'balance-leader-scheduler', pausedUntilMs: NOW_MS + 60_000 },
  ];
  scheduleConfig: ScheduleConfig = DEFAULT_SCHEDULE_CONFIG;

  clusterStatus(): ClusterStatusView {
    return { clusterId: 7_000_001, bootstrapped: true, bootstrapTimeMs: NOW_MS - 86_400_000, prepared: true };
  }
  members(): MemberView[] {
    return [{ name: 'scheduler', clientUrls: ['http://127.0.0.1:2379'], memberId: 1 }];
  }
  stores(): StoreView[] {
    return this.storeViews;
  }
  store(storeId: number): StoreView {
    const view = this.storeViews.find((v) => v.info.store.id === storeId);
    if (!view) throw new SchedulerError(SchedulerErrorCode.StoreNotFound, `store ${storeId} not found`);
    return view;
  }
  async deleteStore(storeId: number): Promise<void> {
    const view = this.store(storeId);
    if (view.stateName === 'Tombstone') throw new SchedulerError(SchedulerErrorCode.StoreTombstone, `store ${storeId} is a tombstone`);
    this.calls.push(['deleteStore', storeId]);
  }
  regions(): RegionInfo[] {
    return this.regionInfos;
  }
  region(regionId: number): RegionInfo {
    const info = this.regionInfos.find((r) => r.region.id === regionId);
    if (!info) throw new SchedulerError(SchedulerErrorCode.RegionNotFound, `region ${regionId} not found`);
    return info;
  }
  regionByKey(key: Uint8Array): RegionInfo {
    this.calls.push(['regionByKey', Buffer.from(key).toString('utf8')]);
    const info = this.regionInfos.find(
      (r) => compareBytes(r.region.startKey, key) <= 0 && (r.region.endKey.length === 0 || compareBytes(key, r.region.endKey) < 0),
    );
    if (!info) throw new SchedulerError(SchedulerErrorCode.RegionNotFound, 'no region for the key');
    return info;
  }
  operators(): OperatorView[] {
    return this.operatorViews.filter((o) => o.status === 'running');
  }
  operatorHistory(): OperatorView[] {
    return this.operatorViews.filter((o) => o.status !== 'running');
  }
  operator(regionId: number): OperatorView {
    const view = this.operatorViews.find((o) => o.regionId === regionId);
    if (!view) throw new SchedulerError(SchedulerErrorCode.RegionNotFound, `region ${regionId} has had no operator`);
    return view;
  }
  async addOperator(request: OperatorRequest): Promise<OperatorView> {
    this.region(request.regionId);
    if (this.operatorViews.some((o) => o.regionId === request.regionId && o.status === 'running')) {
      throw new SchedulerError(SchedulerErrorCode.OperatorExists, `region ${request.regionId} has an operator running`);
    }
    this.calls.push(['addOperator', request]);
    const view: OperatorView = {
      regionId: request.regionId,
      desc: `admin-${request.name}`,
      kind: 'admin',
      status: 'running',
      steps: request.name === 'transfer-leader' ? [{ type: 'transfer-leader', fromStore: 1, toStore: request.toStoreId }] : [],
      stepIndex: 0,
      createdMs: NOW_MS,
      finishedMs: undefined,
      text: `admin-${request.name}`,
    };
    this.operatorViews.push(view);
    return view;
  }
  removeOperator(regionId: number): boolean {
    const view = this.operatorViews.find((o) => o.regionId === regionId && o.status === 'running');
    if (!view) return false;
    this.operatorViews = this.operatorViews.map((o) => (o === view ? { ...o, status: 'cancel', finishedMs: NOW_MS } : o));
    return true;
  }
  schedulers(): SchedulerEntry[] {
    return this.schedulerEntries;
  }
  async addScheduler(name: string): Promise<void> {
    if (!['balance-region-scheduler', 'balance-leader-scheduler'].includes(name)) {
      throw new SchedulerError(SchedulerErrorCode.SchedulerNotFound, `unknown scheduler ${name}`);
    }
    if (this.schedulerEntries.some((s) => s.name === name)) throw new SchedulerError(SchedulerErrorCode.SchedulerExists, `${name} exists`);
    this.schedulerEntries = [...this.schedulerEntries, { name, pausedUntilMs: 0 }];
  }
  async removeScheduler(name: string): Promise<void> {
    this.findScheduler(name);
    this.schedulerEntries = this.schedulerEntries.filter((s) => s.name !== name);
  }
  async pauseScheduler(name: string, delaySeconds: number): Promise<void> {
    this.findScheduler(name);
    this.calls.push(['pauseScheduler', name, delaySeconds]);
    this.schedulerEntries = this.schedulerEntries.map((s) =>
      s.name === name ? { name, pausedUntilMs: delaySeconds === 0 ? 0 : NOW_MS + delaySeconds * 1_000 } : s,
    );
  }
  config(): ScheduleConfig {
    return this.scheduleConfig;
  }
  async setConfig(patch: Partial<ScheduleConfig>): Promise<ScheduleConfig> {
    this.calls.push(['setConfig', patch]);
    this.scheduleConfig = { ...this.scheduleConfig, ...patch };
    return this.scheduleConfig;
  }

  private findScheduler(name: string): void {
    if (!this.schedulerEntries.some((s) => s.name === name)) throw new SchedulerError(SchedulerErrorCode.SchedulerNotFound, `no scheduler ${name}`);
  }
}
