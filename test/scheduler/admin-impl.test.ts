import { afterEach, describe, expect, it } from 'vitest';
import { StoreState } from '../../src/proto/metapb.js';
import { StoreStats } from '../../src/proto/schedulerpb.js';
import { SchedulerAdminImpl } from '../../src/scheduler/admin-impl.js';
import { STORE_DISCONNECTED_AFTER_MS } from '../../src/scheduler/schedule/schedule-config.js';
import { SchedulerErrorCode } from '../../src/scheduler/errors.js';
import { defined } from '../../src/util/assert.js';
import { OpKind, createTransferLeaderOperator } from '../../src/scheduler/schedule/operator.js';
import { coordinatorFixture, regionAt } from './coordinator-fixture.js';
import { encodeBytes } from '../../src/txn/codec.js';
import { key, peer, region, store, withChanges } from './helpers.js';

type Fixture = Awaited<ReturnType<typeof adminFixture>>;
let current: Fixture | undefined;

/** Stores 1-5, regions 1-3 on stores 1-3 led from store 1 (region 1: ['', r00001), ...). */
async function adminFixture() {
  const f = await coordinatorFixture({ stores: 5 });
  for (let i = 0; i < 3; i++) f.state.processRegionHeartbeat(regionAt(i, 3), peer((i + 1) * 10 + 1, 1));
  let nextId = 1000;
  const deleted: number[] = [];
  const admin = new SchedulerAdminImpl({
    core: {
      clusterId: 42n,
      isBootstrapped: true,
      state: f.state,
      allocId: () => Promise.resolve(nextId++),
      deleteStore: (id) => {
        deleted.push(id);
        return Promise.resolve();
      },
    },
    controller: f.controller,
    coordinator: f.coordinator,
    configStore: f.configStore,
    cluster: f.cluster,
    clock: f.clock,
    bootstrapTimeMs: () => 123,
    advertiseAddr: () => '127.0.0.1:2379',
  });
  const fixture = { ...f, admin, deleted };
  current = fixture;
  return fixture;
}

afterEach(async () => {
  await current?.coordinator.close();
  current = undefined;
});

const code = (c: string) => expect.objectContaining({ code: c });

