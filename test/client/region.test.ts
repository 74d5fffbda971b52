/**
 * Region routing without a network: RegionCache + RequestSender over a fake scheduler and fake
 * stores that answer with region errors, as a replicated cluster does.
 */
import { describe, expect, it } from 'vitest';
import { status as GrpcStatus } from '@grpc/grpc-js';
import { Error as RegionErrorPb } from '../../src/proto/errorpb.js';
import {
  CheckTxnStatusRequest,
  CommitRequest,
  GetRequest,
  GetResponse,
  PrewriteRequest,
  PrewriteResponse,
  RawGetRequest,
  type Context,
} from '../../src/proto/kvrpcpb.js';
import type { Peer, Region, Store } from '../../src/proto/metapb.js';
import { ClientError, ClientErrorCode } from '../../src/client/errors.js';
import type { RegionLookup, RegionSource } from '../../src/client/scheduler-client.js';
import { RegionCache } from '../../src/client/region-cache.js';
import { RequestSender, splitBatch } from '../../src/client/request-sender.js';
import type { KvMethod, KvRequest, KvResponse, KvTransport } from '../../src/client/store-pool.js';
import { silentLogger } from '../../src/log/logger.js';
import { encodeBytes } from '../../src/txn/codec.js';
import { defined } from '../../src/util/assert.js';

const b = (s: string) => Buffer.from(s);
const peer = (id: number, storeId: number): Peer => ({ id, storeId });
function region(id: number, start: string, end: string, version: number, peers: Peer[]): Region {
  return { id, startKey: b(start), endKey: b(end), regionEpoch: { confVer: 1, version }, peers };
}

/** A scheduler whose view of regions and leaders the test changes. */
class FakeScheduler implements RegionSource {
  regions: RegionLookup[] = [];
  getRegionCalls = 0;
  unimplemented = false;

  async getRegion(key: Buffer): Promise<RegionLookup | undefined> {
    this.getRegionCalls++;
    if (this.unimplemented) throw new ClientError(ClientErrorCode.ServerError, 'unimplemented', { grpcStatus: GrpcStatus.UNIMPLEMENTED });
    return this.regions.find(
      (r) => Buffer.compare(r.region.startKey, key) <= 0 && (r.region.endKey.length === 0 || Buffer.compare(key, r.region.endKey) < 0),
    );
  }
  async getRegionById(id: bigint): Promise<RegionLookup | undefined> {
    return this.regions.find((r) => BigInt(r.region.id) === id);
  }
  async getStore(id: bigint): Promise<Store | undefined> {
    return { id: Number(id), address: `store-${id}`, state: 0 };
  }
}

interface Sent {
  addr: string;
  method: KvMethod;
  context: Context;
  keys: string[];
}

/** Stores that answer through a test-supplied function; every request is recorded. */
class FakeStores implements KvTransport {
  readonly sent: Sent[] = [];
  constructor(private readonly answer: (s: Sent) => RegionErrorPb | ClientError | undefined) {}

  async call<M extends KvMethod>(addr: string, method: M, request: KvRequest<M>): Promise<KvResponse<M>> {
    const r = request as { context: Context; key?: Buffer; mutations?: { key: Buffer }[] };
    const keys = r.key !== undefined ? [r.key.toString()] : (r.mutations ?? []).map((m) => m.key.toString());
    const s: Sent = { addr, method, context: r.context, keys };
    this.sent.push(s);
    const outcome = this.answer(s);
    if (outcome instanceof ClientError) throw outcome;
    if (method === 'kvGet') return GetResponse.fromPartial({ regionError: outcome, value: b('v'), notFound: false });
    return PrewriteResponse.fromPartial({ regionError: outcome });
  }
}

