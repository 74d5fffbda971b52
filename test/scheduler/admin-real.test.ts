// The admin HTTP API and `tinykv ctl` against a real scheduler (startScheduler, memory engine,
// ManualClock + ManualTimers for the coordinator) fed by fake stores over gRPC: what the API shows
// follows the heartbeats, and the operators it adds reach the stores' heartbeat streams as
// commands and finish when the heartbeats show them done.
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { credentials } from '@grpc/grpc-js';
import { run } from '../../src/cli/main.js';
import { ManualClock } from '../../src/env/clock.js';
import { ManualTimers } from '../../src/env/timers.js';
import { MemoryEngine } from '../../src/engine/memory-engine.js';
import { ConfChangeType } from '../../src/proto/eraftpb.js';
import { CheckPolicy, OperatorStatus, SchedulerClient as GrpcSchedulerClient, type GetOperatorResponse } from '../../src/proto/schedulerpb.js';
import { startScheduler, type SchedulerHandle } from '../../src/scheduler/scheduler-server.js';
import { defined } from '../../src/util/assert.js';
import { FakeCluster, MIB, until } from './fake-stores.js';

// In the past, so a listing that wrongly read the wall clock would differ.
const START_MS = 1_700_000_000_000;

async function http(base: string, method: string, path: string, body?: unknown): Promise<{ status: number; json: unknown }> {
  const res = await fetch(`${base}/pd/api/v1${path}`, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, json: await res.json() };
}

interface StoreJson {
  readonly store: { readonly id: number; readonly address: string; readonly state_name: string };
  readonly status: Record<string, unknown>;
}

interface OperatorJson {
  readonly region_id: number;
  readonly desc: string;
  readonly status: string;
  readonly steps: readonly string[];
}

/** The JSON answer of a request that must succeed; `T` is what the test expects PD's API to answer. */
async function ok<T = unknown>(base: string, method: string, path: string, body?: unknown): Promise<T> {
  const { status, json } = await http(base, method, path, body);
  if (status !== 200) throw new Error(`${method} ${path}: ${status} ${JSON.stringify(json)}`);
  return json as T;
}

const storeState = async (base: string, id: number | undefined): Promise<string> =>
  (await ok<StoreJson>(base, 'GET', `/store/${defined(id, 'store id')}`)).store.state_name;

async function ctl(...args: string[]): Promise<{ code: number; stdout: string }> {
  const printed: string[] = [];
  const spy = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
  try {
    const code = await run(['ctl', ...args], (text) => printed.push(text));
    return { code, stdout: printed.join('\n') };
  } finally {
    spy.mockRestore();
  }
}

interface World {
  scheduler: SchedulerHandle;
  fake: FakeCluster;
  clock: ManualClock;
  timers: ManualTimers;
  base: string;
  close(): Promise<void>;
}

/** A scheduler bootstrapped with 10 regions on stores 1-3 (registered first) and `extraStores` more, all heartbeating. */
async function startWorld(options: { extraStores: number; engine?: MemoryEngine; leaderStores?: number }): Promise<World> {
  const clock = new ManualClock(START_MS);
  const timers = new ManualTimers(clock);
  const scheduler = await startScheduler({
    addr: '127.0.0.1:0',
    statusAddr: '127.0.0.1:0',
    engine: options.engine ?? 'memory',
    initialStores: 3,
    initialRegions: 10,
    clock,
    timers,
  });
  const fake = await FakeCluster.connect(scheduler);
  const ids: number[] = [];
  for (let i = 0; i < 3; i++) ids.push((await fake.addStore()).id);
  await new Promise((r) => setTimeout(r, 0));
  for (let i = 0; i < 10 && !scheduler.core.isBootstrapped; i++) await new Promise((r) => setTimeout(r, 20));
  expect(scheduler.core.isBootstrapped).toBe(true);
  for (let i = 0; i < options.extraStores; i++) await fake.addStore();
  const leaderStores = options.leaderStores ?? 3;
  fake.adoptRegions((index) => defined(ids[index % leaderStores], 'leader store'));
  for (const id of fake.stores.keys()) await fake.storeHeartbeat(id);
  await fake.reportAll();
  return {
    scheduler,
    fake,
    clock,
    timers,
    base: `http://${defined(scheduler.statusAddr, 'status addr')}`,
    close: async () => {
      fake.close();
      await scheduler.close();
    },
  };
}