describe('SchedulerAdminImpl operators', () => {
  it('add-peer allocates a peer id on an Up store without the region', async () => {
    const { admin } = await adminFixture();
    const view = await admin.addOperator({ name: 'add-peer', regionId: 2, storeId: 4 });
    expect(view).toMatchObject({ regionId: 2, desc: 'admin-add-peer', status: 'running', stepIndex: 0 });
    expect(view.steps).toEqual([{ type: 'add-peer', toStore: 4, peerId: 1000 }]);
    expect(view.kind).toBe('region,admin');
    expect(admin.operators().map((o) => o.regionId)).toEqual([2]);
  });

  it('add-peer refuses unknown regions and stores, a store holding the region, and stores not up', async () => {
    const f = await adminFixture();
    await expect(f.admin.addOperator({ name: 'add-peer', regionId: 9, storeId: 4 })).rejects.toEqual(code(SchedulerErrorCode.RegionNotFound));
    await expect(f.admin.addOperator({ name: 'add-peer', regionId: 1, storeId: 9 })).rejects.toEqual(code(SchedulerErrorCode.StoreNotFound));
    await expect(f.admin.addOperator({ name: 'add-peer', regionId: 1, storeId: 2 })).rejects.toEqual(code(SchedulerErrorCode.InvalidArgument));
    await expect(f.admin.addOperator({ name: 'add-peer', regionId: 0, storeId: 4 })).rejects.toEqual(code(SchedulerErrorCode.InvalidArgument));
    f.state.loadStore(store(4, '127.0.0.1:20164', StoreState.Offline));
    await expect(f.admin.addOperator({ name: 'add-peer', regionId: 1, storeId: 4 })).rejects.toEqual(code(SchedulerErrorCode.InvalidArgument));
    f.clock.advance(f.configStore.config().maxStoreDownTimeMs);
    await expect(f.admin.addOperator({ name: 'add-peer', regionId: 1, storeId: 5 })).rejects.toEqual(code(SchedulerErrorCode.InvalidArgument));
    expect(f.admin.operators()).toEqual([]);
  });

  it('remove-peer moves the leader away first when it removes the leader store', async () => {
    const { admin } = await adminFixture();
    const view = await admin.addOperator({ name: 'remove-peer', regionId: 1, storeId: 1 });
    expect(view.steps).toEqual([
      { type: 'transfer-leader', fromStore: 1, toStore: 2 },
      { type: 'remove-peer', fromStore: 1 },
    ]);
    const follower = await admin.addOperator({ name: 'remove-peer', regionId: 2, storeId: 3 });
    expect(follower.steps).toEqual([{ type: 'remove-peer', fromStore: 3 }]);
    await expect(admin.addOperator({ name: 'remove-peer', regionId: 3, storeId: 4 })).rejects.toEqual(code(SchedulerErrorCode.InvalidArgument));
  });

  it('transfer-leader needs a peer on the store that is not already the leader', async () => {
    const { admin } = await adminFixture();
    const view = await admin.addOperator({ name: 'transfer-leader', regionId: 1, toStoreId: 3 });
    expect(view.steps).toEqual([{ type: 'transfer-leader', fromStore: 1, toStore: 3 }]);
    expect(view.kind).toBe('leader,admin');
    await expect(admin.addOperator({ name: 'transfer-leader', regionId: 2, toStoreId: 4 })).rejects.toEqual(code(SchedulerErrorCode.InvalidArgument));
    await expect(admin.addOperator({ name: 'transfer-leader', regionId: 2, toStoreId: 1 })).rejects.toEqual(code(SchedulerErrorCode.InvalidArgument));
  });

  it('transfer-region adds every new peer, then moves the leader off a leaving store, then removes', async () => {
    const { admin, controller, state } = await adminFixture();
    const view = await admin.addOperator({ name: 'transfer-region', regionId: 1, toStoreIds: [3, 4, 5] });
    expect(view.steps).toEqual([
      { type: 'add-peer', toStore: 4, peerId: 1000 },
      { type: 'add-peer', toStore: 5, peerId: 1001 },
      { type: 'transfer-leader', fromStore: 1, toStore: 3 },
      { type: 'remove-peer', fromStore: 1 },
      { type: 'remove-peer', fromStore: 2 },
    ]);
    expect(view.kind).toBe('leader,region,admin');
    // The steps are seen done in order as the region reports its way to stores 3, 4, 5.
    const op = controller.getRunning(1);
    const r = regionAt(0, 3);
    const withPeers = (confVer: number, peers: Array<[number, number]>, leader: [number, number]) => ({
      region: { ...r, regionEpoch: { confVer, version: 1 }, peers: peers.map(([id, storeId]) => peer(id, storeId)) },
      leader: peer(...leader),
      pendingPeers: [],
      downPeers: [],
      approximateSizeBytes: 0,
      approximateKeys: 0,
    });
    const all: Array<[number, number]> = [
      [11, 1],
      [12, 2],
      [13, 3],
      [1000, 4],
      [1001, 5],
    ];
    expect(op?.check(withPeers(3, all, [11, 1]))).toEqual({ type: 'transfer-leader', fromStore: 1, toStore: 3 });
    expect(op?.check(withPeers(5, all.slice(2), [13, 3]))).toBeUndefined();
    expect(state.getRegionById(1)).toBeDefined();

    await expect(admin.addOperator({ name: 'transfer-region', regionId: 2, toStoreIds: [] })).rejects.toEqual(
      code(SchedulerErrorCode.InvalidArgument),
    );
    await expect(admin.addOperator({ name: 'transfer-region', regionId: 2, toStoreIds: [4, 4] })).rejects.toEqual(
      code(SchedulerErrorCode.InvalidArgument),
    );
    await expect(admin.addOperator({ name: 'transfer-region', regionId: 2, toStoreIds: [3, 2, 1] })).rejects.toEqual(
      code(SchedulerErrorCode.InvalidArgument),
    );
    await expect(admin.addOperator({ name: 'transfer-region', regionId: 2, toStoreIds: [1, 9] })).rejects.toEqual(
      code(SchedulerErrorCode.StoreNotFound),
    );
    // Keeping the leader's store: no leader transfer.
    const keep = await admin.addOperator({ name: 'transfer-region', regionId: 3, toStoreIds: [1, 4] });
    expect(keep.steps.map((s) => s.type)).toEqual(['add-peer', 'remove-peer', 'remove-peer']);
    expect(keep.kind).toBe('region,admin');
  });

  it('split-region takes keys strictly inside the region, or none for the middle', async () => {
    const { admin } = await adminFixture();
    const view = await admin.addOperator({ name: 'split-region', regionId: 2, keys: [key('r00001a')] });
    expect(view.steps).toEqual([{ type: 'split-region', keys: [key('r00001a')] }]);
    expect(view.kind).toContain('admin');
    const middle = await admin.addOperator({ name: 'split-region', regionId: 3, keys: [] });
    expect(middle.steps).toEqual([{ type: 'split-region', keys: [] }]);
    await expect(admin.addOperator({ name: 'split-region', regionId: 1, keys: [key('r00001')] })).rejects.toEqual(
      code(SchedulerErrorCode.InvalidArgument),
    );
    await expect(admin.addOperator({ name: 'split-region', regionId: 1, keys: [key('')] })).rejects.toEqual(code(SchedulerErrorCode.InvalidArgument));
  });

  it('split-region judges a key where the store will cut: at its transactional encoding', async () => {
    const { admin, state } = await adminFixture();
    // Region 3 split by a store at the encoded user key "s" (as the split checker cuts): [r00002, enc(s)) and [enc(s), "").
    const cut = encodeBytes(key('s'));
    const left = withChanges(regionAt(2, 3), { endKey: cut, version: 2 });
    state.processRegionHeartbeat(left, peer(31, 1));
    const right = withChanges(
      region(4, '', '', { confVer: 1, version: 2 }, [
        [41, 1],
        [42, 2],
        [43, 3],
      ]),
      { startKey: cut },
    );
    state.processRegionHeartbeat(right, peer(41, 1));
    // Raw "s" sorts before enc("s"), but the store cuts at enc("s"), the region's end: it would never split.
    await expect(admin.addOperator({ name: 'split-region', regionId: 3, keys: [key('s')] })).rejects.toEqual(
      code(SchedulerErrorCode.InvalidArgument),
    );
    // Raw "s\0" sorts before enc("s") too, and so does its encoding: inside the right-hand region it is not.
    await expect(admin.addOperator({ name: 'split-region', regionId: 4, keys: [key('s')] })).rejects.toEqual(
      code(SchedulerErrorCode.InvalidArgument),
    );
    const view = await admin.addOperator({ name: 'split-region', regionId: 4, keys: [key('s\0')] });
    expect(view.steps).toEqual([{ type: 'split-region', keys: [key('s\0')] }]);
  });

  it('replaces a scheduler-made operator but not another admin operator', async () => {
    const { admin, controller, state } = await adminFixture();
    const balance = createTransferLeaderOperator('balance-leader', defined(state.getRegionById(1), 'region 1'), 2, OpKind.Balance, 0);
    controller.addOperator(balance);
    await admin.addOperator({ name: 'transfer-leader', regionId: 1, toStoreId: 3 });
    expect(balance.status).toBe('replace');
    await expect(admin.addOperator({ name: 'transfer-leader', regionId: 1, toStoreId: 2 })).rejects.toEqual(code(SchedulerErrorCode.OperatorExists));
    expect(admin.operator(1)).toMatchObject({ desc: 'admin-transfer-leader', status: 'running' });
    expect(admin.removeOperator(1)).toBe(true);
    expect(admin.removeOperator(1)).toBe(false);
    expect(admin.operator(1)).toMatchObject({ desc: 'admin-transfer-leader', status: 'cancel' });
    expect(admin.operators()).toEqual([]);
    expect(() => admin.operator(2)).toThrow(expect.objectContaining({ code: SchedulerErrorCode.RegionNotFound }));
  });
});

