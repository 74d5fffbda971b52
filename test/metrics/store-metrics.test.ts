// Main-thread metrics of a store, read back through its status server's /metrics after real gRPC
// traffic: raw calls and a transaction on a standalone node, region roles on a one-store cluster.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { credentials } from '@grpc/grpc-js';
import { startServer, type TinyKvNode } from '../../src/index.js';
import { silentLogger } from '../../src/log/logger.js';
import { TinyKvClient } from '../../src/proto/tinykvpb.js';
import {
  Op,
  type CommitResponse,
  type GetResponse,
  type PrewriteResponse,
  type RawGetResponse,
  type RawPutResponse,
} from '../../src/proto/kvrpcpb.js';
import { startScheduler, type SchedulerHandle } from '../../src/scheduler/scheduler-server.js';
import type { ClusterNode } from '../../src/server/cluster-node.js';
import { defined } from '../../src/util/assert.js';
import { tempDir } from '../helpers/tmp.js';

function call<Res>(invoke: (cb: (err: Error | null, res: Res) => void) => unknown): Promise<Res> {
  return new Promise((resolve, reject) => invoke((err, res) => (err ? reject(err) : resolve(res))));
}

async function scrape(statusAddr: string | undefined): Promise<string> {
  const response = await fetch(`http://${defined(statusAddr, 'status address')}/metrics`);
  expect(response.status).toBe(200);
  return response.text();
}

