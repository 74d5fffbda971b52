// Issue #9 item 11: bad scheduler input must not stick. A made-up region must not remove a real
// one, an absurd epoch must not freeze a region, a stream speaks for one store only, and PutStore
// refuses junk addresses and stores that claim to be tombstones.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { credentials, status as GrpcStatus, type ServiceError } from '@grpc/grpc-js';
import { BinaryWriter } from '@bufbuild/protobuf/wire';
import { MemoryEngine } from '../../src/engine/memory-engine.js';
import { ManualClock } from '../../src/env/clock.js';
import { StoreState, type Region } from '../../src/proto/metapb.js';
import { ErrorType, SchedulerClient as GrpcSchedulerClient, type RegionHeartbeatResponse } from '../../src/proto/schedulerpb.js';
import { SchedulerCore } from '../../src/scheduler/core.js';
import { SchedulerError } from '../../src/scheduler/errors.js';
import type { HeartbeatSink } from '../../src/scheduler/heartbeat-streams.js';
import { startScheduler, type SchedulerHandle } from '../../src/scheduler/scheduler-server.js';
import { ClientError } from '../../src/client/errors.js';
import { SchedulerClient, type RegionHeartbeatStream } from '../../src/client/scheduler-client.js';
import { key, peer, region, store, withChanges } from './helpers.js';
import { defined } from '../../src/util/assert.js';

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

async function clientError(promise: Promise<unknown>): Promise<ClientError> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof ClientError) return err;
    throw err;
  }
  throw new Error('expected a ClientError');
}

async function rejectionCode(promise: Promise<unknown>): Promise<string | undefined> {
  try {
    await promise;
    return undefined;
  } catch (err) {
    return err instanceof SchedulerError ? err.code : String(err);
  }
}

/** A heartbeat stream with the responses it got. */
function openStream(client: SchedulerClient): { stream: RegionHeartbeatStream; responses: RegionHeartbeatResponse[] } {
  const responses: RegionHeartbeatResponse[] = [];
  return { stream: client.openRegionHeartbeat((r) => responses.push(r)), responses };
}

