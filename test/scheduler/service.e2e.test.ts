/** End-to-end: every Scheduler RPC in scope over gRPC against startScheduler on 127.0.0.1:0. */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { credentials, status as GrpcStatus, type ServiceError } from '@grpc/grpc-js';
import { MemoryEngine } from '../../src/engine/memory-engine.js';
import { StoreState } from '../../src/proto/metapb.js';
import {
  ErrorType,
  RegionHeartbeatResponse,
  SchedulerClient as GrpcSchedulerClient,
  type GetRegionResponse,
  type TsoResponse,
} from '../../src/proto/schedulerpb.js';
import { ConfChangeType } from '../../src/proto/eraftpb.js';
import { startScheduler, type SchedulerHandle } from '../../src/scheduler/scheduler-server.js';
import { ClientError } from '../../src/client/errors.js';
import { SchedulerClient } from '../../src/client/scheduler-client.js';
import { key, region, store, withChanges } from './helpers.js';
import { defined } from '../../src/util/assert.js';

function call<Res>(invoke: (cb: (err: ServiceError | null, res: Res) => void) => unknown): Promise<Res> {
  return new Promise((resolve, reject) => invoke((err, res) => (err ? reject(err) : resolve(res))));
}

async function clientError(promise: Promise<unknown>): Promise<ClientError> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof ClientError) return err;
    throw err;
  }
  throw new Error('expected a ClientError');
}

function until(predicate: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const tick = () => {
      if (predicate()) return resolve();
      if (Date.now() > deadline) return reject(new Error('condition not reached'));
      setTimeout(tick, 10);
    };
    tick();
  });
}

