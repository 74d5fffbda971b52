// The threaded raftstore's lifecycle: PollerRouter.start resolves only once every raft poller and
// apply thread has finished its initialisation (a thread that fails there rejects the start, and
// ClusterNode.start turns that into a clean failed start), and stop() never waits forever for a
// thread that does not acknowledge.
import { osThreads } from '../helpers/os.js';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/config.js';
import { LmdbEngine } from '../../src/engine/lmdb-engine.js';
import { silentLogger } from '../../src/log/logger.js';
import { PeerState, RegionLocalState } from '../../src/proto/raft_serverpb.js';
import { regionStateKey } from '../../src/raftstore/keys.js';
import { PollerRouter } from '../../src/raftstore/batch/poller-router.js';
import { storeEngineOptions, type StoreEngineOptions } from '../../src/raftstore/batch/store-engines.js';
import { startScheduler } from '../../src/scheduler/scheduler-server.js';
import { ClusterNode } from '../../src/server/cluster-node.js';
import { ErrorCode, isTinyKvError } from '../../src/util/errors.js';
import { tempDir } from '../helpers/tmp.js';
import { routerOptions } from './router-options.js';

const dirs: Array<ReturnType<typeof tempDir>> = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) dir.cleanup();
});

function newDir(): string {
  const dir = tempDir('tinykv-poller-start-');
  dirs.push(dir);
  return dir.path;
}

async function waitFor(done: () => boolean, timeoutMs: number): Promise<void> {
  for (const deadline = Date.now() + timeoutMs; !done() && Date.now() < deadline;) await new Promise((r) => setTimeout(r, 50));
}

/**
 * A damaged data directory as the pollers' loadPeers sees it: region 5's record names no peer at
 * all, which no region can have: it breaks the store's invariant (a thread-init failure, not input).
 */
async function writeForeignRegionRecord(engines: StoreEngineOptions): Promise<void> {
  const kv = new LmdbEngine(engines.kv);
  const state = RegionLocalState.fromPartial({
    state: PeerState.Normal,
    region: {
      id: 5,
      startKey: Buffer.alloc(0),
      endKey: Buffer.alloc(0),
      regionEpoch: { confVer: 1, version: 1 },
      peers: [],
    },
  });
  await kv.write([{ type: 'put', cf: 'meta', key: regionStateKey(5), value: Buffer.from(RegionLocalState.encode(state).finish()) }]);
  await kv.close();
}