/** Moves the manual clock by `ms` in steps, every store but `silent` heartbeating after each. */
async function passTime(world: World, ms: number, silent: readonly number[] = [], stepMs = 1_000): Promise<void> {
  for (let passed = 0; passed < ms; passed += stepMs) {
    await world.timers.advance(stepMs);
    for (const id of world.fake.stores.keys()) if (!silent.includes(id)) await world.fake.storeHeartbeat(id);
  }
}

function getOperator(world: World, regionId: number): Promise<GetOperatorResponse> {
  const raw = new GrpcSchedulerClient(world.scheduler.addr, credentials.createInsecure());
  return new Promise<GetOperatorResponse>((resolve, reject) =>
    raw.getOperator({ header: { clusterId: world.scheduler.clusterId }, regionId: BigInt(regionId) }, (err, res) => {
      raw.close();
      if (err) reject(err);
      else resolve(res);
    }),
  ).finally(() => raw.close());
}

describe('admin API on a real scheduler: stores and admin operators', () => {
  let world: World;
  let store4: number;
  const regionIds = (): number[] => [...world.fake.regions.keys()];

  beforeAll(async () => {
    world = await startWorld({ extraStores: 1 });
    store4 = Math.max(...world.fake.stores.keys());
  });
  afterAll(() => world.close());

  it('/stores and /store/{id} show what the stores and their regions reported', async () => {
    const stores = await ok<{ count: number; stores: StoreJson[] }>(world.base, 'GET', '/stores');
    expect(stores.count).toBe(4);
    const byId = new Map(stores.stores.map((s) => [s.store.id, s]));
    for (const [id] of world.fake.stores) {
      const store = defined(byId.get(id), `store ${id} listed`);
      const leaders = [...world.fake.regions.values()].filter((r) => r.leaderStoreId === id).length;
      expect(store.store).toMatchObject({ id, address: `127.0.0.1:${30000 + id}`, state_name: 'Up' });
      expect(store.status).toMatchObject({
        capacity: '100GiB',
        available: '60GiB',
        leader_count: leaders,
        region_count: id === store4 ? 0 : 10,
        last_heartbeat_ts: new Date(START_MS).toISOString(),
      });
    }
    const one = await ok(world.base, 'GET', `/store/${store4}`);
    expect(one).toEqual(byId.get(store4));
    expect((await http(world.base, 'GET', '/store/999')).status).toBe(404);
    const shown = await ctl('store', 'show', String(store4), '--output', 'json', '--pd', world.base);
    expect(shown.code).toBe(0);
    expect(JSON.parse(shown.stdout)).toMatchObject({ store: { id: store4, state_name: 'Up' } });
  });

  it('add-peer reaches the leader as change_peer AddNode and finishes once a heartbeat shows the peer', async () => {
    const regionId = defined(regionIds()[0], 'region');
    const op = await ok(world.base, 'POST', '/operators', { name: 'add-peer', region_id: regionId, store_id: store4 });
    expect(op).toMatchObject({ region_id: regionId, status: 'RUNNING', kind: 'region,admin' });
    // The first step goes out at once, not only at the region's next heartbeat.
    const leader = world.fake.store(world.fake.region(regionId).leaderStoreId);
    await until(() => leader.commandsFor(regionId).length === 1, 'the add-peer command');
    const commands = await world.fake.driveToEnd(regionId);
    expect(commands).toHaveLength(1);
    expect(commands[0]?.changePeer).toMatchObject({ changeType: ConfChangeType.AddNode, peer: { storeId: store4 } });
    expect(commands[0]?.targetPeer?.storeId).toBe(world.fake.region(regionId).leaderStoreId);
    await world.fake.report(regionId);
    expect(await ok(world.base, 'GET', `/operators/${regionId}`)).toMatchObject({ status: 'SUCCESS', step_index: 1 });
    expect(await getOperator(world, regionId)).toMatchObject({ status: OperatorStatus.SUCCESS, desc: Buffer.from('admin-add-peer') });
    expect(world.fake.region(regionId).region.peers.map((p) => p.storeId)).toContain(store4);
  });

  it('transfer-leader reaches the leader as transfer_leader; remove-peer of the leader moves it away first', async () => {
    const regionId = defined(regionIds()[0], 'region');
    await ok(world.base, 'POST', '/operators', { name: 'transfer-leader', region_id: regionId, to_store_id: store4 });
    const transfer = await world.fake.driveToEnd(regionId);
    expect(transfer.map((c) => c.transferLeader?.peer?.storeId)).toEqual([store4]);
    await world.fake.report(regionId);
    expect(await ok(world.base, 'GET', `/operators/${regionId}`)).toMatchObject({ status: 'SUCCESS', desc: 'admin-transfer-leader' });
    expect((await getOperator(world, regionId)).status).toBe(OperatorStatus.SUCCESS);

    const added = await ctl('operator', 'add', 'remove-peer', String(regionId), String(store4), '--pd', world.base);
    expect(added.code).toBe(0);
    const steps = await world.fake.driveToEnd(regionId);
    expect(steps[0]?.transferLeader?.peer?.storeId).not.toBe(store4);
    expect(steps[1]?.changePeer).toMatchObject({ changeType: ConfChangeType.RemoveNode, peer: { storeId: store4 } });
    await world.fake.report(regionId);
    expect(JSON.parse((await ctl('operator', 'show', String(regionId), '--output', 'json', '--pd', world.base)).stdout)).toMatchObject({
      status: 'SUCCESS',
      desc: 'admin-remove-peer',
    });
    expect(world.fake.region(regionId).region.peers.map((p) => p.storeId)).not.toContain(store4);
  });

  it('transfer-region adds, moves the leader off a leaving store, then removes', async () => {
    const regionId = defined(regionIds()[1], 'region');
    const fake = world.fake.region(regionId);
    const leaving = fake.leaderStoreId;
    const kept = fake.region.peers.map((p) => p.storeId).filter((id) => id !== leaving);
    await ok(world.base, 'POST', '/operators', { name: 'transfer-region', region_id: regionId, to_store_ids: [...kept, store4] });
    const commands = await world.fake.driveToEnd(regionId);
    expect(commands[0]?.changePeer).toMatchObject({ changeType: ConfChangeType.AddNode, peer: { storeId: store4 } });
    expect(kept).toContain(commands[1]?.transferLeader?.peer?.storeId);
    expect(commands[2]?.changePeer).toMatchObject({ changeType: ConfChangeType.RemoveNode, peer: { storeId: leaving } });
    await world.fake.report(regionId);
    expect(await ok(world.base, 'GET', `/operators/${regionId}`)).toMatchObject({ status: 'SUCCESS', step_index: 3 });
    expect((await getOperator(world, regionId)).status).toBe(OperatorStatus.SUCCESS);
  });

  it('split-region reaches the leader as split_region (USEKEY with keys, APPROXIMATE without) and finishes on the shrunk parent', async () => {
    const regionId = defined(regionIds()[2], 'region');
    const start = Buffer.from(world.fake.region(regionId).region.startKey);
    const key = Buffer.concat([start, Buffer.from('k')]);
    await ok(world.base, 'POST', '/operators', { name: 'split-region', region_id: regionId, policy: 'usekey', keys: [key.toString('hex')] });
    const commands = await world.fake.driveToEnd(regionId);
    expect(commands.map((c) => c.splitRegion)).toEqual([{ policy: CheckPolicy.USEKEY, keys: [key] }]);
    await world.fake.report(regionId);
    expect(await ok(world.base, 'GET', `/operators/${regionId}`)).toMatchObject({ status: 'SUCCESS' });
    const childId = defined(
      [...world.fake.regions.values()].find((r) => Buffer.from(r.region.startKey).equals(key)),
      'split child',
    ).region.id;
    await world.fake.report(childId);
    expect(await ok(world.base, 'GET', `/region/id/${regionId}`)).toMatchObject({ end_key: key.toString('hex').toUpperCase() });

    await ok(world.base, 'POST', '/operators', { name: 'split-region', region_id: childId });
    const middle = await world.fake.driveToEnd(childId);
    expect(middle.map((c) => c.splitRegion)).toEqual([{ policy: CheckPolicy.APPROXIMATE, keys: [] }]);
    await world.fake.report(childId);
    expect((await getOperator(world, childId)).status).toBe(OperatorStatus.SUCCESS);
  });

  it('an operator whose region conf_ver moved past it is cancelled', async () => {
    const regionId = defined(regionIds()[3], 'region');
    await ok(world.base, 'POST', '/operators', { name: 'add-peer', region_id: regionId, store_id: store4 });
    const fake = world.fake.region(regionId);
    const epoch = defined(fake.region.regionEpoch, 'epoch');
    fake.region = { ...fake.region, regionEpoch: { confVer: epoch.confVer + 2, version: epoch.version } };
    await world.fake.report(regionId);
    expect(await ok(world.base, 'GET', `/operators/${regionId}`)).toMatchObject({ status: 'CANCEL' });
    expect((await getOperator(world, regionId)).status).toBe(OperatorStatus.CANCEL);
    expect(await ok(world.base, 'GET', '/operators')).toEqual([]);
  });

  it('DELETE store -> Offline; the replica checker moves its peers away; once heartbeats show none, Tombstone', async () => {
    const holding = () => [...world.fake.regions.values()].filter((r) => r.region.peers.some((p) => p.storeId === store4));
    expect(holding().length).toBeGreaterThan(0);
    expect(await ctl('store', 'delete', String(store4), '--pd', world.base)).toMatchObject({ code: 0 });
    const listed = await ok<{ stores: StoreJson[] }>(world.base, 'GET', '/stores');
    expect(listed.stores.find((s) => s.store.id === store4)?.store.state_name).toBe('Offline');
    // The balancers are not what this is about.
    for (const name of ['balance-region-scheduler', 'balance-leader-scheduler']) await ok(world.base, 'DELETE', `/schedulers/${name}`);
    await passTime(world, 3_000);
    expect(await storeState(world.base, store4)).toBe('Offline');
    for (const region of holding()) {
      expect(world.scheduler.core.operators.getRunning(region.region.id)?.desc).toBe('replace-offline-replica');
    }
    for (let round = 0; round < 3 && holding().length > 0; round++) {
      for (const region of holding()) {
        const commands = await world.fake.driveToEnd(region.region.id);
        expect(commands.at(-1)?.changePeer).toMatchObject({ changeType: ConfChangeType.RemoveNode, peer: { storeId: store4 } });
        await world.fake.report(region.region.id);
      }
    }
    expect(holding()).toEqual([]);
    // A tombstone's heartbeats are refused, so the drained store goes silent.
    await passTime(world, 3_000, [store4]);
    expect(await storeState(world.base, store4)).toBe('Tombstone');
  });
});

