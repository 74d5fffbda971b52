// A command its caller gave up on (RaftKvStorage's deadline) leaves nothing behind in the
// PollerRouter: its pending entry is removed at the timeout, and the answer that comes later is
// dropped and counted.
import { afterEach, expect, it } from 'vitest';
import { LmdbEngine } from '../../src/engine/lmdb-engine.js';
import { PollerRouter } from '../../src/raftstore/batch/poller-router.js';
import { storeEngineOptions } from '../../src/raftstore/batch/store-engines.js';
import { RegionError } from '../../src/raftstore/router/errors.js';
import { RaftKvStorage } from '../../src/storage/raft-kv-storage.js';
import { tempDir } from '../helpers/tmp.js';
import { routerOptions } from './router-options.js';

const dirs: Array<ReturnType<typeof tempDir>> = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) dir.cleanup();
});

it('timed-out commands leave the pending map empty, and their late answers are dropped and counted', async () => {
  const dir = tempDir('tinykv-command-timeout-');
  dirs.push(dir);
  const engines = storeEngineOptions(dir.path, false);
  const kv = new LmdbEngine(engines.kv);
  // The poller is a stand-in that answers every command 300 ms late; the apply thread is real.
  const router = await PollerRouter.start(
    routerOptions(engines, kv, { workerUrls: { poller: new URL('./fixtures/late-poller.mjs', import.meta.url).href } }),
  );
  try {
    const storage = new RaftKvStorage(router, 20);
    const commands = 200;
    const context = { regionId: 1n, regionEpoch: undefined, peer: undefined, term: 0n };
    const outcomes = await Promise.allSettled(
      Array.from({ length: commands }, (_, i) =>
        storage.write(context, [{ type: 'put', cf: 'default', key: Buffer.from(`k${i}`), value: Buffer.from('v') }]),
      ),
    );
    for (const outcome of outcomes) {
      expect(outcome.status).toBe('rejected');
      const reason = (outcome as PromiseRejectedResult).reason as RegionError;
      expect(reason).toBeInstanceOf(RegionError);
      expect(reason.regionError.message).toBe('raft command timed out');
    }
    expect(router.pendingCommands).toBe(0);
    expect(router.commandCounts.cancelled).toBe(commands);
    for (const deadline = Date.now() + 10_000; router.commandCounts.lateAnswers < commands && Date.now() < deadline;) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(router.commandCounts.lateAnswers).toBe(commands);
    expect(router.pendingCommands).toBe(0);
  } finally {
    await router.stop();
    await kv.close();
  }
});