describe('PollerRouter.start waits until every thread is ready', () => {
  it('a raft poller whose peers fail to load rejects the start with that error, and no thread is left running', async () => {
    const engines = storeEngineOptions(newDir(), false);
    await writeForeignRegionRecord(engines);
    const kv = new LmdbEngine(engines.kv);
    const threadsBefore = osThreads();
    try {
      // Region 5 goes to poller 1 of 2; poller 0 and both apply threads come up fine and must be
      // terminated with the failed start.
      const started = PollerRouter.start(routerOptions(engines, kv, { pollers: 2, applyThreads: 2 }));
      const err = await started.then(
        (router) => {
          void router.stop();
          throw new Error('PollerRouter.start resolved with a poller that failed during its initialisation');
        },
        (e: unknown) => e,
      );
      expect(isTinyKvError(err) && err.code, String(err)).toBe(ErrorCode.AssertionFailed);
      expect((err as Error).message).toMatch(/^raft poller 1 failed to start: assertion failed: region 5 has no peers/);
      if (threadsBefore > 0) {
        await waitFor(() => osThreads() <= threadsBefore, 10_000);
        expect(osThreads()).toBeLessThanOrEqual(threadsBefore);
      }
    } finally {
      await kv.close();
    }
  });

  it('a thread that fails after reporting ready, while another is still starting, rejects the start too', async () => {
    const engines = storeEngineOptions(newDir(), false);
    const kv = new LmdbEngine(engines.kv);
    const fixture = (name: string) => new URL(`./fixtures/${name}`, import.meta.url).href;
    try {
      // The poller is ready at once and dies 10 ms later; the apply thread is ready only after 1 s.
      const err = await PollerRouter.start(
        routerOptions(engines, kv, { workerUrls: { poller: fixture('ready-then-fail.mjs'), apply: fixture('slow-ready.mjs') } }),
      ).then(
        (router) => {
          void router.stop();
          throw new Error('PollerRouter.start resolved although a poller died while the store was starting');
        },
        (e: unknown) => e,
      );
      expect(isTinyKvError(err) && err.code).toBe(ErrorCode.StoreThreadStartFailed);
      expect((err as Error).message).toBe('raft poller 0 failed to start: failed right after reporting ready');
    } finally {
      await kv.close();
    }
  });

  it('ClusterNode.start fails cleanly: the error comes up, the engines close and the data directory is free again', async () => {
    const scheduler = await startScheduler({ addr: '127.0.0.1:0', engine: 'memory', initialStores: 1, logger: silentLogger() });
    try {
      const dataDir = newDir();
      const engines = storeEngineOptions(dataDir, false);
      await writeForeignRegionRecord(engines);
      const config = loadConfig({
        overrides: {
          standalone: false,
          scheduler: scheduler.addr,
          addr: '127.0.0.1:0',
          dataDir,
          raftPollers: 2,
          applyPollers: 1,
          logLevel: 'silent',
          sync: false,
        },
      });
      await expect(ClusterNode.start(config, silentLogger())).rejects.toThrow(
        /^raft poller 1 failed to start: assertion failed: region 5 has no peers/,
      );
      expect(existsSync(join(dataDir, 'tinykv.pid'))).toBe(false);
      // Engines closed and lock released: once the damaged record is gone, the same directory starts.
      const kv = new LmdbEngine(engines.kv);
      await kv.write([{ type: 'delete', cf: 'meta', key: regionStateKey(5) }]);
      await kv.close();
      const node = await ClusterNode.start(config, silentLogger());
      expect(node.storeId).toBeGreaterThan(0);
      await node.close();
    } finally {
      await scheduler.close();
    }
  });
});

describe('PollerRouter.stop has a deadline', () => {
  it('a poller that never acknowledges the stop is terminated after stopTimeoutMs, logged at error, and stop() resolves', async () => {
    const engines = storeEngineOptions(newDir(), false);
    const kv = new LmdbEngine(engines.kv);
    const lines: Array<Record<string, unknown>> = [];
    const sink = new Writable({
      write(chunk: Buffer, _encoding, callback) {
        for (const line of chunk.toString().split('\n')) if (line.trim() !== '') lines.push(JSON.parse(line) as Record<string, unknown>);
        callback();
      },
    });
    const stopTimeoutMs = 500;
    try {
      // The poller is a stand-in that wedges in a synchronous loop on 'stop'; the apply thread is real.
      const router = await PollerRouter.start(
        routerOptions(engines, kv, {
          logger: pino({ level: 'error' }, sink),
          stopTimeoutMs,
          workerUrls: { poller: new URL('./fixtures/wedged-thread.mjs', import.meta.url).href },
        }),
      );
      const started = Date.now();
      let timer: NodeJS.Timeout | undefined;
      const outcome = await Promise.race([
        router.stop().then(() => 'stopped'),
        new Promise<string>((resolve) => (timer = setTimeout(() => resolve('still stopping after 20 s'), 20_000))),
      ]);
      clearTimeout(timer);
      const tookMs = Date.now() - started;
      expect(outcome).toBe('stopped');
      expect(tookMs).toBeGreaterThanOrEqual(stopTimeoutMs - 50);
      expect(lines).toContainEqual(
        expect.objectContaining({
          level: 50,
          thread: 'raft poller 0',
          timeoutMs: stopTimeoutMs,
          msg: 'store thread did not stop in time; terminating it',
        }),
      );
      // Only the wedged one: the real apply thread acknowledged its stop.
      expect(lines.filter((line) => line.msg === 'store thread did not stop in time; terminating it')).toHaveLength(1);
    } finally {
      await kv.close();
    }
  });
});