describe('scheduler under hostile region heartbeats (gRPC, 3 stores, 1 region)', () => {
  let scheduler: SchedulerHandle;
  let client: SchedulerClient;
  let real: Region;
  let store1: ReturnType<typeof openStream>;

  beforeAll(async () => {
    scheduler = await startScheduler({ addr: '127.0.0.1:0', engine: 'memory', initialStores: 3 });
    client = await SchedulerClient.connect(scheduler.addr, { timeoutMs: 2_000, maxRetries: 1 });
    for (let id = 1; id <= 3; id++) await client.putStore(store(id));
    await client.putStore(store(4, '127.0.0.1:20164'));
    real = (await client.getRegion(key('m')))!.region;
    // Store 1 leads the real region and reports it on its own stream, as a node does.
    store1 = openStream(client);
    const leader = real.peers.find((p) => p.storeId === 1)!;
    await until(() => store1.stream.send({ region: real, leader }));
    await until(() => scheduler.core.state.getRegionById(real.id)?.leader?.storeId === 1);
  });

  afterAll(async () => {
    store1.stream.close();
    client.close();
    await scheduler.close();
  });

  const realStillThere = () => {
    const info = scheduler.core.state.getRegion(key('m'));
    expect(info?.region).toEqual(real);
    expect(scheduler.core.state.regionCount).toBe(1);
  };

  it('a made-up region overlapping the real one, reported from another store, is refused and removes nothing', async () => {
    const fake = region(9_999, 'a', 'z', { confVer: 1, version: 5 }, [
      [90_001, 1],
      [90_002, 2],
    ]);
    const { stream, responses } = openStream(client);
    try {
      await until(() => stream.send({ region: fake, leader: peer(90_002, 2) }));
      await until(() => responses.length === 1);
      expect(defined(responses[0], 'responses[0]').header?.error?.message).toMatch(/RegionConflict/);
      expect(defined(responses[0], 'responses[0]').regionId).toBe(9_999n);
      realStillThere();
    } finally {
      stream.close();
    }
  });

  it('a stream claiming a live store that reports on another stream is refused', async () => {
    const fake = region(9_998, 'a', 'z', { confVer: 1, version: 5 }, [[90_003, 1]]);
    const { stream, responses } = openStream(client);
    try {
      await until(() => stream.send({ region: fake, leader: peer(90_003, 1) }));
      await until(() => responses.length === 1);
      expect(defined(responses[0], 'responses[0]').header?.error?.message).toMatch(/StreamStoreMismatch/);
      realStillThere();
    } finally {
      stream.close();
    }
  });

  it('an epoch of (2^53-1, 2^53-1) is refused, and the real leader keeps reporting', async () => {
    const leader = real.peers.find((p) => p.storeId === 1)!;
    const poisoned = withChanges(real, { confVer: Number.MAX_SAFE_INTEGER, version: Number.MAX_SAFE_INTEGER });
    const before = store1.responses.length;
    store1.stream.send({ region: poisoned, leader });
    await until(() => store1.responses.length === before + 1);
    expect(defined(store1.responses[before], 'store1.responses[before]').header?.error?.message).toMatch(/InvalidArgument.*ahead/);
    realStillThere();
    // The real leader's next epoch is still accepted (no EpochNotMatch loop for clients).
    const next = withChanges(real, { version: real.regionEpoch!.version + 1 });
    store1.stream.send({ region: next, leader });
    await until(() => scheduler.core.state.getRegionById(real.id)?.region.regionEpoch?.version === next.regionEpoch!.version);
    real = next;
  });

  it('refuses a leader outside the peers, peers on unknown or tombstone stores, and a stream speaking for two stores', async () => {
    const leader = real.peers.find((p) => p.storeId === 1)!;
    const send = async (r: Region, l = leader): Promise<string> => {
      const before = store1.responses.length;
      store1.stream.send({ region: r, leader: l });
      await until(() => store1.responses.length === before + 1);
      return defined(store1.responses[before], 'store1.responses[before]').header?.error?.message ?? 'accepted';
    };
    expect(await send(real, peer(424_242, 1))).toMatch(/InvalidArgument.*not a peer/);
    expect(await send(withChanges(real, { peers: [...real.peers, peer(77, 42)] }))).toMatch(/store 42 not found/);
    scheduler.core.state.loadStore(store(5, '127.0.0.1:20165', StoreState.Tombstone));
    const onTombstone = await send(withChanges(real, { peers: [...real.peers, peer(78, 5)] }));
    expect(onTombstone).toMatch(/store 5 is a tombstone/);
    // This stream is store 1's: it cannot report a leader on store 2.
    expect(
      await send(
        real,
        real.peers.find((p) => p.storeId === 2),
      ),
    ).toMatch(/StreamStoreMismatch/);
    realStillThere();
  });

  it('a uint64 beyond 2^53 ends only that stream with a gRPC error; the scheduler keeps serving', async () => {
    const raw = new GrpcSchedulerClient(scheduler.addr, credentials.createInsecure());
    try {
      const call = raw.makeBidiStreamRequest(
        '/schedulerpb.Scheduler/RegionHeartbeat',
        (bytes: Buffer) => bytes,
        (bytes: Buffer) => bytes,
      );
      const failed = new Promise<ServiceError>((resolve) => call.on('error', resolve));
      call.on('data', () => {});
      // header {cluster_id}, region {id: 2^60}
      const writer = new BinaryWriter();
      writer.uint32(10).fork().uint64(scheduler.clusterId).join();
      writer
        .uint32(18)
        .fork()
        .uint32(8)
        .uint64(2n ** 60n)
        .join();
      call.write(Buffer.from(writer.finish()));
      const err = await failed;
      expect(err.code).not.toBe(GrpcStatus.OK);
      expect(await client.getRegion(key('m'))).toBeDefined();
      realStillThere();
    } finally {
      raw.close();
    }
  });
});

