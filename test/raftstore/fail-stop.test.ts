// Fail-stop: an internal failure of the raftstore (a raft-log write that fails, a kv apply that
// fails, a store thread that throws) reaches the onFatal handler once, and the part that failed
// halts; nothing stays half alive. The fatal action is the seam here, so the test runner lives.
import { execFileSync } from 'node:child_process';
import { mkdirSync, statfsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { WriteOp } from '../../src/engine/engine.js';
import { LmdbEngine } from '../../src/engine/lmdb-engine.js';
import { MemoryEngine } from '../../src/engine/memory-engine.js';
import { silentLogger } from '../../src/log/logger.js';
import { EntryType, type Entry } from '../../src/proto/eraftpb.js';
import type { Region } from '../../src/proto/metapb.js';
import { CmdType, RaftCmdRequest, type RaftCmdResponse } from '../../src/proto/raft_cmdpb.js';
import { Applier } from '../../src/raftstore/apply/applier.js';
import { DEFAULT_RAFTSTORE_CONFIG } from '../../src/raftstore/config.js';
import { PeerStorage } from '../../src/raftstore/peer/peer-storage.js';
import { PollerRouter } from '../../src/raftstore/batch/poller-router.js';
import { Store } from '../../src/raftstore/batch/store.js';
import { storeEngineOptions } from '../../src/raftstore/batch/store-engines.js';
import { SeededRandom } from '../../src/raft/index.js';
import { tempDir } from '../helpers/tmp.js';
import { routerOptions } from './router-options.js';
import { defined } from '../../src/util/assert.js';

/** An engine whose writes fail once `failing` is set, as a full or broken disk does. */
class FailingEngine extends MemoryEngine {
  failing = false;
  override async write(ops: readonly WriteOp[]): Promise<void> {
    if (this.failing) throw new Error('Input/output error');
    await super.write(ops);
  }
}

interface FatalCall {
  reason: string;
  err: unknown;
}

function recorder(): { calls: FatalCall[]; onFatal: (reason: string, err?: unknown) => void; next: () => Promise<FatalCall> } {
  const calls: FatalCall[] = [];
  let wake: (() => void) | undefined;
  return {
    calls,
    onFatal: (reason, err) => {
      calls.push({ reason, err });
      wake?.();
    },
    next: () =>
      new Promise((resolve, reject) => {
        if (calls.length > 0) return resolve(defined(calls[0], 'calls[0]'));
        const timer = setTimeout(() => reject(new Error('onFatal was not called')), 20_000);
        wake = () => {
          clearTimeout(timer);
          resolve(defined(calls[0], 'calls[0]'));
        };
      }),
  };
}

const region = (storeId: number): Region => ({
  id: 1,
  startKey: Buffer.alloc(0),
  endKey: Buffer.alloc(0),
  regionEpoch: { confVer: 1, version: 1 },
  peers: [{ id: 101, storeId }],
});

function putRequest(): RaftCmdRequest {
  return RaftCmdRequest.fromPartial({
    header: { regionId: 1, peer: { id: 101, storeId: 1 }, regionEpoch: { confVer: 1, version: 1 } },
    requests: [{ cmdType: CmdType.Put, put: { cf: 'default', key: Buffer.from('k'), value: Buffer.from('v') } }],
  });
}

function putEntry(index: number): Entry {
  const request = RaftCmdRequest.fromPartial({
    header: {},
    requests: [{ cmdType: CmdType.Put, put: { cf: 'default', key: Buffer.from('k'), value: Buffer.from('v') } }],
  });
  return { entryType: EntryType.EntryNormal, term: 6, index, data: Buffer.from(RaftCmdRequest.encode(request).finish()) };
}

async function eventually(check: () => boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not reached');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

const dirs: Array<ReturnType<typeof tempDir>> = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) dir.cleanup();
});

