import { afterEach, describe, expect, it } from 'vitest';
import { StoreState } from '../../src/proto/metapb.js';
import { SchedulerErrorCode } from '../../src/scheduler/errors.js';
import { defined } from '../../src/util/assert.js';
import {
  MAX_SCHEDULE_INTERVAL_MS,
  MAX_SCHEDULE_RETRIES,
  PATROL_BATCH_REGIONS,
  PREPARE_CHECK_INTERVAL_MS,
} from '../../src/scheduler/schedule/coordinator.js';
import { OpKind, createAddPeerOperator, createTransferLeaderOperator } from '../../src/scheduler/schedule/operator.js';
import { StoreStats } from '../../src/proto/schedulerpb.js';
import { PREPARE_MAX_WAIT_MS } from '../../src/scheduler/schedule/prepare-checker.js';
import { coordinatorFixture, regionAt, START_MS } from './coordinator-fixture.js';
import { peer, store } from './helpers.js';

type Fixture = Awaited<ReturnType<typeof coordinatorFixture>>;
let current: Fixture | undefined;

async function fixture(options: Parameters<typeof coordinatorFixture>[0] = {}): Promise<Fixture> {
  current = await coordinatorFixture(options);
  return current;
}

afterEach(async () => {
  await current?.coordinator.close();
  current = undefined;
});

/** Distinct round start times (each round makes up to MAX_SCHEDULE_RETRIES calls at one instant). */
function rounds(calls: readonly number[]): number[] {
  return [...new Set(calls)].map((ms) => ms - START_MS);
}