describe('PutStore validation (gRPC)', () => {
  let scheduler: SchedulerHandle;
  let client: SchedulerClient;

  beforeAll(async () => {
    scheduler = await startScheduler({ addr: '127.0.0.1:0', engine: 'memory', initialStores: 1 });
    client = await SchedulerClient.connect(scheduler.addr, { timeoutMs: 2_000, maxRetries: 1 });
  });
  afterAll(async () => {
    client.close();
    await scheduler.close();
  });

  it('refuses junk and empty addresses with INVALID_ARGUMENT', async () => {
    const junk = [
      '',
      'nohost',
      ':20160',
      'host:',
      'host:0',
      'host:65536',
      'host:20160x',
      'host:-1',
      'http://host:20160',
      'host:20160/path',
      'a b:20160',
      'host\n:20160',
      '999.1.1.1:20160',
      '[zz::1]:20160',
      `${'x'.repeat(300)}:1`,
      '-bad-.example:1',
    ];
    for (const [i, address] of junk.entries()) {
      const err = await clientError(client.putStore(store(100 + i, address)));
      expect(err.grpcStatus, address).toBe(GrpcStatus.INVALID_ARGUMENT);
      expect(err.serverCode).toBe('KV:Scheduler:InvalidArgument');
    }
    expect(await client.isBootstrapped()).toBe(false); // none of them registered
  });

  it('accepts host names, IPv4 and [IPv6] with a port in 1..65535', async () => {
    await client.putStore(store(1, 'localhost:20160'));
    await client.putStore(store(2, 'tikv-2.example.com:1'));
    await client.putStore(store(3, '10.0.0.3:65535'));
    await client.putStore(store(4, '[::1]:20160'));
    await client.putStore(store(5, 'tinykv_store5:20160'));
    expect((await client.getAllStores()).map((s) => s.address)).toEqual([
      'localhost:20160',
      'tikv-2.example.com:1',
      '10.0.0.3:65535',
      '[::1]:20160',
      'tinykv_store5:20160',
    ]);
  });

  it('refuses a new store that is already a tombstone, an address of another live store, and id 0', async () => {
    const tombstone = await clientError(client.putStore(store(7, '10.0.0.7:20160', StoreState.Tombstone)));
    expect(tombstone.details.headerType).toBe(ErrorType.STORE_TOMBSTONE);
    expect((await client.getAllStores()).map((s) => s.id)).not.toContain(7);
    const duplicate = await clientError(client.putStore(store(8, 'localhost:20160')));
    expect(duplicate.serverCode).toBe('KV:Scheduler:DuplicateStoreAddress');
    expect((await clientError(client.putStore(store(0, '10.0.0.9:20160')))).grpcStatus).toBe(GrpcStatus.INVALID_ARGUMENT);
    // An existing store cannot declare itself a tombstone either; its state stays Up.
    const selfTombstone = await clientError(client.putStore(store(1, 'localhost:20160', StoreState.Tombstone)));
    expect(selfTombstone.details.headerType).toBe(ErrorType.STORE_TOMBSTONE);
    expect((await client.getStore(1))?.state).toBe(StoreState.Up);
  });
});

describe('heartbeat stream ownership (core, manual clock)', () => {
  function sink(): HeartbeatSink {
    return { write: () => true, end: () => {} };
  }

  it('a live store keeps its stream; another stream takes over once it closed or was silent for 5 s', async () => {
    const clock = new ManualClock(1_000_000);
    const core = await SchedulerCore.open(new MemoryEngine(), { initialStores: 0, clock });
    await core.bootstrap(store(1));
    const r = region(5, '', '', { confVer: 1, version: 1 }, [[6, 1]]);
    const [a, b, c] = [sink(), sink(), sink()];
    for (const s of [a, b, c]) core.streams.opened(s);
    await core.regionHeartbeat({ region: r, leader: peer(6, 1) }, a);
    expect(core.streams.ownerOf(a)).toBe(1);
    clock.advance(4_000);
    expect(await rejectionCode(core.regionHeartbeat({ region: r, leader: peer(6, 1) }, b))).toBe('KV:Scheduler:StreamStoreMismatch');
    clock.advance(1_001);
    await core.regionHeartbeat({ region: r, leader: peer(6, 1) }, b); // a was silent for 5 s: a restarted node's new stream
    expect(core.streams.ownerOf(b)).toBe(1);
    // The old stream does not get the store back while the new one is live.
    expect(await rejectionCode(core.regionHeartbeat({ region: r, leader: peer(6, 1) }, a))).toBe('KV:Scheduler:StreamStoreMismatch');
    core.streams.closed(b);
    await core.regionHeartbeat({ region: r, leader: peer(6, 1) }, c); // closed: taken over at once
    expect(core.streams.ownerOf(c)).toBe(1);
  });

  it('an epoch more than 10 000 ahead is refused for a known region, an overlapped one, or one in a gap', async () => {
    const core = await SchedulerCore.open(new MemoryEngine(), { initialStores: 0 });
    await core.bootstrap(store(1));
    const r = region(5, 'a', 'm', { confVer: 1, version: 1 }, [[6, 1]]);
    await core.regionHeartbeat({ region: r, leader: peer(6, 1) });
    const far = (x: Region, version: number) =>
      core.regionHeartbeat({ region: withChanges(x, { version }), leader: defined(x.peers[0], 'x.peers[0]') });
    expect(await rejectionCode(far(r, 10_002))).toBe('KV:Scheduler:InvalidArgument');
    const overlapping = region(7, 'b', 'c', { confVer: 1, version: 1 }, [[8, 1]]);
    expect(await rejectionCode(far(overlapping, 10_002))).toBe('KV:Scheduler:InvalidArgument');
    const inGap = region(9, 'x', 'y', { confVer: 1, version: 1 }, [[10, 1]]);
    expect(await rejectionCode(far(inGap, 2 ** 40))).toBe('KV:Scheduler:InvalidArgument');
    await far(r, 10_001); // exactly the step: accepted
    expect(core.state.getRegionById(5)?.region.regionEpoch?.version).toBe(10_001);
  });
});