describe('SchedulerAdminImpl stores, regions, schedulers, config', () => {
  it('names store states: Up, Disconnected, Down, Offline, Tombstone', async () => {
    const f = await adminFixture();
    const beat = (id: number) => f.state.storeHeartbeat(id, StoreStats.fromPartial({ storeId: BigInt(id) }));
    f.state.loadStore(store(4, '127.0.0.1:20164', StoreState.Offline));
    f.state.loadStore(store(5, '127.0.0.1:20165', StoreState.Tombstone));
    beat(1);
    beat(2);
    f.clock.advance(STORE_DISCONNECTED_AFTER_MS);
    beat(1);
    expect(f.admin.stores().map((s) => s.stateName)).toEqual(['Up', 'Disconnected', 'Disconnected', 'Offline', 'Tombstone']);
    expect(f.admin.store(2).sinceHeartbeatMs).toBe(STORE_DISCONNECTED_AFTER_MS);
    expect(f.admin.store(3).sinceHeartbeatMs).toBeUndefined();
    f.clock.advance(f.configStore.config().maxStoreDownTimeMs);
    beat(1);
    expect(f.admin.store(2).stateName).toBe('Down');
    expect(f.admin.store(1).stateName).toBe('Up');
    expect(() => f.admin.store(9)).toThrow(expect.objectContaining({ code: SchedulerErrorCode.StoreNotFound }));
    await f.admin.deleteStore(2);
    expect(f.deleted).toEqual([2]);
    await expect(f.admin.deleteStore(9)).rejects.toEqual(code(SchedulerErrorCode.StoreNotFound));
  });

  it('finds regions by id and key', async () => {
    const { admin } = await adminFixture();
    expect(admin.regions().map((r) => r.region.id)).toEqual([1, 2, 3]);
    expect(admin.region(2).region.id).toBe(2);
    expect(admin.regionByKey(key('r00002x')).region.id).toBe(3);
    expect(() => admin.region(7)).toThrow(expect.objectContaining({ code: SchedulerErrorCode.RegionNotFound }));
  });

  it('reports cluster status and members', async () => {
    const { admin } = await adminFixture();
    expect(admin.clusterStatus()).toEqual({ clusterId: 42, bootstrapped: true, bootstrapTimeMs: 123, prepared: true });
    expect(admin.members()).toEqual([{ name: 'tinykv-scheduler', clientUrls: ['http://127.0.0.1:2379'], memberId: 42 }]);
  });

  it('manages schedulers through the coordinator and validates config', async () => {
    const { admin } = await adminFixture();
    await admin.removeScheduler('balance-leader-scheduler');
    await admin.addScheduler('a-scheduler');
    await admin.pauseScheduler('a-scheduler', 30);
    expect(admin.schedulers()).toEqual([
      { name: 'balance-region-scheduler', pausedUntilMs: 0 },
      { name: 'a-scheduler', pausedUntilMs: defined(current, 'fixture').clock.nowMs() + 30_000 },
    ]);
    await expect(admin.addScheduler('nope')).rejects.toEqual(code(SchedulerErrorCode.SchedulerNotFound));
    expect(await admin.setConfig({ maxReplicas: 5, leaderScheduleLimit: 0 })).toMatchObject({ maxReplicas: 5, leaderScheduleLimit: 0 });
    expect(admin.config().maxReplicas).toBe(5);
    const bads: Record<string, number>[] = [
      { maxReplicas: 0 },
      { maxStoreDownTimeMs: 999 },
      { regionScheduleLimit: -1 },
      { maxReplicas: 2.5 },
      { nope: 1 },
    ];
    for (const bad of bads) {
      await expect(admin.setConfig(bad)).rejects.toEqual(code(SchedulerErrorCode.InvalidArgument));
    }
    expect(admin.config().maxReplicas).toBe(5);
  });
});
