// The operator controller (src/scheduler/schedule/operator-controller.ts): dispatch sends the
// current step's command, again on every heartbeat until it is seen done; timeouts, stale
// cancellation, one operator per region, limits per kind, the bounded history; and the core's
// wiring: heartbeats dispatch, GetOperator answers the running or latest operator.
import { credentials, type ServiceError } from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/env/clock.js';
import { silentLogger } from '../../src/log/logger.js';
import { ConfChangeType } from '../../src/proto/eraftpb.js';
import {
  CheckPolicy,
  ErrorType,
  OperatorStatus,
  SchedulerClient as GrpcSchedulerClient,
  type GetOperatorResponse,
  type RegionHeartbeatResponse,
} from '../../src/proto/schedulerpb.js';
import type { RegionInfo } from '../../src/scheduler/cluster-state.js';
import { SchedulerError, SchedulerErrorCode } from '../../src/scheduler/errors.js';
import type { HeartbeatSink } from '../../src/scheduler/heartbeat-streams.js';
import {
  OpKind,
  createAddPeerOperator,
  createMovePeerOperator,
  createRemovePeerOperator,
  createSplitRegionOperator,
  createTransferLeaderOperator,
  type Operator,
} from '../../src/scheduler/schedule/operator.js';
import { OperatorController, type HeartbeatCommand } from '../../src/scheduler/schedule/operator-controller.js';
import { DEFAULT_SCHEDULE_CONFIG, type ScheduleConfig } from '../../src/scheduler/schedule/schedule-config.js';
import { startScheduler } from '../../src/scheduler/scheduler-server.js';
import { defined } from '../../src/util/assert.js';
import { key, store } from './helpers.js';
import { p, regionInfo } from './operator-fixtures.js';

const THREE = [p(11, 1), p(12, 2), p(13, 3)];
const BASE = regionInfo({ peers: THREE, leaderStore: 1 });

function setup(config: Partial<ScheduleConfig> = {}, historySize?: number, regionOf?: (regionId: number) => RegionInfo | undefined) {
  const clock = new ManualClock(1_000);
  const sent: Array<[number, HeartbeatCommand]> = [];
  const controller = new OperatorController({
    clock,
    send: (info: RegionInfo, command: HeartbeatCommand) => sent.push([info.region.id, command]) > 0,
    config: () => ({ ...DEFAULT_SCHEDULE_CONFIG, ...config }),
    logger: silentLogger(),
    historySize,
    regionOf,
  });
  return { clock, sent, controller };
}

function codeOf(run: () => void): string | undefined {
  try {
    run();
    return undefined;
  } catch (err) {
    return err instanceof SchedulerError ? err.code : String(err);
  }
}

/** Region `id` (another than 7), for operators on many regions. */
function regionNumbered(id: number): RegionInfo {
  return { ...BASE, region: { ...BASE.region, id } };
}