describe('Coordinator', () => {
  it('runs each configured scheduler on its own timer and backs off while it finds nothing', async () => {
    const f = await fixture();
    await f.configStore.removeScheduler('balance-leader-scheduler');
    f.coordinator.start();
    await f.timers.advance(20_000);
    const scheduler = f.schedulers.get('balance-region-scheduler');
    // Rounds at 10, then the interval doubles (the fake's nextIntervalMs) up to the 5 s cap.
    expect(rounds(scheduler?.calls ?? []).slice(0, 6)).toEqual([10, 30, 70, 150, 310, 630]);
    const times = rounds(scheduler?.calls ?? []);
    const gaps = times.slice(1).map((t, i) => t - (times[i] ?? 0));
    expect(Math.max(...gaps)).toBe(MAX_SCHEDULE_INTERVAL_MS);
    // Every round tries MAX_SCHEDULE_RETRIES times.
    expect(scheduler?.calls.length).toBe(times.length * MAX_SCHEDULE_RETRIES);
    expect(f.schedulers.has('balance-leader-scheduler')).toBe(false);
  });

  it('keeps the minimum interval while operators are added, and stops at the kind limit', async () => {
    const f = await fixture({ loadedRegions: 0 });
    for (let i = 0; i < 8; i++) f.state.processRegionHeartbeat(regionAt(i, 8), peer((i + 1) * 10 + 1, 1));
    await f.configStore.setConfig({ leaderScheduleLimit: 3 });
    const scheduler = f.createScheduler('balance-leader-scheduler');
    scheduler.allowed = (opCount) => opCount(OpKind.Leader) < f.configStore.config().leaderScheduleLimit;
    scheduler.propose = (cluster) => {
      const free = f.state.allRegions().find((r) => !f.controller.getRunning(r.region.id));
      return free && createTransferLeaderOperator('test', free, 2, OpKind.Balance, cluster.nowMs());
    };
    f.coordinator.start();
    await f.timers.advance(1_000);
    expect(f.controller.opCount(OpKind.Leader)).toBe(3);
    // Three rounds 10 ms apart added one operator each; after that the limit holds it back.
    expect(rounds(scheduler.calls)).toEqual([10, 20, 30]);
    expect(scheduler.calls.length).toBe(3);
  });

  it('waits for most regions to report (or 5 minutes) before scheduling', async () => {
    const f = await fixture({ loadedRegions: 10 });
    f.coordinator.start();
    await f.timers.advance(10 * PREPARE_CHECK_INTERVAL_MS);
    expect(f.coordinator.isPrepared).toBe(false);
    expect(f.schedulers.size).toBe(0);
    for (let i = 0; i < 8; i++) f.state.processRegionHeartbeat(regionAt(i, 10), peer((i + 1) * 10 + 1, 1));
    await f.timers.advance(PREPARE_CHECK_INTERVAL_MS);
    expect(f.coordinator.isPrepared).toBe(true);
    await f.timers.advance(100);
    expect(f.schedulers.get('balance-region-scheduler')?.calls.length).toBeGreaterThan(0);

    const g = await coordinatorFixture({ loadedRegions: 10 });
    g.coordinator.start();
    await g.timers.advance(PREPARE_MAX_WAIT_MS + PREPARE_CHECK_INTERVAL_MS);
    expect(g.coordinator.isPrepared).toBe(true);
    await g.coordinator.close();
  });

  it('waits for the bootstrap before scheduling', async () => {
    const bootstrapped = { value: false };
    const f = await fixture({ bootstrapped });
    f.coordinator.start();
    await f.timers.advance(5 * PREPARE_CHECK_INTERVAL_MS);
    expect(f.schedulers.size).toBe(0);
    bootstrapped.value = true;
    await f.timers.advance(PREPARE_CHECK_INTERVAL_MS + 100);
    expect(f.schedulers.get('balance-region-scheduler')?.calls.length).toBeGreaterThan(0);
  });

  it('skips a paused scheduler until the pause ends, and resumes on a 0 delay', async () => {
    const f = await fixture();
    f.coordinator.start();
    await f.timers.advance(100);
    await f.coordinator.pauseScheduler('balance-region-scheduler', 60);
    const scheduler = f.schedulers.get('balance-region-scheduler');
    const before = scheduler?.calls.length ?? 0;
    await f.timers.advance(59_000);
    expect(scheduler?.calls.length).toBe(before);
    expect(f.schedulers.get('balance-leader-scheduler')?.calls.length).toBeGreaterThan(before);
    await f.timers.advance(1_000 + MAX_SCHEDULE_INTERVAL_MS);
    expect(scheduler?.calls.length).toBeGreaterThan(before);

    await f.coordinator.pauseScheduler('balance-region-scheduler', 3600);
    const paused = scheduler?.calls.length ?? 0;
    await f.timers.advance(10_000);
    expect(scheduler?.calls.length).toBe(paused);
    await f.coordinator.pauseScheduler('balance-region-scheduler', 0);
    await f.timers.advance(MAX_SCHEDULE_INTERVAL_MS);
    expect(scheduler?.calls.length).toBeGreaterThan(paused);
  });

  it('adds and removes schedulers at run time and persists the list', async () => {
    const f = await fixture();
    f.coordinator.start();
    await f.timers.advance(100);
    await expect(f.coordinator.addScheduler('nope')).rejects.toMatchObject({ code: SchedulerErrorCode.SchedulerNotFound });
    await expect(f.coordinator.addScheduler('balance-region-scheduler')).rejects.toMatchObject({ code: SchedulerErrorCode.SchedulerExists });
    await expect(f.coordinator.removeScheduler('a-scheduler')).rejects.toMatchObject({ code: SchedulerErrorCode.SchedulerNotFound });
    await f.coordinator.addScheduler('a-scheduler');
    await f.timers.advance(100);
    expect(f.schedulers.get('a-scheduler')?.calls.length).toBeGreaterThan(0);
    await f.coordinator.removeScheduler('balance-region-scheduler');
    const removed = f.schedulers.get('balance-region-scheduler');
    const count = removed?.calls.length ?? 0;
    await f.timers.advance(20_000);
    expect(removed?.calls.length).toBe(count);
    expect(f.configStore.schedulers().map((e) => e.name)).toEqual(['balance-leader-scheduler', 'a-scheduler']);
    expect(f.coordinator.runningSchedulers().sort()).toEqual(['a-scheduler', 'balance-leader-scheduler']);
  });

  it('keeps running the other schedulers, and the failing one, when a scheduler throws', async () => {
    const f = await fixture();
    f.coordinator.start();
    const failing = f.createScheduler('balance-region-scheduler');
    failing.propose = () => {
      throw new Error('boom');
    };
    await f.timers.advance(30_000);
    expect(rounds(failing.calls).length).toBeGreaterThan(3);
    expect(rounds(f.schedulers.get('balance-leader-scheduler')?.calls ?? []).length).toBeGreaterThan(3);
  });

  it('patrols every region in batches, wrapping around, skipping regions with an operator', async () => {
    const count = 2 * PATROL_BATCH_REGIONS + 44;
    const f = await fixture();
    for (let i = 0; i < count; i++) f.state.processRegionHeartbeat(regionAt(i, count), peer((i + 1) * 10 + 1, 1));
    const busy = defined(f.state.getRegionById(5), 'region 5');
    f.controller.addOperator(createTransferLeaderOperator('busy', busy, 2, OpKind.Admin, START_MS));
    f.coordinator.start();
    // Rounds at 0, 100, 200 ms cover every region once (patrolRegionIntervalMs defaults to 100).
    await f.timers.advance(250);
    const ids = new Set(f.checked);
    expect(f.checked.length).toBe(count - 1);
    expect(ids.size).toBe(count - 1);
    expect(ids.has(5)).toBe(false);
    await f.timers.advance(100);
    expect(f.checked.filter((id) => id === 1).length).toBe(2);
  });

  it('stops patrolling at the replica schedule limit and resumes where it stopped', async () => {
    const f = await fixture();
    const count = 40;
    for (let i = 0; i < count; i++) f.state.processRegionHeartbeat(regionAt(i, count), peer((i + 1) * 10 + 1, 1));
    await f.configStore.setConfig({ replicaScheduleLimit: 5, leaderScheduleLimit: 100 });
    f.checker.propose = (r) => createTransferLeaderOperator('make-up-replica', r, 2, OpKind.Replica, START_MS);
    f.coordinator.start();
    await f.timers.advance(50);
    expect(f.controller.opCount(OpKind.Replica)).toBe(5);
    expect(f.checked).toEqual([1, 2, 3, 4, 5]);
    for (const op of f.controller.running()) f.controller.removeOperator(op.regionId);
    await f.timers.advance(100);
    expect(f.checked.slice(5)).toEqual([6, 7, 8, 9, 10]);
  });

  it('tombstones an offline store with no peers, checks operator timeouts, from the start', async () => {
    const f = await fixture({ stores: 5, loadedRegions: 4 });
    f.state.loadStore(store(4, '127.0.0.1:20164', StoreState.Offline));
    f.state.loadStore(store(5, '127.0.0.1:20165', StoreState.Offline));
    f.state.loadRegion(regionAt(0, 4), undefined);
    // Store 5 still holds a peer of a region.
    const r2 = regionAt(1, 4);
    f.state.loadRegion({ ...r2, peers: [...r2.peers.slice(0, 2), { id: 99, storeId: 5 }] });
    const op = createTransferLeaderOperator('old', defined(f.state.getRegionById(3), 'region 3'), 2, OpKind.Admin, START_MS);
    f.controller.addOperator(op);
    f.coordinator.start();
    await f.timers.advance(10_001);
    expect(f.coordinator.isPrepared).toBe(false);
    expect(f.tombstoned).toEqual([4]);
    expect(f.state.getStore(4)?.store.state).toBe(StoreState.Tombstone);
    expect(op.status).toBe('timeout');
  });

  it('cancels an operator whose next steps move a peer or leader onto a store that cannot take it', async () => {
    const f = await fixture({ stores: 4, loadedRegions: 2 });
    for (const id of [1, 2, 3, 4]) f.state.storeHeartbeat(id, StoreStats.fromPartial({ storeId: BigInt(id) }));
    const region = defined(f.state.getRegionById(defined(f.state.allRegions()[0], 'a region').region.id), 'the region');
    const toStore4 = createAddPeerOperator('move', region, { id: 500, storeId: 4 }, OpKind.Balance, START_MS);
    f.controller.addOperator(toStore4);
    f.coordinator.start();
    await f.timers.advance(2_001);
    expect(toStore4.status).toBe('running');
    // Store 4 is deleted (Offline): nothing may move onto it any more.
    f.state.setStoreOffline(4);
    await f.timers.advance(2_001);
    expect(toStore4.status).toBe('cancel');
    expect(f.controller.getRunning(region.region.id)).toBeUndefined();
  });

  it('close stops every timer and nothing runs after it', async () => {
    const f = await fixture({ loadedRegions: 3 });
    f.coordinator.start();
    await f.timers.advance(PREPARE_MAX_WAIT_MS);
    expect(f.coordinator.isPrepared).toBe(true);
    expect(f.timers.size).toBeGreaterThan(0);
    await f.coordinator.close();
    expect(f.timers.size).toBe(0);
    const calls = [...f.schedulers.values()].map((s) => s.calls.length);
    const checked = f.checked.length;
    await f.timers.advance(60_000);
    expect([...f.schedulers.values()].map((s) => s.calls.length)).toEqual(calls);
    expect(f.checked.length).toBe(checked);
    f.coordinator.start();
    expect(f.timers.size).toBe(0);
  });
});
