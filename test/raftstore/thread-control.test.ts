// The control plane of the store threads (src/raftstore/batch/control.ts): each raft poller and
// apply thread answers status, metrics, a log-level change and stop over comlink on a port of its
// own, and PollerRouter uses it.
import { afterEach, expect, it } from 'vitest';
import type { LogLevel } from '../../src/config/config.js';
import { LmdbEngine } from '../../src/engine/lmdb-engine.js';
import { PollerRouter } from '../../src/raftstore/batch/poller-router.js';
import { storeEngineOptions } from '../../src/raftstore/batch/store-engines.js';
import { tempDir } from '../helpers/tmp.js';
import { routerOptions } from './router-options.js';

const dirs: Array<ReturnType<typeof tempDir>> = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) dir.cleanup();
});

it('reports every thread’s regions, leaders and pending work, takes a log level, and stops them', async () => {
  const dir = tempDir('tinykv-thread-control-');
  dirs.push(dir);
  const engines = storeEngineOptions(dir.path, false);
  const kv = new LmdbEngine(engines.kv);
  const router = await PollerRouter.start(routerOptions(engines, kv, { pollers: 2, applyThreads: 1 }));
  try {
    await router.createRegion({
      id: 3,
      startKey: Buffer.alloc(0),
      endKey: Buffer.alloc(0),
      regionEpoch: { confVer: 1, version: 1 },
      peers: [{ id: 31, storeId: 1 }],
    });
    // A region with one voter elects itself after an election timeout of ticks; the apply thread
    // knows the region once the new leader's first entry has been handed to it.
    let status = await router.threadStatus();
    const settled = () => JSON.stringify(status).includes('"leader":true') && JSON.stringify(status[2]?.regions) === '[3]';
    for (let i = 0; i < 500 && !settled(); i++) {
      router.tick();
      await new Promise((resolve) => setTimeout(resolve, 10));
      status = await router.threadStatus();
    }
    expect(status.map((s) => [s.thread, s.kind])).toEqual([
      ['raft poller 0', 'raft poller'],
      ['raft poller 1', 'raft poller'],
      ['apply thread 0', 'apply thread'],
    ]);
    // Region 3 lives on poller 1 (shardOfRegion(3, 2)).
    expect(status[0]!.regions).toEqual([]);
    expect(status[1]!.regions).toEqual([{ regionId: 3, peerId: 31, leader: true }]);
    expect(status[1]!.pending).toBeGreaterThanOrEqual(0);
    expect(status[2]!.regions).toEqual([3]);

    const metrics = await router.threadMetrics();
    expect(metrics.map((m) => m.thread)).toEqual(['main', 'raft poller 0', 'raft poller 1', 'apply thread 0']);
    expect(metrics[0]!.metrics).toMatchObject({ pendingCommands: 0, cancelled: 0, lateAnswers: 0, 'droppedMessages.undecodable': 0 });
    expect(metrics[2]!.metrics).toHaveProperty('droppedMessages.region-not-found', 0);
    expect(metrics[3]!.metrics).toHaveProperty('queued', 0);

    await router.setThreadLogLevel('debug');
    await expect(router.setThreadLogLevel('loud' as LogLevel)).rejects.toThrow(/unknown log level loud/);
  } finally {
    const started = Date.now();
    await router.stop();
    // Every thread stopped on request, well within the stop deadline.
    expect(Date.now() - started).toBeLessThan(5_000);
    await kv.close();
  }
  await expect(router.threadStatus()).rejects.toThrow(/stopped/);
});
