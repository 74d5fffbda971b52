// The README's cluster embedding example is examples/cluster.ts, verbatim; this runs the compiled
// copy: startServer({ standalone: false, scheduler }) must start a cluster store, not a standalone node.
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import type { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/log/logger.js';
import { ClusterNode, startScheduler, startServer, TinyKvNode } from '../../src/index.js';
import { tempDir } from '../helpers/tmp.js';
import { defined } from '../../src/util/assert.js';

describe('cluster embedding example', () => {
  it('appears verbatim in the README', () => {
    const example = readFileSync('examples/cluster.ts', 'utf8').trim();
    expect(readFileSync('README.md', 'utf8')).toContain(example);
  });

  it('runs: a scheduler and a cluster store in-process, a write through the cluster client, a clean stop', async () => {
    const { stdout } = await promisify(execFile)(process.execPath, ['dist/examples/cluster.js'], { timeout: 60_000 });
    expect(stdout.trim()).toMatch(/^hello from store \d+$/);
  });
});

describe('startServer', () => {
  it('starts a cluster store for standalone: false and a standalone node otherwise', async () => {
    const dir = tempDir();
    const scheduler = await startScheduler({ addr: '127.0.0.1:0', engine: 'memory', initialStores: 1, logger: silentLogger() });
    try {
      const store = await startServer({
        standalone: false,
        scheduler: scheduler.addr,
        addr: '127.0.0.1:0',
        dataDir: `${dir.path}/store`,
        raftPollers: 1,
        logger: silentLogger(),
      });
      expect(store).toBeInstanceOf(ClusterNode);
      expect(scheduler.core.getAllStores(false).map((s) => s.store.address)).toEqual([store.addr]);
      await store.close();
      const node = await startServer({ addr: '127.0.0.1:0', dataDir: `${dir.path}/standalone`, logger: silentLogger() });
      expect(node).toBeInstanceOf(TinyKvNode);
      await node.close();
    } finally {
      await scheduler.close();
      dir.cleanup();
    }
  });

  it("hands a cluster store's internal failure to the embedder's onFatal instead of exiting the process", async () => {
    const dir = tempDir();
    const scheduler = await startScheduler({ addr: '127.0.0.1:0', engine: 'memory', initialStores: 1, logger: silentLogger() });
    const reasons: string[] = [];
    try {
      const store = await startServer({
        standalone: false,
        scheduler: scheduler.addr,
        addr: '127.0.0.1:0',
        dataDir: `${dir.path}/store`,
        raftPollers: 1,
        logger: silentLogger(),
        onFatal: (reason) => reasons.push(reason),
      });
      // A raft poller thread that ends the way a crash would. It closes its LMDB environments
      // first (its control-plane stop; the router did not ask, so the exit is still unexpected):
      // lmdb-js can take the whole process, here the test runner, down when a thread ends in the
      // middle of a write.
      type Poller = { worker: Worker; control: { stop(): Promise<void> } };
      const poller = defined((store.store as unknown as { pollers: Poller[] }).pollers[0], 'first poller');
      await poller.control.stop();
      await poller.worker.terminate();
      for (const deadline = Date.now() + 5_000; reasons.length === 0 && Date.now() < deadline;) await new Promise((r) => setTimeout(r, 20));
      // The exit, or first a frame failing on the stopped thread's closed engines: either names the poller.
      expect(reasons.length).toBeGreaterThan(0);
      for (const reason of reasons) expect(reason).toMatch(/raft poller 0/);
      await store.close();
    } finally {
      await scheduler.close();
      dir.cleanup();
    }
  });
});