describe('admin API on a real scheduler: schedulers and config persist across a restart', () => {
  const engine = new MemoryEngine();
  let world: World | undefined;
  afterEach(async () => {
    await world?.close();
    world = undefined;
  });

  it('pause / resume / remove / add and config set survive a restart on the same engine', async () => {
    world = await startWorld({ extraStores: 0, engine });
    const { base } = world;
    expect(await ok(base, 'GET', '/schedulers')).toEqual(['balance-region-scheduler', 'balance-leader-scheduler']);
    expect(await ctl('scheduler', 'remove', 'balance-leader-scheduler', '--pd', base)).toMatchObject({ code: 0 });
    expect(await ok(base, 'GET', '/schedulers')).toEqual(['balance-region-scheduler']);
    expect(await ctl('scheduler', 'add', 'balance-leader-scheduler', '--pd', base)).toMatchObject({ code: 0 });
    await ok(base, 'DELETE', '/schedulers/balance-region-scheduler');
    await ok(base, 'POST', '/schedulers', { name: 'balance-region-scheduler' });
    expect((await http(base, 'POST', '/schedulers', { name: 'balance-region-scheduler' })).status).toBe(409);
    await ok(base, 'POST', '/schedulers/balance-region-scheduler', { delay: 600 });
    // The paused listing reads the scheduler's own clock (here the manual one), not the wall clock.
    expect(await ok(base, 'GET', '/schedulers?status=paused')).toEqual(['balance-region-scheduler']);
    await ok(base, 'POST', '/schedulers/balance-region-scheduler', { delay: 0 });
    expect(await ok(base, 'GET', '/schedulers?status=paused')).toEqual([]);
    await ok(base, 'POST', '/schedulers/balance-leader-scheduler', { delay: 3_600 });
    // A pause so long its deadline is no whole number of ms must be refused, not persisted.
    expect((await http(base, 'POST', '/schedulers/balance-region-scheduler', { delay: Number.MAX_SAFE_INTEGER })).status).toBe(400);

    expect(await ctl('config', 'set', 'max-replicas', '5', '--pd', base)).toMatchObject({ code: 0 });
    await ok(base, 'POST', '/config', { 'leader-schedule-limit': 7, 'max-store-down-time': '10s' });
    const config = await ok(base, 'GET', '/config');
    expect(config).toMatchObject({ replication: { 'max-replicas': 5 }, schedule: { 'leader-schedule-limit': 7, 'max-store-down-time': '10s' } });
    await world.close();

    world = undefined;
    const clock = new ManualClock(START_MS + 60_000);
    const restarted = await startScheduler({ addr: '127.0.0.1:0', statusAddr: '127.0.0.1:0', engine, clock, timers: new ManualTimers(clock) });
    try {
      const again = `http://${defined(restarted.statusAddr, 'status addr')}`;
      expect(await ok(again, 'GET', '/config')).toEqual(config);
      expect(await ok(again, 'GET', '/schedulers')).toEqual(['balance-leader-scheduler', 'balance-region-scheduler']);
      expect(await ok(again, 'GET', '/schedulers?status=paused')).toEqual(['balance-leader-scheduler']);
    } finally {
      await restarted.close();
    }
  });
});