describe('scheduler gRPC service (scheduler-driven bootstrap, 2 stores, 3 regions)', () => {
  let scheduler: SchedulerHandle;
  let raw: GrpcSchedulerClient;
  let client: SchedulerClient;
  let header: { clusterId: bigint };

  beforeAll(async () => {
    scheduler = await startScheduler({ addr: '127.0.0.1:0', engine: 'memory', initialStores: 2, splitKeys: [key('g'), key('p')] });
    raw = new GrpcSchedulerClient(scheduler.addr, credentials.createInsecure());
    client = await SchedulerClient.connect(scheduler.addr, { timeoutMs: 2_000, maxRetries: 2 });
    header = { clusterId: scheduler.clusterId };
  });
  afterAll(async () => {
    client.close();
    raw.close();
    await scheduler.close();
  });

  it('GetMembers answers without a header and names this scheduler', async () => {
    const members = await call<import('../../src/proto/schedulerpb.js').GetMembersResponse>((cb) => raw.getMembers({ header: undefined }, cb));
    expect(members.header?.clusterId).toBe(scheduler.clusterId);
    expect(members.leader?.clientUrls).toEqual([`http://${scheduler.addr}`]);
    expect(client.clusterId).toBe(scheduler.clusterId);
  });

  it('rejects a wrong cluster id with FAILED_PRECONDITION on unary calls and streams', async () => {
    const wrong = { clusterId: scheduler.clusterId + 1n };
    const err = await call((cb) => raw.allocId({ header: wrong }, cb)).catch((e: ServiceError) => e);
    expect((err as ServiceError).code).toBe(GrpcStatus.FAILED_PRECONDITION);
    expect((err as ServiceError).metadata.get('tinykv-error-code')).toEqual(['KV:Scheduler:ClusterIdMismatch']);
    const noHeader = await call((cb) => raw.getRegion({ header: undefined, regionKey: key('a') }, cb)).catch((e: ServiceError) => e);
    expect((noHeader as ServiceError).code).toBe(GrpcStatus.FAILED_PRECONDITION);

    const tso = raw.tso();
    const tsoError = new Promise<ServiceError>((resolve) => tso.on('error', resolve));
    tso.write({ header: wrong, count: 1 });
    expect((await tsoError).code).toBe(GrpcStatus.FAILED_PRECONDITION);

    const hb = raw.regionHeartbeat();
    const hbError = new Promise<ServiceError>((resolve) => hb.on('error', resolve));
    hb.write({ header: wrong, region: undefined, leader: undefined, pendingPeers: [], downPeers: [], approximateSize: 0n, approximateKeys: 0n });
    expect((await hbError).code).toBe(GrpcStatus.FAILED_PRECONDITION);
  });

  it('before bootstrap: AllocID and PutStore work, region and store reads answer NOT_BOOTSTRAPPED', async () => {
    expect(await client.isBootstrapped()).toBe(false);
    const a = await client.allocId();
    const b = await client.allocId();
    expect(b).toBeGreaterThan(a);
    expect((await clientError(client.getRegion(key('a')))).details.headerType).toBe(ErrorType.NOT_BOOTSTRAPPED);
    expect((await clientError(client.getStore(1))).details.headerType).toBe(ErrorType.NOT_BOOTSTRAPPED);
    expect((await clientError(client.getGcSafePoint())).details.headerType).toBe(ErrorType.NOT_BOOTSTRAPPED);
    expect((await clientError(client.getClusterConfig())).details.headerType).toBe(ErrorType.NOT_BOOTSTRAPPED);
    expect((await clientError(client.storeHeartbeat({ storeId: 1n }))).details.headerType).toBe(ErrorType.NOT_BOOTSTRAPPED);
    await client.putStore(store(1));
    expect(await client.isBootstrapped()).toBe(false);
    await client.putStore(store(2));
    expect(await client.isBootstrapped()).toBe(true);
  });

  it('serves the initial regions: GetRegion, GetPrevRegion, GetRegionByID, ScanRegions', async () => {
    const all = await client.scanRegions(key(''));
    expect(all.map((r) => [r.region.startKey.toString(), r.region.endKey.toString()])).toEqual([
      ['', 'g'],
      ['g', 'p'],
      ['p', ''],
    ]);
    for (const r of all) {
      expect(r.region.peers.map((p) => p.storeId)).toEqual([1, 2]);
      expect(r.leader).toBeUndefined();
    }
    expect((await client.getRegion(key('h')))?.region).toEqual(defined(all[1], 'all[1]').region);
    expect((await client.getPrevRegion(key('h')))?.region).toEqual(defined(all[0], 'all[0]').region);
    expect(await client.getPrevRegion(key('a'))).toBeUndefined();
    expect((await client.getRegionById(defined(all[2], 'all[2]').region.id))?.region).toEqual(defined(all[2], 'all[2]').region);
    expect(await client.getRegionById(999_999)).toBeUndefined();
    expect((await client.scanRegions(key('h'), key('q'))).map((r) => r.region.id)).toEqual([
      defined(all[1], 'all[1]').region.id,
      defined(all[2], 'all[2]').region.id,
    ]);
    expect(await client.scanRegions(key(''), key(''), 1)).toHaveLength(1);
  });

  it('stores: GetStore, GetAllStores, StoreHeartbeat, tombstone and duplicate-address rules', async () => {
    await client.storeHeartbeat({ storeId: 1n, regionCount: 3, capacity: 1000n, available: 600n });
    const got = await client.getStoreInfo(1);
    expect(got.store).toEqual(store(1));
    expect(got.stats).toMatchObject({ storeId: 1n, regionCount: 3, available: 600n });
    const unknown = await clientError(client.getStore(42));
    expect(unknown.grpcStatus).toBe(GrpcStatus.NOT_FOUND);
    expect((await clientError(client.storeHeartbeat({ storeId: 42n }))).grpcStatus).toBe(GrpcStatus.NOT_FOUND);

    // No store registers as a tombstone; one that is a tombstone (from storage: removal is not in scope) cannot come back.
    expect((await clientError(client.putStore(store(3, '10.0.0.3:20160', StoreState.Tombstone)))).details.headerType).toBe(ErrorType.STORE_TOMBSTONE);
    scheduler.core.state.loadStore(store(3, '10.0.0.3:20160', StoreState.Tombstone));
    expect((await clientError(client.putStore(store(3, '10.0.0.3:20161')))).details.headerType).toBe(ErrorType.STORE_TOMBSTONE);
    expect((await clientError(client.storeHeartbeat({ storeId: 3n }))).details.headerType).toBe(ErrorType.STORE_TOMBSTONE);
    const duplicate = await clientError(client.putStore(store(4, store(1).address)));
    expect(duplicate.grpcStatus).toBe(GrpcStatus.ALREADY_EXISTS);
    expect(duplicate.serverCode).toBe('KV:Scheduler:DuplicateStoreAddress');
    expect((await client.getAllStores()).map((s) => s.id)).toEqual([1, 2, 3]);
    expect((await client.getAllStores(true)).map((s) => s.id)).toEqual([1, 2]);
  });

  it('Tso: strictly increasing over one persistent stream, batches of count', async () => {
    const first = await client.tso();
    const batch = await client.tso(10);
    const concurrent = await Promise.all(Array.from({ length: 50 }, () => client.tso(2)));
    expect(batch - first).toBeGreaterThanOrEqual(10n);
    expect(new Set(concurrent).size).toBe(50);
    expect(concurrent.every((ts) => ts > batch)).toBe(true);
    expect(Number(first >> 18n)).toBeGreaterThan(Date.now() - 60_000); // physical part is wall-clock ms
    const reply = await new Promise<TsoResponse>((resolve, reject) => {
      const tso = raw.tso();
      tso.on('data', (r: TsoResponse) => {
        resolve(r);
        tso.end();
      });
      tso.on('error', reject);
      tso.write({ header, count: 3 });
    });
    expect(reply).toMatchObject({ count: 3, header: { clusterId: scheduler.clusterId } });
    expect(reply.timestamp!.logical).toBeGreaterThanOrEqual(3n);
  });

  it('RegionHeartbeat: records leaders, answers errors on the stream, binds it to the leader store', async () => {
    // One stream per store, as nodes do: a stream speaks only for the store of its first leader.
    const responses: RegionHeartbeatResponse[] = [];
    const fromStore2: RegionHeartbeatResponse[] = [];
    const stream2 = client.openRegionHeartbeat((r) => fromStore2.push(r));
    const stream = client.openRegionHeartbeat((r) => responses.push(r));
    const target = (await client.getRegion(key('h')))!.region;
    expect(stream2.send({ region: target, leader: defined(target.peers[1], 'target.peers[1]') })).toBe(true);
    await until(() => scheduler.core.state.getRegionById(target.id)?.leader?.id === defined(target.peers[1], 'target.peers[1]').id);
    expect((await client.getRegion(key('h')))?.leader).toEqual(target.peers[1]);
    expect(defined((await client.scanRegions(key('h'), key('i')))[0], "(await client.scanRegions(key('h'), key('i')))[0]").leader).toEqual(
      target.peers[1],
    );
    await until(() => scheduler.core.streams.isBound(2));
    // Store 2's stream cannot speak for store 1.
    stream2.send({ region: target, leader: defined(target.peers[0], 'target.peers[0]') });
    await until(() => fromStore2.length === 1);
    expect(defined(fromStore2[0], 'fromStore2[0]').header?.error?.message).toMatch(/StreamStoreMismatch/);

    // A newer epoch wins: split reported by heartbeat (leadership moved to store 1).
    const left = withChanges(target, { endKey: key('k'), version: 2 });
    stream.send({ region: left, leader: defined(left.peers[0], 'left.peers[0]') });
    await until(() => scheduler.core.state.getRegionById(target.id)?.region.endKey.toString() === 'k');
    // Stale epoch: header error on the stream with the region id; state unchanged.
    stream.send({ region: target, leader: defined(target.peers[0], 'target.peers[0]') });
    await until(() => responses.length === 1);
    expect(defined(responses[0], 'responses[0]').header?.error?.type).toBe(ErrorType.UNKNOWN);
    expect(defined(responses[0], 'responses[0]').header?.error?.message).toMatch(/StaleRegion/);
    expect(defined(responses[0], 'responses[0]').regionId).toBe(BigInt(target.id));
    expect((await client.getRegionById(target.id))?.region.endKey.toString()).toBe('k');
    // Unknown leader store.
    const orphan = region(777, 'k', 'l', { confVer: 1, version: 2 }, [[778, 99]]);
    stream.send({ region: orphan, leader: defined(orphan.peers[0], 'orphan.peers[0]') });
    await until(() => responses.length === 2);
    expect(defined(responses[1], 'responses[1]').header?.error?.message).toMatch(/store 99 not found/);

    // Commands pushed to the store's bound stream arrive with the region stamped.
    const command = { changePeer: { peer: { id: 5000, storeId: 3 }, changeType: ConfChangeType.AddNode } };
    const leaderless = scheduler.core.state.getRegion(key('q'))!;
    expect(leaderless.leader).toBeUndefined();
    expect(scheduler.core.streams.sendToLeader(leaderless, command)).toBe(false);
    expect(scheduler.core.streams.send(3, RegionHeartbeatResponse.fromPartial({}))).toBe(false); // store 3 has no stream
    stream.send({ region: left, leader: defined(left.peers[0], 'left.peers[0]') });
    await until(() => scheduler.core.state.getRegionById(target.id)?.leader?.storeId === 1 && scheduler.core.streams.isBound(1));
    expect(scheduler.core.streams.sendToLeader(scheduler.core.state.getRegionById(target.id)!, command)).toBe(true);
    await until(() => responses.length === 3);
    expect(responses[2]).toMatchObject({
      header: { clusterId: scheduler.clusterId },
      regionId: BigInt(target.id),
      regionEpoch: { confVer: 1, version: 2 },
      targetPeer: left.peers[0],
      changePeer: command.changePeer,
    });
    stream.close();
    stream2.close();
    await until(() => !scheduler.core.streams.isBound(1) && !scheduler.core.streams.isBound(2));
  });

  it('RegionHeartbeat pending and down peers, size and keys: kept with the region and answered by GetRegion', async () => {
    const stream = client.openRegionHeartbeat(() => {});
    const target = (await client.getRegion(key('q')))!.region;
    const [leader, follower] = [defined(target.peers[0], 'leader'), defined(target.peers[1], 'follower')];
    const sent = { region: target, leader, pendingPeers: [follower], approximateSizeBytes: 2048, approximateKeys: 17 };
    await until(() => stream.send({ ...sent, downPeers: [{ peer: follower, downSeconds: 600 }] }));
    await until(() => scheduler.core.state.getRegionById(target.id)?.approximateKeys === 17);
    expect(scheduler.core.state.getRegionById(target.id)).toMatchObject({
      downPeers: [{ peer: follower, downSeconds: 600 }],
      approximateSizeBytes: 2048,
    });
    const answer = await call<GetRegionResponse>((cb) => raw.getRegionById({ header, regionId: BigInt(target.id) }, cb));
    expect(answer).toMatchObject({ downPeers: [{ peer: follower, downSeconds: 600n }], pendingPeers: [follower] });
    // The follower is back; a heartbeat without sizes keeps the last ones.
    stream.send({ region: target, leader });
    await until(() => scheduler.core.state.getRegionById(target.id)?.downPeers.length === 0);
    expect(scheduler.core.state.getRegionById(target.id)).toMatchObject({ pendingPeers: [], approximateSizeBytes: 2048, approximateKeys: 17 });
    stream.close();
    await until(() => !scheduler.core.streams.isBound(1));
  });

  it('AskSplit: a new region id and one peer id per peer; stale epoch is ABORTED', async () => {
    const target = (await client.getRegion(key('q')))!.region;
    const split = await client.askSplit(target);
    expect(split.newPeerIds).toHaveLength(target.peers.length);
    expect(new Set([split.newRegionId, ...split.newPeerIds]).size).toBe(1 + target.peers.length);
    expect(split.newRegionId).toBeGreaterThan(target.id);
    const stale = withChanges(target, { version: 0 });
    const err = await clientError(client.askSplit(stale));
    expect(err.grpcStatus).toBe(GrpcStatus.ABORTED);
    expect(err.serverCode).toBe('KV:Scheduler:StaleRegion');
  });

  it('cluster config, GC safe point, ScatterRegion and GetOperator', async () => {
    const config = await client.getClusterConfig();
    expect(config).toEqual({ id: Number(scheduler.clusterId), maxPeerCount: 3 });
    await client.putClusterConfig({ id: config.id, maxPeerCount: 1 });
    expect((await client.getClusterConfig()).maxPeerCount).toBe(1);
    expect((await clientError(client.putClusterConfig({ id: config.id + 1, maxPeerCount: 1 }))).grpcStatus).toBe(GrpcStatus.INVALID_ARGUMENT);

    expect(await client.getGcSafePoint()).toBe(0n);
    expect(await client.updateGcSafePoint(500n)).toBe(500n);
    expect(await client.updateGcSafePoint(100n)).toBe(500n);
    expect(await client.getGcSafePoint()).toBe(500n);

    const scatter = await call<{ header?: { error?: unknown } }>((cb) =>
      raw.scatterRegion({ header: undefined, regionId: 1n, region: undefined, leader: undefined }, cb),
    );
    expect(scatter.header?.error).toBeUndefined();
    const op = await call<{ header?: { error?: { type: ErrorType } } }>((cb) => raw.getOperator({ header, regionId: 1n }, cb));
    expect(op.header?.error?.type).toBe(ErrorType.REGION_NOT_FOUND);
  });
});