/** The value of one sample line, `name{labels} value`, or undefined when absent. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe('store metrics on a standalone node', () => {
  let node: TinyKvNode;
  let kv: TinyKvClient;
  const dir = tempDir();

  beforeAll(async () => {
    node = await startServer({ addr: '127.0.0.1:0', statusAddr: '127.0.0.1:0', dataDir: dir.path, logger: silentLogger() });
    kv = new TinyKvClient(node.addr, credentials.createInsecure());
  });

  afterAll(async () => {
    kv.close();
    await node.close();
    dir.cleanup();
  });

  it('counts raw calls and transaction commands with their labels', async () => {
    for (let i = 0; i < 3; i++) {
      await call<RawPutResponse>((cb) => kv.rawPut({ context: undefined, key: Buffer.from(`k${i}`), value: Buffer.from('v'), cf: '' }, cb));
    }
    await call<RawGetResponse>((cb) => kv.rawGet({ context: undefined, key: Buffer.from('k0'), cf: '' }, cb));
    await call<RawGetResponse>((cb) => kv.rawGet({ context: undefined, key: Buffer.from('k1'), cf: '' }, cb));
    // An invalid call: a key too large is INVALID_ARGUMENT.
    await expect(
      call<RawPutResponse>((cb) => kv.rawPut({ context: undefined, key: Buffer.alloc(100_000), value: Buffer.from('v'), cf: '' }, cb)),
    ).rejects.toThrow();
    const key = Buffer.from('txn-key');
    const prewrite = await call<PrewriteResponse>((cb) =>
      kv.kvPrewrite(
        { context: undefined, mutations: [{ op: Op.Put, key, value: Buffer.from('v1') }], primaryLock: key, startVersion: 100n, lockTtl: 3000n },
        cb,
      ),
    );
    expect(prewrite.errors).toEqual([]);
    // Read under the lock: a key error (locked), counted as such.
    const locked = await call<GetResponse>((cb) => kv.kvGet({ context: undefined, key, version: 105n }, cb));
    expect(locked.error?.locked).toBeDefined();
    const commit = await call<CommitResponse>((cb) => kv.kvCommit({ context: undefined, startVersion: 100n, keys: [key], commitVersion: 110n }, cb));
    expect(commit.error).toBeUndefined();
    await call<GetResponse>((cb) => kv.kvGet({ context: undefined, key, version: 120n }, cb));

    const text = await scrape(node.statusAddr);
    expect(sample(text, 'tinykv_grpc_requests_total{method="RawPut",code="OK"}')).toBe(3);
    expect(sample(text, 'tinykv_grpc_requests_total{method="RawPut",code="INVALID_ARGUMENT"}')).toBe(1);
    expect(sample(text, 'tinykv_grpc_requests_total{method="RawGet",code="OK"}')).toBe(2);
    expect(sample(text, 'tinykv_grpc_request_duration_seconds_count{method="RawPut"}')).toBe(4);
    expect(sample(text, 'tinykv_grpc_request_duration_seconds_bucket{le="+Inf",method="RawGet"}')).toBe(2);
    expect(sample(text, 'tinykv_txn_commands_total{command="prewrite",result="ok"}')).toBe(1);
    expect(sample(text, 'tinykv_txn_commands_total{command="commit",result="ok"}')).toBe(1);
    expect(sample(text, 'tinykv_txn_commands_total{command="get",result="key_error"}')).toBe(1);
    expect(sample(text, 'tinykv_txn_commands_total{command="get",result="ok"}')).toBe(1);
    // Prewrite and commit each take latches; reads take none.
    expect(sample(text, 'tinykv_txn_latch_wait_duration_seconds_count')).toBe(2);
    // 3 raw puts, a prewrite and a commit: one engine commit each.
    expect(sample(text, 'tinykv_engine_commit_duration_seconds_count{engine="kv"}')).toBe(5);
    expect(sample(text, 'tinykv_engine_size_bytes{engine="kv"}')).toBeGreaterThan(0);
    expect(text).toContain('nodejs_eventloop_lag_seconds');
    expect(text).toContain('process_cpu_seconds_total');
  });

  it('keeps each node in its own registry', async () => {
    const otherDir = tempDir();
    const other = await startServer({ addr: '127.0.0.1:0', statusAddr: '127.0.0.1:0', dataDir: otherDir.path, logger: silentLogger() });
    try {
      expect(other.metrics.registry).not.toBe(node.metrics.registry);
      expect(sample(await scrape(other.statusAddr), 'tinykv_grpc_requests_total{method="RawPut",code="OK"}')).toBeUndefined();
    } finally {
      await other.close();
      otherDir.cleanup();
    }
  });
});

describe('store metrics on a cluster store', () => {
  let scheduler: SchedulerHandle;
  let store: ClusterNode;
  const dir = tempDir();

  beforeAll(async () => {
    scheduler = await startScheduler({ addr: '127.0.0.1:0', dataDir: `${dir.path}/scheduler`, initialStores: 1, logger: silentLogger() });
    store = await startServer({
      standalone: false,
      scheduler: scheduler.addr,
      addr: '127.0.0.1:0',
      statusAddr: '127.0.0.1:0',
      dataDir: `${dir.path}/store`,
      raftPollers: 1,
      raftBaseTickMs: 20,
      logger: silentLogger(),
    });
  }, 60_000);

  afterAll(async () => {
    await store.close();
    await scheduler.close();
    dir.cleanup();
  });

  it('reports its region as led here, in /metrics and /status, and both engines', async () => {
    const deadline = Date.now() + 30_000;
    let text = '';
    while (Date.now() < deadline) {
      text = await scrape(store.statusAddr);
      if (sample(text, 'tinykv_raftstore_regions{role="leader"}') === 1) break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(sample(text, 'tinykv_raftstore_regions{role="leader"}')).toBe(1);
    expect(sample(text, 'tinykv_raftstore_regions{role="follower"}')).toBe(0);
    expect(sample(text, 'tinykv_engine_size_bytes{engine="raft"}')).toBeGreaterThan(0);
    expect(sample(text, 'tinykv_engine_size_bytes{engine="kv"}')).toBeGreaterThan(0);
    const status = (await (await fetch(`http://${defined(store.statusAddr, 'status address')}/status`)).json()) as Record<string, unknown>;
    expect(status.store_id).toBe(store.storeId);
    expect(status.address).toBe(store.addr);
    expect(Object.values(status.regions as Record<string, string>)).toEqual(['leader']);
    expect((await fetch(`http://${defined(store.statusAddr, 'status address')}/readyz`)).status).toBe(200);
  }, 40_000);

  it('counts the reads its main thread served from the leader lease', async () => {
    const kv = new TinyKvClient(store.addr, credentials.createInsecure());
    try {
      let served = 0;
      for (const deadline = Date.now() + 20_000; served === 0 && Date.now() < deadline;) {
        const response = await call<RawGetResponse>((cb) => kv.rawGet({ context: undefined, key: Buffer.from('lease-key'), cf: 'default' }, cb));
        expect(response.regionError).toBeUndefined();
        served = sample(await scrape(store.statusAddr), 'tinykv_local_reads_total{result="served"}') ?? 0;
      }
      expect(served).toBeGreaterThan(0);
      expect(sample(await scrape(store.statusAddr), 'tinykv_local_reads_total{result="expired"}')).toBeGreaterThanOrEqual(0);
    } finally {
      kv.close();
    }
  }, 40_000);

  it('a store whose status address is taken does not start, and leaves its data dir free', async () => {
    const options = {
      standalone: false,
      scheduler: scheduler.addr,
      addr: '127.0.0.1:0',
      dataDir: `${dir.path}/store-2`,
      raftPollers: 1,
      raftBaseTickMs: 20,
      logger: silentLogger(),
    } as const;
    await expect(startServer({ ...options, statusAddr: store.statusAddr })).rejects.toMatchObject({ code: 'KV:Server:ListenFailed' });
    // Everything the failed start opened is closed again: the same data dir starts.
    const again = await startServer(options);
    expect(again.statusAddr).toBeUndefined();
    await again.close();
  }, 60_000);
});