describe('OperatorController', () => {
  it('sends add-peer on every heartbeat until the peer is seen, nothing while it is pending, success when caught up', () => {
    const { sent, controller } = setup();
    const op = createAddPeerOperator('admin-add-peer', BASE, p(14, 4), OpKind.Admin, 1_000);
    controller.addOperator(op);
    controller.dispatch(BASE);
    controller.dispatch(BASE);
    const addNode = { changePeer: { peer: { id: 14, storeId: 4 }, changeType: ConfChangeType.AddNode } };
    expect(sent).toEqual([
      [7, addNode],
      [7, addNode],
    ]);
    const four = [...THREE, p(14, 4)];
    controller.dispatch(regionInfo({ peers: four, leaderStore: 1, confVer: 6, pending: [14] }));
    expect(sent).toHaveLength(2);
    expect(controller.getRunning(7)).toBe(op);
    controller.dispatch(regionInfo({ peers: four, leaderStore: 1, confVer: 6 }));
    expect(op.status).toBe('success');
    expect(controller.getRunning(7)).toBeUndefined();
    expect(controller.getLatest(7)).toBe(op);
    expect(controller.history()).toEqual([op]);
  });

  it('sends the first step when the operator is added, from the region as last reported (PD dispatches on create)', () => {
    let known: RegionInfo | undefined = BASE;
    const { sent, controller } = setup({}, undefined, () => known);
    controller.addOperator(createTransferLeaderOperator('admin-transfer-leader', BASE, 2, OpKind.Admin, 1_000));
    expect(sent).toEqual([[7, { transferLeader: { peer: { id: 12, storeId: 2 } } }]]);
    // A region that moved on while the operator was being made cancels it instead of being sent a stale step.
    known = regionInfo({ peers: THREE, leaderStore: 1, confVer: 7 });
    const stale = createAddPeerOperator('admin-add-peer', BASE, p(14, 4), OpKind.Admin, 1_000);
    controller.addOperator(stale, { replace: true });
    expect(stale.status).toBe('cancel');
    expect(sent).toHaveLength(1);
  });

  it('sends each step of a move in turn: remove-peer names the peer, transfer-leader the target peer', () => {
    const { sent, controller } = setup();
    const region = regionInfo({ peers: THREE, leaderStore: 2 });
    controller.addOperator(createMovePeerOperator('balance-region', region, OpKind.Balance, 2, p(14, 4), 1_000));
    const four = [...THREE, p(14, 4)];
    controller.dispatch(regionInfo({ peers: four, leaderStore: 2, confVer: 6 }));
    controller.dispatch(regionInfo({ peers: four, leaderStore: 1, confVer: 6 }));
    expect(sent.map(([, command]) => command)).toEqual([
      { transferLeader: { peer: p(11, 1) } },
      { changePeer: { peer: p(12, 2), changeType: ConfChangeType.RemoveNode } },
    ]);
    controller.dispatch(regionInfo({ peers: [p(11, 1), p(13, 3), p(14, 4)], leaderStore: 1, confVer: 7 }));
    expect(controller.getLatest(7)?.status).toBe('success');
  });

  it('sends split_region with USEKEY keys, or APPROXIMATE when none, until the version moves', () => {
    const { sent, controller } = setup();
    controller.addOperator(createSplitRegionOperator('admin-split-region', BASE, [key('k')], OpKind.Admin, 1_000));
    controller.addOperator(createSplitRegionOperator('admin-split-region', regionNumbered(8), [], OpKind.Admin, 1_000));
    controller.dispatch(BASE);
    controller.dispatch(regionNumbered(8));
    expect(sent).toEqual([
      [7, { splitRegion: { policy: CheckPolicy.USEKEY, keys: [key('k')] } }],
      [8, { splitRegion: { policy: CheckPolicy.APPROXIMATE, keys: [] } }],
    ]);
    controller.dispatch(regionInfo({ peers: THREE, leaderStore: 1, version: 4 }));
    expect(controller.getLatest(7)?.status).toBe('success');
  });

  it('times out on a late heartbeat, and through checkTimeouts for a region that stopped reporting', () => {
    const { clock, sent, controller } = setup();
    const op = createTransferLeaderOperator('balance-leader', BASE, 2, OpKind.Balance, clock.nowMs());
    controller.addOperator(op);
    clock.advance(op.timeoutMs);
    controller.dispatch(BASE);
    expect(op.status).toBe('timeout');
    expect(sent).toEqual([]);
    const silent = createTransferLeaderOperator('balance-leader', BASE, 3, OpKind.Balance, clock.nowMs());
    controller.addOperator(silent);
    clock.advance(silent.timeoutMs - 1);
    controller.checkTimeouts();
    expect(silent.status).toBe('running');
    clock.advance(1);
    controller.checkTimeouts();
    expect(silent.status).toBe('timeout');
    expect(silent.finishedMs).toBe(clock.nowMs());
  });

  it('cancels an operator whose region conf_ver moved past it, without sending', () => {
    const { sent, controller } = setup();
    const op = createRemovePeerOperator('remove-extra', BASE, 3, OpKind.Replica, 1_000);
    controller.addOperator(op);
    controller.dispatch(regionInfo({ peers: [...THREE, p(15, 5)], leaderStore: 1, confVer: 6 }));
    expect(op.status).toBe('cancel');
    expect(sent).toEqual([]);
  });

  it('one operator per region: OperatorExists unless an admin replaces it (status replace)', () => {
    const { controller } = setup();
    const first = createTransferLeaderOperator('balance-leader', BASE, 2, OpKind.Balance, 1_000);
    controller.addOperator(first);
    const second = createTransferLeaderOperator('admin-transfer-leader', BASE, 3, OpKind.Admin, 1_000);
    expect(codeOf(() => controller.addOperator(second))).toBe(SchedulerErrorCode.OperatorExists);
    controller.addOperator(second, { replace: true });
    expect(first.status).toBe('replace');
    expect(controller.getRunning(7)).toBe(second);
    expect(controller.removeOperator(7)).toBe(second);
    expect(second.status).toBe('cancel');
    expect(controller.removeOperator(7)).toBeUndefined();
    expect(codeOf(() => controller.addOperator(second))).toBe(SchedulerErrorCode.OperatorRejected);
  });

  it('limits per kind from the live config; admin operators skip them', () => {
    const { controller } = setup({ leaderScheduleLimit: 1, regionScheduleLimit: 2, replicaScheduleLimit: 1 });
    const leaderOp = (id: number, kind: number): Operator => createTransferLeaderOperator('t', regionNumbered(id), 2, kind, 1_000);
    const regionOp = (id: number, kind: number): Operator => createAddPeerOperator('a', regionNumbered(id), p(id * 10, 4), kind, 1_000);
    controller.addOperator(leaderOp(1, OpKind.Balance));
    expect(codeOf(() => controller.addOperator(leaderOp(2, OpKind.Balance)))).toBe(SchedulerErrorCode.OperatorRejected);
    controller.addOperator(leaderOp(2, OpKind.Admin));
    controller.addOperator(regionOp(3, OpKind.Replica));
    expect(codeOf(() => controller.addOperator(regionOp(4, OpKind.Replica)))).toBe(SchedulerErrorCode.OperatorRejected);
    controller.addOperator(regionOp(4, OpKind.Balance));
    expect(codeOf(() => controller.addOperator(regionOp(5, OpKind.Balance)))).toBe(SchedulerErrorCode.OperatorRejected);
    expect([controller.opCount(OpKind.Leader), controller.opCount(OpKind.Region), controller.opCount(OpKind.Replica)]).toEqual([2, 2, 1]);
    expect(controller.running()).toHaveLength(4);
  });

  it('keeps at most historySize finished operators, dropping the oldest', () => {
    const { controller } = setup({}, 3);
    for (let id = 1; id <= 5; id++) {
      controller.addOperator(createTransferLeaderOperator('t', regionNumbered(id), 2, 0, 1_000));
      controller.removeOperator(id);
    }
    expect(controller.history().map((op) => op.regionId)).toEqual([3, 4, 5]);
    expect(controller.getLatest(1)).toBeUndefined();
    expect(controller.getLatest(5)?.status).toBe('cancel');
  });
});