describe('scheduler gRPC service (TinyKV-style Bootstrap RPC)', () => {
  it('bootstraps with the store only; a repeat is ALREADY_BOOTSTRAPPED; the node reports its region', async () => {
    const scheduler = await startScheduler({ addr: '127.0.0.1:0', engine: 'memory' });
    const client = await SchedulerClient.connect(scheduler.addr);
    try {
      // The TinyKV node sequence: IsBootstrapped? -> AllocID store/region/peer -> Bootstrap(store) -> PutStore.
      expect(await client.isBootstrapped()).toBe(false);
      const [storeId, regionId, peerId] = [await client.allocId(), await client.allocId(), await client.allocId()];
      const node = store(storeId, '127.0.0.1:30160');
      await client.bootstrap(node);
      expect((await clientError(client.bootstrap(node))).details.headerType).toBe(ErrorType.ALREADY_BOOTSTRAPPED);
      await client.putStore(node);
      expect(await client.scanRegions(key(''))).toEqual([]);
      const first = region(regionId, '', '', { confVer: 1, version: 1 }, [[peerId, storeId]]);
      const stream = client.openRegionHeartbeat(() => {});
      stream.send({ region: first, leader: defined(first.peers[0], 'first.peers[0]') });
      await until(() => scheduler.core.state.regionCount === 1);
      expect(await client.getRegion(key('anything'))).toEqual({ region: first, leader: first.peers[0] });
      stream.close();
    } finally {
      client.close();
      await scheduler.close();
    }
  });
});

