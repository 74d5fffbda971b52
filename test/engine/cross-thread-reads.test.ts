// What one thread's reads see of another thread's commits. lmdb-js keeps one read transaction per
// event-loop turn, so a plain get can miss a commit another thread made during the turn; the
// raftstore's pollers decide about regions the apply threads record (a split's new region), so
// they read with getLatest or a snapshot, which must see it. The main thread here blocks on
// Atomics.wait while a worker commits, so the whole check runs inside one turn, deterministically.
import { Worker } from 'node:worker_threads';
import { createRequire } from 'node:module';
import { afterEach, describe, expect, it } from 'vitest';
import { LmdbEngine } from '../../src/engine/lmdb-engine.js';
import { tempDir } from '../helpers/tmp.js';

const require = createRequire(import.meta.url);
const LMDB_ENTRY = require.resolve('lmdb');

/** A worker that opens the same environment with lmdb-js and commits `key=value` in the `meta` family when signalled. */
const WRITER = `
const { workerData } = require('node:worker_threads');
const { open } = require(workerData.lmdb);
const root = open({ path: workerData.path, maxDbs: 16, keyEncoding: 'binary', encoding: 'binary' });
const meta = root.openDB({ name: 'meta', keyEncoding: 'binary', encoding: 'binary' });
const flag = new Int32Array(workerData.flag);
Atomics.wait(flag, 0, 0);
meta.putSync(Buffer.from(workerData.key), Buffer.from(workerData.value));
Atomics.store(flag, 0, 2);
Atomics.notify(flag, 0);
root.close();
`;

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

describe('reads of another thread’s commits (lmdb engine)', () => {
  it('get may keep the turn’s view; getLatest and snapshot see a commit made during the turn', async () => {
    const dir = tempDir();
    cleanups.push(dir.cleanup);
    const engine = new LmdbEngine({ path: dir.path });
    cleanups.push(() => engine.close());
    const key = Buffer.from('region-state');
    await engine.write([{ type: 'put', cf: 'meta', key, value: Buffer.from('old') }]);

    const flag = new Int32Array(new SharedArrayBuffer(4));
    const worker = new Worker(WRITER, {
      eval: true,
      workerData: { lmdb: LMDB_ENTRY, path: dir.path, key: 'region-state', value: 'new', flag: flag.buffer },
    });
    cleanups.push(async () => {
      await worker.terminate();
    });
    const exited = new Promise<number>((resolve) => worker.once('exit', resolve));
    await new Promise<void>((resolve) => worker.once('online', () => resolve()));

    // From here to the expectations nothing yields: one event-loop turn.
    expect(engine.get('meta', key)?.toString()).toBe('old');
    Atomics.store(flag, 0, 1);
    Atomics.notify(flag, 0);
    expect(Atomics.wait(flag, 0, 1, 10_000)).not.toBe('timed-out');
    expect(Atomics.load(flag, 0)).toBe(2);
    // The turn's view predates the worker's commit (this is why getLatest exists).
    expect(engine.get('meta', key)?.toString()).toBe('old');
    const view = engine.snapshot();
    try {
      expect(view.get('meta', key)?.toString()).toBe('new');
    } finally {
      view.close();
    }
    expect(engine.getLatest('meta', key)?.toString()).toBe('new');
    expect(await exited).toBe(0);
  });
});
