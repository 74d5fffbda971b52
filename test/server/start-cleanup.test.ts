// A start that fails leaves nothing behind in the process: the space guard's free-space sampler
// (an interval timer, unref'd so it never shows as keeping the process alive) is stopped too. An
// embedder that retries a failed start must not collect one sampler per attempt.
import { takePort } from '../helpers/os.js';
import type { Server as NetServer } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { loadConfig } from '../../src/config/config.js';
import { silentLogger } from '../../src/log/logger.js';
import { startScheduler } from '../../src/scheduler/scheduler-server.js';
import { ClusterNode } from '../../src/server/cluster-node.js';
import { TinyKvNode } from '../../src/server/node.js';
import { REFRESH_INTERVAL_MS } from '../../src/storage/space-guard.js';
import { tempDir } from '../helpers/tmp.js';
import { defined } from '../../src/util/assert.js';

const dirs: Array<ReturnType<typeof tempDir>> = [];
const blockers: NetServer[] = [];

afterEach(async () => {
  vi.restoreAllMocks();
  for (const blocker of blockers.splice(0)) await new Promise((resolve) => blocker.close(resolve));
  for (const dir of dirs.splice(0)) dir.cleanup();
});

function newDir(): string {
  const dir = tempDir('tinykv-start-cleanup-');
  dirs.push(dir);
  return dir.path;
}

/** Records the space guard's samplers (intervals at its refresh period) and which of them were cleared. */
function watchGuardTimers(): { started: () => unknown[]; leaked: () => unknown[] } {
  const setSpy = vi.spyOn(globalThis, 'setInterval');
  const clearSpy = vi.spyOn(globalThis, 'clearInterval');
  const started = () =>
    setSpy.mock.calls.flatMap((call, i) =>
      call[1] === REFRESH_INTERVAL_MS ? [defined(setSpy.mock.results[i], 'setSpy.mock.results[i]').value as unknown] : [],
    );
  const leaked = () => {
    const cleared = new Set(clearSpy.mock.calls.map((call) => call[0] as unknown));
    return started().filter((timer) => !cleared.has(timer));
  };
  return { started, leaked };
}

describe('a failed start stops the space guard', () => {
  it('cluster store: address in use -> start rejects and the free-space sampler is stopped', async () => {
    const scheduler = await startScheduler({ addr: '127.0.0.1:0', engine: 'memory', initialStores: 1, logger: silentLogger() });
    try {
      const addr = await takePort(blockers);
      const config = loadConfig({
        overrides: {
          standalone: false,
          scheduler: scheduler.addr,
          addr,
          dataDir: newDir(),
          raftPollers: 1,
          applyPollers: 1,
          logLevel: 'silent',
          sync: false,
          // Any reserve turns the guard on, whatever the test machine's free space.
          reserveSpaceBytes: 1,
        },
      });
      const timers = watchGuardTimers();
      await expect(ClusterNode.start(config, silentLogger())).rejects.toThrow(/cannot listen on .*address already in use/);
      expect(timers.started()).toHaveLength(1);
      expect(timers.leaked()).toEqual([]);
    } finally {
      await scheduler.close();
    }
  });

  it('standalone node: address in use -> start rejects and the free-space sampler is stopped', async () => {
    const addr = await takePort(blockers);
    const config = loadConfig({ overrides: { standalone: true, addr, dataDir: newDir(), logLevel: 'silent', sync: false, reserveSpaceBytes: 1 } });
    const timers = watchGuardTimers();
    await expect(TinyKvNode.start(config, silentLogger())).rejects.toThrow(/cannot listen on .*address already in use/);
    expect(timers.started()).toHaveLength(1);
    expect(timers.leaked()).toEqual([]);
  });

  it('standalone node: a space guard that cannot start -> the engine it was to guard is closed', async () => {
    // statfs failing on the data directory is hard to cause for real; the guard's factory throws instead.
    vi.resetModules();
    vi.doMock('../../src/storage/space-guarded-storage.js', () => ({
      guardSpace: () => {
        throw new Error('statfs failed: EIO');
      },
    }));
    try {
      const { TinyKvNode: FreshNode } = await import('../../src/server/node.js');
      const { LmdbEngine } = await import('../../src/engine/lmdb-engine.js');
      const close = vi.spyOn(LmdbEngine.prototype, 'close');
      const config = loadConfig({ overrides: { standalone: true, addr: '127.0.0.1:0', dataDir: newDir(), logLevel: 'silent', sync: false } });
      await expect(FreshNode.start(config, silentLogger())).rejects.toThrow(/statfs failed: EIO/);
      expect(close).toHaveBeenCalledTimes(1);
    } finally {
      vi.doUnmock('../../src/storage/space-guarded-storage.js');
      vi.resetModules();
    }
  });
});