describe('admin API on a real scheduler: the coordinator', () => {
  let world: World | undefined;
  afterEach(async () => {
    await world?.close();
    world = undefined;
  });

  it('a store silent past max-store-down-time shows Down and the replica checker adds its regions elsewhere', async () => {
    world = await startWorld({ extraStores: 1, leaderStores: 2 });
    const { base, fake } = world;
    const [, , store3, store4] = [...fake.stores.keys()];
    for (const name of ['balance-region-scheduler', 'balance-leader-scheduler']) await ok(base, 'DELETE', `/schedulers/${name}`);
    await ok(base, 'POST', '/config', { 'max-store-down-time': '10s' });
    await passTime(world, 9_000, [defined(store3, 'store 3')]);
    expect(await storeState(base, store3)).toBe('Up');
    expect(await ok(base, 'GET', '/operators')).toEqual([]);
    await passTime(world, 2_000, [defined(store3, 'store 3')]);
    expect(await storeState(base, store3)).toBe('Down');
    const ops = await ok<OperatorJson[]>(base, 'GET', '/operators');
    expect(ops).toHaveLength(10);
    for (const regionId of fake.regions.keys()) {
      const store = fake.store(fake.region(regionId).leaderStoreId);
      const before = store.commandsFor(regionId).length;
      await fake.report(regionId);
      await new Promise<void>((resolve) => {
        const poll = () => (store.commandsFor(regionId).length > before ? resolve() : setTimeout(poll, 5));
        poll();
      });
      expect(store.commandsFor(regionId)[before]?.changePeer).toMatchObject({ changeType: ConfChangeType.AddNode, peer: { storeId: store4 } });
    }
  });

  it('balance-region moves regions from full stores 1-3 to the empty store 4', async () => {
    world = await startWorld({ extraStores: 1 });
    const { base, fake } = world;
    const store4 = Math.max(...fake.stores.keys());
    await ok(base, 'DELETE', '/schedulers/balance-leader-scheduler');
    for (const region of fake.regions.values()) region.sizeBytes = 64 * MIB;
    await fake.reportAll();
    await passTime(world, 3_000);
    const ops = await ok<OperatorJson[]>(base, 'GET', '/operators');
    expect(ops.length).toBeGreaterThan(0);
    for (const op of ops) {
      expect(op.desc).toBe('balance-region');
      expect(op.steps[0]).toMatch(new RegExp(`^add peer \\d+ on store ${store4}$`));
    }
    const first = defined(ops[0], 'operator').region_id;
    const commands = await fake.driveToEnd(first);
    expect(commands[0]?.changePeer).toMatchObject({ changeType: ConfChangeType.AddNode, peer: { storeId: store4 } });
    await fake.report(first);
    expect(await ok(base, 'GET', `/operators/${first}`)).toMatchObject({ status: 'SUCCESS' });
  });
});