describe('fail-stop in the raftstore', () => {
  it('a store whose raft-log write fails reports it once through onFatal and halts', async () => {
    const raft = new FailingEngine();
    const fatal = recorder();
    const store = new Store({
      storeId: 1,
      engines: { raft, kv: new MemoryEngine() },
      config: DEFAULT_RAFTSTORE_CONFIG,
      transport: { send: () => {} },
      random: new SeededRandom(7).asSource(),
      logger: silentLogger(),
      onFatal: fatal.onFatal,
    });
    await store.createRegion(region(1));
    // The lone peer elects itself; then a proposal must be appended to the raft log, and cannot.
    await eventually(() => {
      store.tick();
      return store.peer(1)?.isLeader() === true;
    });
    await store.settle();
    raft.failing = true;
    const answers: unknown[] = [];
    store.propose(putRequest(), (result) => answers.push(result));
    const call = await fatal.next();
    expect(call.reason).toBe('raft poll round failed');
    expect((call.err as Error).message).toBe('Input/output error');
    // Halted: no more rounds, so no second report, and a proposal is refused, not left hanging.
    for (let i = 0; i < 20; i++) store.tick();
    await store.settle();
    expect(fatal.calls).toHaveLength(1);
    const answer = await new Promise<unknown>((resolve) => store.propose(putRequest(), resolve));
    expect(JSON.stringify(answer)).toContain('regionNotFound');
    await store.stop();
    // The write that could not be logged was never acknowledged as done.
    expect(JSON.stringify(answers)).not.toContain('"put":{}');
  });

  it('an apply whose kv write fails reports it through onFatal and applies nothing more', async () => {
    const kv = new FailingEngine();
    await kv.write(PeerStorage.initialWrites(region(1)).kvOps);
    const fatal = recorder();
    const answered: unknown[] = [];
    const applier = new Applier(kv, silentLogger(), () => {}, fatal.onFatal);
    kv.failing = true;
    applier.apply({ regionId: 1, entries: [putEntry(6)], replies: [{ index: 6, callback: (r) => answered.push(r) }], reads: [] });
    const call = await fatal.next();
    expect(call.reason).toBe('apply failed');
    kv.failing = false;
    applier.apply({ regionId: 1, entries: [putEntry(7)], replies: [], reads: [] });
    await applier.settle();
    // Never acknowledged, never applied.
    expect(answered).toEqual([]);
    expect(kv.get('default', Buffer.from('k'))).toBeUndefined();
    expect(fatal.calls).toHaveLength(1);
  });

  it('a raft poller thread that throws is reported through onFatal, and the router still stops', async () => {
    const dir = tempDir();
    dirs.push(dir);
    const engines = storeEngineOptions(dir.path, false);
    const kv = new LmdbEngine(engines.kv);
    const fatal = recorder();
    const router = await PollerRouter.start(routerOptions(engines, kv, { onFatal: fatal.onFatal }));
    try {
      // A region without a peer on this store breaks the poller's invariant (bootstrap never
      // asks for that): the thread ends with an uncaught error and the main thread hears of it.
      void router.createRegion(region(2));
      const call = await fatal.next();
      expect(call.reason).toBe('raft poller 0 failed');
      expect((call.err as Error).message).toMatch(/raft poller frame createRegion failed: .*has no peer on store 1/);
      await eventually(() => fatal.calls.length >= 1);
      expect(fatal.calls).toHaveLength(1);
    } finally {
      // A dead poller never acks the stop: stopping must not wait for it.
      await router.stop();
      await kv.close();
    }
  });
});

const isRoot = process.getuid?.() === 0;
if (!isRoot) console.warn('apply-thread full-disk test skipped: mounting a tmpfs needs root');

describe.skipIf(!isRoot)('fail-stop of an apply thread', () => {
  it('an apply thread whose kv write fails (a full disk under the kv environment only) is reported through onFatal', async () => {
    const dir = tempDir();
    dirs.push(dir);
    // The raft log on an ordinary disk, the kv environment on a small tmpfs that fills up.
    const mountPoint = join(dir.path, 'kv-mnt');
    mkdirSync(mountPoint);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=4m', 'tmpfs', mountPoint]);
    let router: PollerRouter | undefined;
    let kv: LmdbEngine | undefined;
    try {
      const base = storeEngineOptions(dir.path, false);
      const engines = { raft: base.raft, kv: { ...base.kv, path: join(mountPoint, 'kv') } };
      kv = new LmdbEngine(engines.kv);
      const fatal = recorder();
      router = await PollerRouter.start(
        routerOptions(engines, kv, { config: { ...DEFAULT_RAFTSTORE_CONFIG, raftBaseTickMs: 10 }, onFatal: fatal.onFatal }),
      );
      const started = router;
      await started.createRegion(region(1));
      const ticker = setInterval(() => started.tick(), 10);
      try {
        const propose = (key: string, value: Buffer) =>
          new Promise<RaftCmdResponse>((resolve) =>
            started.propose(
              RaftCmdRequest.fromPartial({
                header: { regionId: 1, peer: { id: 101, storeId: 1 }, regionEpoch: { confVer: 1, version: 1 } },
                requests: [{ cmdType: CmdType.Put, put: { cf: 'default', key: Buffer.from(key), value } }],
              }),
              (result) => resolve(result.response),
            ),
          );
        // Until the lone peer leads, proposals come back with NotLeader.
        await eventually(() => started.leaderRegions().length === 1);
        expect((await propose('first', Buffer.from('v'))).header?.error).toBeUndefined();
        const stats = statfsSync(mountPoint);
        writeFileSync(join(mountPoint, 'filler'), Buffer.alloc(Math.max(0, stats.bavail * stats.bsize - 256 * 1024)));
        const value = Buffer.alloc(64 * 1024, 1);
        for (let i = 0; i < 64 && fatal.calls.length === 0; i++) {
          // Answered or not, the loop only needs the apply thread to hit the full disk.
          await Promise.race([propose(`k${i}`, value), new Promise((resolve) => setTimeout(resolve, 500))]);
        }
        const call = await fatal.next();
        expect(call.reason).toBe('apply thread 0 failed');
        expect((call.err as Error).message).toMatch(/apply failed: no space left/);
      } finally {
        clearInterval(ticker);
      }
    } finally {
      await router?.stop();
      await kv?.close();
      execFileSync('umount', [mountPoint]);
    }
  });
});
