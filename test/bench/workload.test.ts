// The bench's key/value generation and its hand-written request encoders.
import { describe, expect, it } from 'vitest';
import { createRng, KEY_PREFIX, KEY_RANGE_END, Workload } from '../../bench/workload.js';
import { encodeEtcdPut, encodeEtcdRange, encodeRawGet, encodeRawPut, encodeRawScan, inspectResponse } from '../../bench/wire.js';
import { Context, RawGetRequest, RawGetResponse, RawPutRequest, RawPutResponse, RawScanRequest, RawScanResponse } from '../../src/proto/kvrpcpb.js';
import { PutRequest, PutResponse, RangeRequest, RangeResponse } from '../../bench/proto-gen/etcd_kv.js';
import { defined } from '../../src/util/assert.js';

const base = { keySize: 16, valueSize: 256, keyspace: 1000, readRatio: 0.5, scanLimit: 10 };

describe('Workload', () => {
  it('makes keys of exactly the key size, in index order, inside the bench key range', () => {
    const w = new Workload(base);
    const keys = [0, 1, 9, 10, 999].map((i) => w.keyAt(i));
    for (const k of keys) {
      expect(k.length).toBe(16);
      expect(k.subarray(0, 1).toString()).toBe(KEY_PREFIX);
      expect(Buffer.compare(k, KEY_RANGE_END)).toBeLessThan(0);
    }
    expect(defined(keys[0], 'keys[0]').toString()).toBe('k000000000000000');
    expect(defined(keys[4], 'keys[4]').toString()).toBe('k000000000000999');
    const sorted = [...keys].sort(Buffer.compare);
    expect(sorted).toEqual(keys);
  });

  it('honours small and large key sizes', () => {
    expect(new Workload({ ...base, keySize: 4 }).keyAt(999).toString()).toBe('k999');
    expect(new Workload({ ...base, keySize: 100 }).keyAt(5).length).toBe(100);
    expect(() => new Workload({ ...base, keySize: 3 })).toThrow(/too small/);
    expect(() => new Workload({ ...base, keyspace: 0 })).toThrow(/keyspace/);
  });

  it('makes a value of exactly the value size, the same for the same seed', () => {
    expect(new Workload(base).value.length).toBe(256);
    expect(new Workload({ ...base, valueSize: 0 }).value.length).toBe(0);
    expect(new Workload({ ...base, valueSize: 4096 }).value.length).toBe(4096);
    expect(new Workload(base).value).toEqual(new Workload(base).value);
  });

  it('picks random keys only from the keyspace and covers it', () => {
    const w = new Workload({ ...base, keyspace: 50, keySize: 8 });
    const rng = createRng(7);
    const seen = new Set<string>();
    const indexes = new Set<number>();
    for (let i = 0; i < 5000; i++) {
      indexes.add(w.randomIndex(rng));
      seen.add(w.randomKey(rng).toString());
    }
    expect(Math.min(...indexes)).toBe(0);
    expect(Math.max(...indexes)).toBe(49);
    expect(seen.size).toBe(50);
    for (const k of seen) expect(Number(k.slice(1))).toBeLessThan(50);
  });

  it('mixes gets and puts at the read ratio; other ops make one call', () => {
    const w = new Workload({ ...base, readRatio: 0.9 });
    const rng = createRng(1);
    let gets = 0;
    for (let i = 0; i < 10_000; i++) if (w.nextCall('mix', rng) === 'get') gets++;
    expect(gets / 10_000).toBeGreaterThan(0.87);
    expect(gets / 10_000).toBeLessThan(0.93);
    expect(w.nextCall('put', rng)).toBe('put');
    expect(w.nextCall('get', rng)).toBe('get');
    expect(w.nextCall('scan', rng)).toBe('scan');
    expect(Workload.needsPreload('put')).toBe(false);
    expect(Workload.needsPreload('mix')).toBe(true);
  });
});

