// The etcd target against a small in-process fake of etcd's KV service (two "members" sharing one
// map), built from the same .proto: wire format, endpoint spreading and read modes, without etcd.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Server, ServerCredentials, status as GrpcStatus } from '@grpc/grpc-js';
import { KVService, type KeyValue, type KVServer, type RangeRequest } from '../../bench/proto-gen/etcd_kv.js';
import { EtcdTarget, endpointAddress } from '../../bench/targets/etcd.js';
import { runBench } from '../../bench/bench.js';
import { defined } from '../../src/util/assert.js';

const store = new Map<string, Buffer>();
const calls: Array<{ member: number; method: 'put' | 'range'; serializable?: boolean }> = [];
let failPuts = false;

function fakeMember(member: number): KVServer {
  return {
    put(call, callback) {
      calls.push({ member, method: 'put' });
      if (failPuts) return callback({ code: GrpcStatus.RESOURCE_EXHAUSTED, details: 'etcdserver: mvcc: database space exceeded' }, null);
      store.set(call.request.key.toString('latin1'), call.request.value);
      callback(null, { header: { clusterId: 1n, memberId: BigInt(member), revision: 1n, raftTerm: 1n }, prevKv: undefined });
    },
    range(call, callback) {
      const req: RangeRequest = call.request;
      calls.push({ member, method: 'range', serializable: req.serializable });
      const start = req.key.toString('latin1');
      const keys =
        req.rangeEnd.length === 0
          ? store.has(start)
            ? [start]
            : []
          : [...store.keys()].filter((k) => k >= start && k < req.rangeEnd.toString('latin1')).sort();
      const limited = req.limit > 0n ? keys.slice(0, Number(req.limit)) : keys;
      const kvs: KeyValue[] = limited.map((k) => ({
        key: Buffer.from(k, 'latin1'),
        value: store.get(k)!,
        createRevision: 1n,
        modRevision: 1n,
        version: 1n,
        lease: 0n,
      }));
      callback(null, { header: undefined, kvs, more: limited.length < keys.length, count: BigInt(keys.length) });
    },
  };
}

const servers: Server[] = [];
const endpoints: string[] = [];

beforeAll(async () => {
  for (let member = 0; member < 2; member++) {
    const server = new Server();
    server.addService(KVService, fakeMember(member));
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
    );
    servers.push(server);
    endpoints.push(member === 0 ? `http://127.0.0.1:${port}` : `127.0.0.1:${port}`);
  }
});

afterAll(() => {
  for (const server of servers) server.forceShutdown();
});

describe('etcd target', () => {
  it('accepts host:port and http:// endpoints, refuses TLS', () => {
    expect(endpointAddress('http://10.0.0.1:2379/')).toBe('10.0.0.1:2379');
    expect(endpointAddress(' 127.0.0.1:2379 ')).toBe('127.0.0.1:2379');
    expect(() => endpointAddress('https://127.0.0.1:2379')).toThrow(/TLS/);
    expect(() => endpointAddress('localhost')).toThrow(/host:port/);
  });

  it('puts, gets and scans through KV.Put and KV.Range, spreading lanes over the members', async () => {
    const target = new EtcdTarget({ endpoints, connections: 2 });
    await target.connect();
    try {
      calls.length = 0;
      await target.put(Buffer.from('k01'), Buffer.from('v1'), 0);
      await target.put(Buffer.from('k02'), Buffer.from('v2'), 1);
      await target.put(Buffer.from('k03'), Buffer.from('v3'), 2);
      expect(calls.map((c) => c.member)).toEqual([0, 1, 0]);
      expect(await target.get(Buffer.from('k02'), 0)).toBe(true);
      expect(await target.get(Buffer.from('k99'), 1)).toBe(false);
      expect(await target.scan(Buffer.from('k02'), 10, 0)).toBe(2);
      expect(await target.scan(Buffer.from('k00'), 2, 0)).toBe(2);
      expect(calls.filter((c) => c.method === 'range').every((c) => c.serializable === false)).toBe(true);
    } finally {
      await target.close();
    }
  });

  it('sends serializable reads when asked', async () => {
    const target = new EtcdTarget({ endpoints, connections: 1, serializable: true });
    await target.connect();
    try {
      calls.length = 0;
      await target.get(Buffer.from('k01'), 0);
      expect(calls).toEqual([{ member: 0, method: 'range', serializable: true }]);
    } finally {
      await target.close();
    }
    expect(target.description).toMatch(/2 connections, serializable reads/);
  });

  it('runs a bench (preload, get, mix) and counts gRPC errors without stopping', async () => {
    const config = {
      targets: ['etcd'] as const,
      addr: '',
      endpoints,
      ops: ['get', 'mix'] as const,
      clients: [4],
      keySize: 8,
      valueSize: 32,
      keyspace: 50,
      mixReadRatio: 0.5,
      scanLimit: 5,
      count: 100,
      warmupMs: 0,
    };
    const ok = await runBench(config);
    expect(ok.results.map((r) => [r.op, r.ops, r.errors, r.misses])).toEqual([
      ['get', 100, 0, 0],
      ['mix', 100, 0, 0],
    ]);
    expect(ok.settings.etcdReads).toBe('linearizable');

    failPuts = true;
    try {
      const mixed = await runBench({ ...config, ops: ['mix'], preload: false });
      const r = defined(mixed.results[0], 'mixed.results[0]');
      expect(r.errors).toBeGreaterThan(0);
      expect(r.ops + r.errors).toBe(100);
      expect(r.firstError).toMatch(/^RESOURCE_EXHAUSTED: etcdserver: mvcc: database space exceeded/);
    } finally {
      failPuts = false;
    }
  });
});