function sink(): HeartbeatSink & { received: RegionHeartbeatResponse[] } {
  const received: RegionHeartbeatResponse[] = [];
  return { received, write: (r) => received.push(r) > 0, end: () => {} };
}

function call<Res>(invoke: (cb: (err: ServiceError | null, res: Res) => void) => unknown): Promise<Res> {
  return new Promise((resolve, reject) => invoke((err, res) => (err ? reject(err) : resolve(res))));
}

describe('operators in the scheduler', () => {
  it('region heartbeats dispatch the region operator; GetOperator answers running, then the finished one', async () => {
    const scheduler = await startScheduler({ addr: '127.0.0.1:0', engine: 'memory', initialStores: 0 });
    const raw = new GrpcSchedulerClient(scheduler.addr, credentials.createInsecure());
    try {
      const { core } = scheduler;
      await core.bootstrap(store(1));
      for (const id of [2, 3]) await core.putStore(store(id));
      const region = { ...BASE.region, id: 7 };
      const stream = sink();
      const first = await core.regionHeartbeat({ region, leader: THREE[0] }, stream);
      const header = { clusterId: scheduler.clusterId };
      const none = await call<GetOperatorResponse>((cb) => raw.getOperator({ header, regionId: 7n }, cb));
      expect(none.header?.error?.type).toBe(ErrorType.REGION_NOT_FOUND);

      // Sent when added (from the region as last reported), and again on the next heartbeat.
      core.operators.addOperator(createTransferLeaderOperator('admin-transfer-leader', first.region, 2, OpKind.Admin, Date.now()));
      expect(stream.received.map((r) => [r.regionId, r.targetPeer, r.transferLeader?.peer])).toEqual([[7n, THREE[0], THREE[1]]]);
      await core.regionHeartbeat({ region, leader: THREE[0] }, stream);
      expect(stream.received.map((r) => [r.regionId, r.targetPeer, r.transferLeader?.peer])).toEqual([
        [7n, THREE[0], THREE[1]],
        [7n, THREE[0], THREE[1]],
      ]);
      const running = await call<GetOperatorResponse>((cb) => raw.getOperator({ header, regionId: 7n }, cb));
      expect(running).toMatchObject({ regionId: 7n, status: OperatorStatus.RUNNING });
      expect(Buffer.from(running.desc).toString()).toBe('admin-transfer-leader');
      expect(Buffer.from(running.kind).toString()).toBe('leader,admin');

      // The new leader reports on its own stream: the step is done.
      await core.regionHeartbeat({ region, leader: THREE[1] }, sink());
      const done = await call<GetOperatorResponse>((cb) => raw.getOperator({ header, regionId: 7n }, cb));
      expect(done.status).toBe(OperatorStatus.SUCCESS);
      expect(defined(core.operators.getLatest(7), 'latest').status).toBe('success');
    } finally {
      raw.close();
      await scheduler.close();
    }
  });
});