describe('scheduler lifecycle and client resilience', () => {
  const cleanups: Array<() => Promise<void> | void> = [];
  afterEach(async () => {
    for (const fn of cleanups.splice(0).reverse()) await fn();
  });

  it('closes promptly with open Tso and RegionHeartbeat streams', async () => {
    const scheduler = await startScheduler({ addr: '127.0.0.1:0', engine: 'memory', gracefulShutdownTimeoutMs: 5_000 });
    const client = await SchedulerClient.connect(scheduler.addr, { maxRetries: 0 });
    cleanups.push(() => client.close());
    await client.tso();
    const stream = client.openRegionHeartbeat(() => {});
    stream.send({ region: region(1, '', '', { confVer: 1, version: 1 }, [[2, 3]]), leader: { id: 2, storeId: 3 } });
    await until(() => scheduler.core.streams.stats.open === 1);
    const started = Date.now();
    await scheduler.close();
    expect(Date.now() - started).toBeLessThan(2_000);
    expect((await clientError(client.allocId())).grpcStatus).toBe(GrpcStatus.UNAVAILABLE);
    stream.close();
  });

  it('rides out a scheduler restart: unary retries, tso and heartbeat streams reopen', async () => {
    const engine = new MemoryEngine();
    let scheduler = await startScheduler({ addr: '127.0.0.1:0', engine, initialStores: 1 });
    const addr = scheduler.addr;
    cleanups.push(() => scheduler.close());
    const client = await SchedulerClient.connect(addr, { timeoutMs: 1_000, maxRetries: 20, backoffBaseMs: 20, backoffMaxMs: 100 });
    cleanups.push(() => client.close());
    await client.putStore(store(1));
    const beforeTs = await client.tso();
    const beforeId = await client.allocId();
    const stream = client.openRegionHeartbeat(() => {});

    await scheduler.close();
    let restarted = false;
    let answeredWhileDown = false;
    const pending = Promise.all([client.tso(), client.allocId()]).finally(() => (answeredWhileDown = !restarted));
    await new Promise((resolve) => setTimeout(resolve, 300)); // the calls fail and retry meanwhile
    scheduler = await startScheduler({ addr, engine, initialStores: 1 });
    restarted = true;
    const [ts, id] = await pending;
    expect(answeredWhileDown).toBe(false);
    expect(ts > beforeTs).toBe(true);
    expect(id).toBeGreaterThan(beforeId);

    const r = (await client.getRegion(key('x')))!.region;
    await until(() => stream.send({ region: r, leader: defined(r.peers[0], 'r.peers[0]') }) && scheduler.core.streams.isBound(1));
    await until(() => scheduler.core.state.getRegionById(r.id)?.leader !== undefined);
    stream.close();
  });

  it('a client pointed at nothing fails after its retries', async () => {
    const err = await clientError(SchedulerClient.connect('127.0.0.1:1', { timeoutMs: 200, maxRetries: 1, backoffBaseMs: 10 }));
    expect(err.grpcStatus).toBe(GrpcStatus.UNAVAILABLE);
  });
});

// Keep the response codec honest: header errors carry the region id.
describe('RegionHeartbeatResponse codec', () => {
  it('round-trips an error response', () => {
    const response = RegionHeartbeatResponse.fromPartial({
      header: { clusterId: 5n, error: { type: ErrorType.UNKNOWN, message: 'x' } },
      regionId: 9n,
    });
    expect(RegionHeartbeatResponse.decode(RegionHeartbeatResponse.encode(response).finish())).toEqual(response);
  });
});
