// The scheduler client against a standalone node: cluster id, and batched TSO over one stream.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SchedulerClient, physicalMs } from '../../src/client/scheduler-client.js';
import { ClientErrorCode } from '../../src/client/index.js';
import { startServer, type TinyKvNode } from '../../src/index.js';
import { silentLogger } from '../../src/log/logger.js';
import { tempDir } from '../helpers/tmp.js';
import { defined } from '../../src/util/assert.js';

let node: TinyKvNode;
let dir: ReturnType<typeof tempDir>;
let pd: SchedulerClient;

beforeAll(async () => {
  dir = tempDir('tinykv-client-pd-');
  node = await startServer({ addr: '127.0.0.1:0', dataDir: dir.path, logger: silentLogger() });
  pd = await SchedulerClient.connect([node.addr], { logger: silentLogger() });
});
afterAll(async () => {
  pd.close();
  await node.close();
  dir.cleanup();
});

describe('SchedulerClient', () => {
  it('reads the cluster id from GetMembers', () => {
    expect(pd.clusterId).toBeGreaterThan(0n);
    expect(pd.addr).toBe(node.addr);
  });

  it('skips unreachable seed addresses', async () => {
    const client = await SchedulerClient.connect(['127.0.0.1:1', node.addr], { logger: silentLogger(), timeoutMs: 1000 });
    try {
      expect(client.addr).toBe(node.addr);
      expect(client.clusterId).toBe(pd.clusterId);
      expect(await client.getTimestamp()).toBeGreaterThan(0n);
    } finally {
      client.close();
    }
  });

  it('hands out unique timestamps under concurrency, batching concurrent calls into few requests', async () => {
    const before = { ...pd.stats };
    const first = await pd.getTimestamp();
    const n = 5000;
    const all = await Promise.all(Array.from({ length: n }, () => pd.getTimestamp()));
    const requests = pd.stats.tsoRequests - before.tsoRequests - 1;
    expect(new Set(all.map(String)).size).toBe(n);
    for (const ts of all) expect(ts).toBeGreaterThan(first);
    // Calls are served in the order made: the list is strictly increasing.
    for (let i = 1; i < n; i++) expect(defined(all[i], 'all[i]') > defined(all[i - 1], 'all[i - 1]')).toBe(true);
    expect(requests).toBeGreaterThanOrEqual(1);
    expect(requests).toBeLessThan(n / 10);
    const after = await pd.getTimestamp();
    expect(after).toBeGreaterThan(defined(all[n - 1], 'all[n - 1]'));
    expect(Number(physicalMs(after))).toBeGreaterThan(Date.now() - 60_000);
  });

  it('keeps timestamps strictly increasing across interleaved sequential and concurrent callers', async () => {
    let last = 0n;
    const seen = new Set<bigint>();
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        let mine = 0n;
        for (let i = 0; i < 100; i++) {
          const ts = await pd.getTimestamp();
          expect(ts).toBeGreaterThan(mine); // each caller's own sequence increases
          mine = ts;
          expect(seen.has(ts)).toBe(false);
          seen.add(ts);
          if (ts > last) last = ts;
        }
      }),
    );
    expect(seen.size).toBe(800);
    expect(await pd.getTimestamp()).toBeGreaterThan(last);
  });

  it('reopens the stream after the node restarts, and timestamps keep increasing', async () => {
    const restartDir = tempDir('tinykv-client-pd-restart-');
    // The open Tso stream holds a graceful shutdown until its timeout: keep that short.
    const options = { dataDir: restartDir.path, logger: silentLogger(), gracefulShutdownTimeoutMs: 200 };
    let restarted = await startServer({ ...options, addr: '127.0.0.1:0' });
    const client = await SchedulerClient.connect([restarted.addr], { logger: silentLogger(), timeoutMs: 2000, tsoMaxAttempts: 20 });
    try {
      const before = await client.getTimestamp();
      const addr = restarted.addr;
      await restarted.close();
      restarted = await startServer({ ...options, addr });
      const started = Date.now();
      const after = await client.getTimestamp();
      expect(after).toBeGreaterThan(before);
      // The dead stream was noticed and replaced, not waited out until the 2 s response timeout.
      expect(Date.now() - started).toBeLessThan(2000);
      expect(client.clusterId).toBeGreaterThan(0n);
    } finally {
      client.close();
      await restarted.close();
      restartDir.cleanup();
    }
  });

  it('hands concurrent tso(count) and getTimestamp() callers disjoint ranges out of shared requests', async () => {
    const before = pd.stats.tsoRequests;
    const counts = Array.from({ length: 60 }, (_, i) => (i % 3 === 0 ? 1 : 1 + (i % 7)));
    const lasts = await Promise.all(counts.map((count) => (count === 1 ? pd.getTimestamp() : pd.tso(count))));
    const ranges = lasts.map((last, i) => ({ first: last - BigInt(counts[i]!) + 1n, last })).sort((a, b) => (a.first < b.first ? -1 : 1));
    for (let i = 1; i < ranges.length; i++) expect(ranges[i]!.first > ranges[i - 1]!.last).toBe(true);
    expect(pd.stats.tsoRequests - before).toBeLessThan(counts.length);
    await expect(pd.tso(0)).rejects.toMatchObject({ code: ClientErrorCode.InvalidArgument });
  });

  it('fails pending and later calls with ClientClosed after close', async () => {
    const client = await SchedulerClient.connect([node.addr], { logger: silentLogger() });
    const pending = client.getTimestamp();
    client.close();
    await pending.then(
      () => undefined, // answered before close: fine
      (err: unknown) => expect(err).toMatchObject({ code: ClientErrorCode.ClientClosed }),
    );
    await expect(client.getTimestamp()).rejects.toMatchObject({ code: ClientErrorCode.ClientClosed });
  });
});