function setup(answer: (s: Sent) => RegionErrorPb | ClientError | undefined, maxRetries = 5) {
  const scheduler = new FakeScheduler();
  const stores = new FakeStores(answer);
  const cache = new RegionCache(scheduler, 'standalone:1', silentLogger());
  const sender = new RequestSender(cache, stores, { logger: silentLogger(), maxRetries, backoffBaseMs: 0, backoffCapMs: 1 });
  return { scheduler, stores, cache, sender };
}

const get = (key: string) => (context: Context) => GetRequest.fromPartial({ context, key: b(key), version: 1n });
const prewrite = (context: Context, keys: Buffer[]) =>
  PrewriteRequest.fromPartial({ context, mutations: keys.map((key) => ({ key, value: b('x') })), primaryLock: keys[0], startVersion: 1n });

describe('RegionCache and RequestSender', () => {
  it('addresses the region in the Context and sends to the leader store', async () => {
    const { scheduler, stores, sender } = setup(() => undefined);
    scheduler.regions = [{ region: region(7, '', '', 3, [peer(71, 1), peer(72, 2)]), leader: peer(72, 2) }];
    const { response } = await sender.sendToKey(b('k'), 'kvGet', get('k'));
    expect(response.value).toEqual(b('v'));
    expect(stores.sent[0]).toMatchObject({ addr: 'store-2', context: { regionId: 7n, regionEpoch: { version: 3 }, peer: { id: 72, storeId: 2 } } });
    await sender.sendToKey(b('k2'), 'kvGet', get('k2'));
    expect(scheduler.getRegionCalls).toBe(1); // cached
  });

  it('NotLeader with a hint: switches to the hinted leader and retries at once', async () => {
    const { scheduler, stores, sender, cache } = setup((s) =>
      s.addr === 'store-1' ? RegionErrorPb.fromPartial({ notLeader: { regionId: 7, leader: peer(73, 3) } }) : undefined,
    );
    scheduler.regions = [{ region: region(7, '', '', 1, [peer(71, 1), peer(72, 2), peer(73, 3)]), leader: peer(71, 1) }];
    await sender.sendToKey(b('k'), 'kvGet', get('k'));
    expect(stores.sent.map((s) => s.addr)).toEqual(['store-1', 'store-3']);
    expect(defined(cache.snapshot()[0], 'cache.snapshot()[0]').peer).toEqual(peer(73, 3));
    expect(scheduler.getRegionCalls).toBe(1);
  });

  it('NotLeader without a hint: tries the next peer', async () => {
    const { scheduler, stores, sender } = setup((s) =>
      s.addr !== 'store-2' ? RegionErrorPb.fromPartial({ notLeader: { regionId: 7 } }) : undefined,
    );
    scheduler.regions = [{ region: region(7, '', '', 1, [peer(71, 1), peer(72, 2)]), leader: peer(71, 1) }];
    await sender.sendToKey(b('k'), 'kvGet', get('k'));
    expect(stores.sent.map((s) => s.addr)).toEqual(['store-1', 'store-2']);
  });

  it('EpochNotMatch: replaces the region by the current ones and regroups a batch across the split', async () => {
    const whole = region(1, 'a', 'z', 1, [peer(11, 1)]);
    const left = region(1, 'a', 'm', 2, [peer(11, 1)]);
    const right = region(2, 'm', 'z', 2, [peer(21, 1)]);
    const { scheduler, stores, sender, cache } = setup((s) =>
      s.context.regionEpoch?.version === 1 ? RegionErrorPb.fromPartial({ epochNotMatch: { currentRegions: [left, right] } }) : undefined,
    );
    scheduler.regions = [{ region: whole, leader: peer(11, 1) }];
    const sent = await sender.sendToKeys([b('b'), b('n'), b('c')], 'kvPrewrite', prewrite);
    expect(sent.map((s) => s.keys.map(String))).toEqual([['b', 'c'], ['n']]);
    expect(stores.sent.map((s) => [s.context.regionId, s.context.regionEpoch?.version, s.keys.join()])).toEqual([
      [1n, 1, 'b,n,c'],
      [1n, 2, 'b,c'],
      [2n, 2, 'n'],
    ]);
    expect(cache.snapshot().map((r) => [r.id, r.startKey.toString(), r.endKey.toString()])).toEqual([
      [1n, 'a', 'm'],
      [2n, 'm', 'z'],
    ]);
    expect(scheduler.getRegionCalls).toBe(1);
  });

  it('routes a transaction by encoded keys and a raw call by the raw key, across a split at an encoded key', async () => {
    // x < y < w as user keys, all sharing their first 8 bytes; the split key is y's encoding (where
    // the split checker cuts). Raw 'user0001zz' sorts below encodeBytes(y), its encoding above.
    const [x, y, w] = [b('user0001-a'), b('user0001-b'), b('user0001zz')];
    const splitKey = encodeBytes(y);
    const left: Region = { id: 1, startKey: b(''), endKey: splitKey, regionEpoch: { confVer: 1, version: 2 }, peers: [peer(11, 1)] };
    const right: Region = { id: 2, startKey: splitKey, endKey: b(''), regionEpoch: { confVer: 1, version: 2 }, peers: [peer(21, 2)] };
    const { scheduler, stores, sender, cache } = setup(() => undefined);
    scheduler.regions = [
      { region: left, leader: peer(11, 1) },
      { region: right, leader: peer(21, 2) },
    ];
    const sent = await sender.sendToKeys([w, x, y], 'kvPrewrite', prewrite);
    expect(sent.map((s) => [s.region.id, s.keys.map(String)])).toEqual([
      [2n, ['user0001zz', 'user0001-b']],
      [1n, ['user0001-a']],
    ]);
    expect((await cache.groupKeys([x, y, w], 'txn')).map((g) => [g.region.id, g.keys.length])).toEqual([
      [1n, 1],
      [2n, 2],
    ]);
    for (const [key, regionId] of [
      [x, 1n],
      [y, 2n],
      [w, 2n],
    ] as const) {
      stores.sent.length = 0;
      await sender.sendToKey(key, 'kvCommit', (context) => CommitRequest.fromPartial({ context, keys: [key], startVersion: 1n, commitVersion: 2n }));
      await sender.sendToKey(key, 'kvCheckTxnStatus', (context) =>
        CheckTxnStatusRequest.fromPartial({ context, primaryKey: key, lockTs: 1n, currentTs: 2n }),
      );
      expect(stores.sent.map((s) => s.context.regionId)).toEqual([regionId, regionId]);
    }
    // The raw key 'user0001zz' is stored below the split key: a raw call goes left.
    stores.sent.length = 0;
    await sender.sendToKey(w, 'rawGet', (context) => RawGetRequest.fromPartial({ context, key: w }));
    expect(stores.sent.map((s) => s.context.regionId)).toEqual([1n]);
  });

  it('RegionNotFound: drops the entry and reloads it from the scheduler', async () => {
    let first = true;
    const { scheduler, sender } = setup(() => {
      if (!first) return undefined;
      first = false;
      return RegionErrorPb.fromPartial({ regionNotFound: { regionId: 7 } });
    });
    scheduler.regions = [{ region: region(7, '', '', 1, [peer(71, 1)]), leader: peer(71, 1) }];
    await sender.sendToKey(b('k'), 'kvGet', get('k'));
    expect(scheduler.getRegionCalls).toBe(2);
  });

  it('gives up with a retryable RegionUnavailable after maxRetries', async () => {
    const { scheduler, stores, sender } = setup(() => RegionErrorPb.fromPartial({ staleCommand: {} }), 3);
    scheduler.regions = [{ region: region(7, '', '', 1, [peer(71, 1)]), leader: peer(71, 1) }];
    const err = await sender.sendToKey(b('k'), 'kvGet', get('k')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ClientError);
    expect((err as ClientError).code).toBe(ClientErrorCode.RegionUnavailable);
    expect((err as ClientError).retryable).toBe(true);
    expect(stores.sent).toHaveLength(4);
  });

  it('keeps retrying a region without a leader until its backoff budget in time is spent, not a fixed count', async () => {
    const scheduler = new FakeScheduler();
    const stores = new FakeStores(() => RegionErrorPb.fromPartial({ notLeader: { regionId: 7 } }));
    const cache = new RegionCache(scheduler, 'standalone:1', silentLogger());
    // Each sleep is at most 40 ms (full jitter), the budget 200 ms, the count effectively unbounded.
    const sender = new RequestSender(cache, stores, {
      logger: silentLogger(),
      maxRetries: 1_000_000,
      backoffBaseMs: 40,
      backoffCapMs: 40,
      maxBackoffMs: 200,
    });
    scheduler.regions = [{ region: region(7, '', '', 1, [peer(71, 1)]), leader: peer(71, 1) }];
    const startedMs = performance.now();
    const err = await sender.sendToKey(b('k'), 'kvGet', get('k')).catch((e: unknown) => e);
    const tookMs = performance.now() - startedMs;
    expect((err as ClientError).code).toBe(ClientErrorCode.RegionUnavailable);
    // Slept the whole budget (a timer may fire up to ~1 ms early, so a little slack), and stopped soon after it.
    expect(tookMs).toBeGreaterThanOrEqual(170);
    expect(tookMs).toBeLessThan(5_000);
    expect(stores.sent.length).toBeGreaterThan(5);
  });

  it('retries a transport failure on the next peer, but not a non-retryable server error', async () => {
    const { scheduler, stores, sender } = setup((s) =>
      s.addr === 'store-1' ? new ClientError(ClientErrorCode.Transport, 'unreachable') : undefined,
    );
    scheduler.regions = [{ region: region(7, '', '', 1, [peer(71, 1), peer(72, 2)]), leader: peer(71, 1) }];
    await sender.sendToKey(b('k'), 'kvGet', get('k'));
    expect(stores.sent.map((s) => s.addr)).toEqual(['store-1', 'store-2']);

    const rejecting = setup(() => new ClientError(ClientErrorCode.InvalidArgument, 'bad'));
    rejecting.scheduler.regions = scheduler.regions;
    await expect(rejecting.sender.sendToKey(b('k'), 'kvGet', get('k'))).rejects.toMatchObject({ code: ClientErrorCode.InvalidArgument });
    expect(rejecting.stores.sent).toHaveLength(1);
  });

  it('falls back to one region over every key at the node when GetRegion is unimplemented', async () => {
    const { scheduler, stores, sender, cache } = setup(() => undefined);
    scheduler.unimplemented = true;
    await sender.sendToKeys([b('a'), b('zzz')], 'kvPrewrite', prewrite);
    expect(cache.mode).toBe('standalone');
    expect(stores.sent).toHaveLength(1);
    expect(stores.sent[0]).toMatchObject({ addr: 'standalone:1', context: { regionId: 0n } });
    await sender.sendToKey(b('q'), 'kvGet', get('q'));
    expect(scheduler.getRegionCalls).toBe(1);
  });

  it('splits a batch by key count and bytes', () => {
    const keys = ['a', 'b', 'c', 'd', 'e'].map(b);
    expect(splitBatch(keys, { maxKeys: 2, maxBytes: 100, sizeOf: () => 1 }).map((x) => x.join(''))).toEqual(['ab', 'cd', 'e']);
    expect(splitBatch(keys, { maxKeys: 10, maxBytes: 25, sizeOf: () => 10 }).map((x) => x.join(''))).toEqual(['ab', 'cd', 'e']);
    expect(splitBatch(keys, { maxKeys: 10, maxBytes: 5, sizeOf: () => 10 })).toHaveLength(5); // an oversized key still goes alone
  });
});