describe('request encoders match the generated decoders', () => {
  const key = Buffer.from('k000000000000042');
  const cf = Buffer.from('default');
  it.each([0, 1, 127, 128, 300, 20_000])('RawPut with a %i-byte value', (size) => {
    const value = Buffer.alloc(size, 7);
    const decoded = RawPutRequest.decode(encodeRawPut(key, value, cf));
    expect(decoded.value.equals(value)).toBe(true);
    expect({ ...decoded, value: undefined }).toEqual({ context: undefined, key, value: undefined, cf: 'default' });
  });

  it('RawGet and RawScan', () => {
    expect(RawGetRequest.decode(encodeRawGet(key, cf))).toEqual({ context: undefined, key, cf: 'default' });
    expect(RawScanRequest.decode(encodeRawScan(key, 10, cf))).toEqual({ context: undefined, startKey: key, limit: 10, cf: 'default' });
    expect(RawScanRequest.decode(encodeRawScan(key, 100_000, Buffer.alloc(0)))).toMatchObject({ limit: 100_000, cf: '' });
  });

  it('carry an encoded Context (the routed tinykv target) as field 1', () => {
    const context = Context.fromPartial({ regionId: 7n, regionEpoch: { confVer: 2, version: 3 }, peer: { id: 9, storeId: 4 } });
    const bytes = Context.encode(context).finish();
    const value = Buffer.alloc(300, 5);
    expect(RawPutRequest.decode(encodeRawPut(key, value, cf, bytes))).toEqual({ context, key, value, cf: 'default' });
    expect(RawGetRequest.decode(encodeRawGet(key, cf, bytes))).toEqual({ context, key, cf: 'default' });
    expect(RawScanRequest.decode(encodeRawScan(key, 10, cf, bytes))).toEqual({ context, startKey: key, limit: 10, cf: 'default' });
  });

  it('etcd Put and Range', () => {
    const value = Buffer.alloc(256, 1);
    expect(PutRequest.decode(encodeEtcdPut(key, value))).toEqual({ key, value, lease: 0n, prevKv: false });
    expect(RangeRequest.decode(encodeEtcdRange(key, Buffer.alloc(0), 0, false))).toMatchObject({
      key,
      rangeEnd: Buffer.alloc(0),
      limit: 0n,
      serializable: false,
    });
    expect(RangeRequest.decode(encodeEtcdRange(key, KEY_RANGE_END, 10, true))).toMatchObject({
      key,
      rangeEnd: KEY_RANGE_END,
      limit: 10n,
      serializable: true,
    });
  });
});

describe('response inspection agrees with the generated encoders', () => {
  const bytes = (u: Uint8Array) => Buffer.from(u);
  const RAW_ERRORS = (1 << 1) | (1 << 2);
  const kv = { error: undefined, key: Buffer.from('k1'), value: Buffer.alloc(300, 1) };

  it('reads RawGet found / not found / error', () => {
    expect(
      inspectResponse(bytes(RawGetResponse.encode(RawGetResponse.fromPartial({ value: Buffer.alloc(256) })).finish()), RAW_ERRORS, 0, 4),
    ).toMatchObject({ errorSet: false, flag: false });
    expect(inspectResponse(bytes(RawGetResponse.encode(RawGetResponse.fromPartial({ notFound: true })).finish()), RAW_ERRORS, 0, 4)).toMatchObject({
      errorSet: false,
      flag: true,
    });
    expect(inspectResponse(bytes(RawGetResponse.encode(RawGetResponse.fromPartial({ error: 'boom' })).finish()), RAW_ERRORS, 0, 4).errorSet).toBe(
      true,
    );
    expect(inspectResponse(Buffer.alloc(0), RAW_ERRORS, 0, 4)).toMatchObject({ errorSet: false, flag: false });
  });

  it('reads RawPut and RawScan errors and pair counts', () => {
    expect(inspectResponse(bytes(RawPutResponse.encode(RawPutResponse.fromPartial({})).finish()), RAW_ERRORS, 0, 0).errorSet).toBe(false);
    const regionError = RawPutResponse.encode(RawPutResponse.fromPartial({ regionError: { message: 'not leader' } })).finish();
    expect(inspectResponse(bytes(regionError), RAW_ERRORS, 0, 0).errorSet).toBe(true);
    const scan = RawScanResponse.encode(RawScanResponse.fromPartial({ kvs: Array.from({ length: 200 }, () => kv) })).finish();
    expect(inspectResponse(bytes(scan), RAW_ERRORS, 3, 0)).toMatchObject({ errorSet: false, count: 200 });
  });

  it('counts etcd RangeResponse.kvs past the header and accepts a PutResponse', () => {
    const header = { clusterId: 2n ** 63n, memberId: 7n, revision: 123_456_789n, raftTerm: 3n };
    const kvs = Array.from({ length: 3 }, () => ({ key: kv.key, value: kv.value, createRevision: 5n, modRevision: 6n, version: 1n, lease: 0n }));
    const range = RangeResponse.encode(RangeResponse.fromPartial({ header, kvs, more: true, count: 10n })).finish();
    expect(inspectResponse(bytes(range), 0, 2, 0).count).toBe(3);
    expect(inspectResponse(bytes(RangeResponse.encode(RangeResponse.fromPartial({ header })).finish()), 0, 2, 0).count).toBe(0);
    expect(() => inspectResponse(bytes(PutResponse.encode(PutResponse.fromPartial({ header })).finish()), 0, 0, 0)).not.toThrow();
  });

  it('rejects a truncated message', () => {
    const scan = bytes(RawScanResponse.encode(RawScanResponse.fromPartial({ kvs: [kv] })).finish());
    expect(() => inspectResponse(scan.subarray(0, scan.length - 1), RAW_ERRORS, 3, 0)).toThrow(/truncated/);
  });
});
