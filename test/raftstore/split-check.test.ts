// The split checker: where a region past region-max-size is cut (a user-key boundary near
// region-split-size, never between the MVCC versions or the lock of one key), what it reports as
// the region's size, and the driver that runs it on the split-check thread.
import { afterEach, describe, expect, it } from 'vitest';
import type { DataColumnFamily, Engine, WriteOp } from '../../src/engine/engine.js';
import { LmdbEngine } from '../../src/engine/lmdb-engine.js';
import { MemoryEngine } from '../../src/engine/memory-engine.js';
import { checkSplit, type RegionRange, type SplitThresholds } from '../../src/raftstore/split/split-check.js';
import { pooledSplitChecker, SplitChecker, type SplitCheckAnswer } from '../../src/raftstore/split/split-checker.js';
import { decodeUserKey, encodeBytes, encodeKey } from '../../src/txn/codec.js';
import { userKeyBoundary } from '../../src/txn/split-boundary.js';
import { compareBytes } from '../../src/util/bytes.js';
import { TinyKvError } from '../../src/util/errors.js';
import { defined } from '../../src/util/assert.js';
import { tempDir } from '../helpers/tmp.js';

const b = (s: string) => Buffer.from(s);
const WHOLE: RegionRange = { startKey: Buffer.alloc(0), endKey: Buffer.alloc(0) };
const put = (cf: DataColumnFamily, key: Buffer, value: Buffer): WriteOp => ({ type: 'put', cf, key, value });

/** A committed MVCC version: the value in default, the write record in write (sizes are what count). */
function version(userKey: string, ts: bigint, valueBytes: number): WriteOp[] {
  return [put('default', encodeKey(b(userKey), ts), Buffer.alloc(valueBytes, 1)), put('write', encodeKey(b(userKey), ts + 1n), Buffer.alloc(9, 2))];
}

function check(engine: Engine, region: RegionRange, thresholds: SplitThresholds) {
  const view = engine.snapshot();
  try {
    return checkSplit(view, region, thresholds, userKeyBoundary);
  } finally {
    view.close();
  }
}

/** Every data key of the engine, by family. */
function allKeys(engine: Engine): Array<{ cf: DataColumnFamily; key: Buffer; size: number }> {
  const view = engine.snapshot();
  try {
    return (['default', 'lock', 'write'] as const).flatMap((cf) =>
      [...view.scan(cf)].map(({ key, value }) => ({ cf, key, size: key.length + value.length })),
    );
  } finally {
    view.close();
  }
}

const closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const close of closers.splice(0)) await close();
});

function lmdb(): LmdbEngine {
  const dir = tempDir();
  const engine = new LmdbEngine({ path: dir.path });
  closers.push(async () => {
    await engine.close();
    dir.cleanup();
  });
  return engine;
}

const engines: Array<[string, () => Engine]> = [
  ['memory', () => new MemoryEngine()],
  ['lmdb', lmdb],
];

describe.each(engines)('checkSplit on %s', (_name, open) => {
  it('reports the size and key count of a region under max-size, with no split key', async () => {
    const engine = open();
    await engine.write([...version('a', 10n, 100), ...version('b', 10n, 100), put('lock', encodeBytes(b('c')), Buffer.alloc(20))]);
    const total = allKeys(engine).reduce((sum, pair) => sum + pair.size, 0);
    expect(check(engine, WHOLE, { maxSizeBytes: 1_000, splitSizeBytes: 500 })).toEqual({ sizeBytes: total, keys: 5, complete: true });
  });

  it('answers an empty region with nothing', () => {
    expect(check(open(), WHOLE, { maxSizeBytes: 10, splitSizeBytes: 5 })).toEqual({ sizeBytes: 0, keys: 0, complete: true });
  });

  it('keeps every version and the lock of a big key together on the right of the split', async () => {
    const engine = open();
    const ops: WriteOp[] = [...version('a', 5n, 300), ...version('b', 5n, 300)];
    // 'big' has 20 versions of 100 bytes: the split size falls in the middle of them.
    for (let ts = 10n; ts < 50n; ts += 2n) ops.push(...version('big', ts, 100));
    ops.push(put('lock', encodeBytes(b('big')), Buffer.alloc(30)), ...version('c', 5n, 300), ...version('d', 5n, 300));
    await engine.write(ops);
    const result = check(engine, WHOLE, { maxSizeBytes: 2_000, splitSizeBytes: 1_200 });
    expect(result.splitKey).toEqual(encodeBytes(b('big')));
    const splitKey = defined(result.splitKey, 'split key');
    for (const { cf, key } of allKeys(engine)) {
      const userKey = decodeUserKey(key).toString();
      if (userKey === 'big' || userKey >= 'c') expect(compareBytes(key, splitKey), `${cf} ${key.toString('hex')}`).toBeGreaterThanOrEqual(0);
      else expect(compareBytes(key, splitKey), `${cf} ${key.toString('hex')}`).toBeLessThan(0);
    }
    expect(result.complete).toBe(false);
    expect(result.sizeBytes).toBeGreaterThan(2_000);
  });

  it('cuts raw data at a raw key, near split-size, and stops once past max-size', async () => {
    const engine = open();
    const ops: WriteOp[] = [];
    for (let i = 0; i < 100; i++) ops.push(put('default', b(`k${String(i).padStart(3, '0')}`), Buffer.alloc(96)));
    await engine.write(ops); // 100 pairs of 100 bytes
    const result = check(engine, WHOLE, { maxSizeBytes: 3_000, splitSizeBytes: 2_000 });
    // The pair that takes the size past 2,000 bytes is the 21st: k020 starts the right side.
    expect(result).toEqual({ splitKey: b('k020'), sizeBytes: 3_100, keys: 31, complete: false });
  });

  it('counts only the region and splits strictly inside it', async () => {
    const engine = open();
    const ops: WriteOp[] = [];
    for (let i = 0; i < 100; i++) ops.push(put('default', b(`k${String(i).padStart(3, '0')}`), Buffer.alloc(96)));
    await engine.write(ops);
    const region = { startKey: b('k050'), endKey: b('k060') };
    expect(check(engine, region, { maxSizeBytes: 2_000, splitSizeBytes: 500 })).toEqual({ sizeBytes: 1_000, keys: 10, complete: true });
    const result = check(engine, region, { maxSizeBytes: 900, splitSizeBytes: 500 });
    expect(result).toEqual({ splitKey: b('k055'), sizeBytes: 1_000, keys: 10, complete: false });
  });

  it('does not split a region whose data is one user key at its start', async () => {
    const engine = open();
    const ops: WriteOp[] = [];
    for (let ts = 10n; ts < 50n; ts += 2n) ops.push(...version('only', ts, 100));
    await engine.write(ops);
    const result = check(engine, { startKey: encodeBytes(b('only')), endKey: Buffer.alloc(0) }, { maxSizeBytes: 500, splitSizeBytes: 200 });
    expect(result.splitKey).toBeUndefined();
    expect(result).toMatchObject({ keys: 40, complete: true });
  });
});

describe('SplitChecker', () => {
  const thresholds = { maxSizeBytes: 10, splitSizeBytes: 5 };
  const options = { kv: { path: '/nowhere' }, thresholds, maxInFlight: 2, timeoutMs: 1_000 };

  it('runs one check per region at a time and refuses past its bound', async () => {
    const pending: Array<(answer: SplitCheckAnswer) => void> = [];
    const tasks: number[] = [];
    const checker = new SplitChecker({
      ...options,
      run: (task) => {
        tasks.push(task.regionId);
        return new Promise((resolve) => pending.push(resolve));
      },
    });
    const first = checker.check(1, WHOLE);
    const again = checker.check(1, WHOLE);
    const second = checker.check(2, WHOLE);
    const refused = checker.check(3, WHOLE);
    await expect(refused).rejects.toMatchObject({ code: 'KV:Raftstore:SplitCheckBusy', retryable: true });
    expect(tasks).toEqual([1, 2]);
    for (const resolve of pending) resolve({ splitKey: new Uint8Array([7]), sizeBytes: 12, keys: 3, complete: false });
    expect(await first).toEqual({ splitKey: Buffer.from([7]), sizeBytes: 12, keys: 3, complete: false });
    expect(await again).toEqual(await first);
    expect(Buffer.isBuffer((await second).splitKey)).toBe(true);
    expect(checker.running).toBe(0);
  });

  it('fails a check that does not answer in time, and keeps its slot until it ends', async () => {
    let finish: (answer: SplitCheckAnswer) => void = () => {};
    const checker = new SplitChecker({ ...options, timeoutMs: 20, run: () => new Promise((resolve) => (finish = resolve)) });
    const error: unknown = await checker.check(1, WHOLE).catch((err: unknown) => err);
    expect(error).toBeInstanceOf(TinyKvError);
    expect(error).toMatchObject({ code: 'KV:Raftstore:SplitCheckTimeout' });
    expect(checker.running).toBe(1);
    finish({ sizeBytes: 0, keys: 0, complete: true });
    await new Promise((resolve) => setImmediate(resolve));
    expect(checker.running).toBe(0);
  });
});

describe('the split-check thread', () => {
  it('checks a region of a real LMDB environment on the piscina worker', async () => {
    const dir = tempDir();
    const engine = new LmdbEngine({ path: dir.path });
    const { checker, close } = pooledSplitChecker({ path: dir.path }, { maxSizeBytes: 3_000, splitSizeBytes: 2_000 });
    try {
      const ops: WriteOp[] = [];
      for (let i = 0; i < 40; i++) ops.push(...version(`user${String(i).padStart(2, '0')}`, 7n, 91));
      await engine.write(ops);
      const inline = check(engine, WHOLE, { maxSizeBytes: 3_000, splitSizeBytes: 2_000 });
      const result = await checker.check(1, WHOLE);
      expect(result).toEqual(inline);
      expect(result).toMatchObject({ splitKey: encodeBytes(b('user14')), sizeBytes: 3_082, keys: 46, complete: false });
      expect(await checker.check(2, { startKey: encodeBytes(b('user30')), endKey: encodeBytes(b('user35')) })).toEqual({
        sizeBytes: 670,
        keys: 10,
        complete: true,
      });
      // Per-check thresholds (a split the scheduler asks for): max-size 0 cuts at the first boundary past half.
      const range = { startKey: encodeBytes(b('user30')), endKey: encodeBytes(b('user35')) };
      const middle = await checker.check(3, range, { maxSizeBytes: 0, splitSizeBytes: 335 });
      expect(middle).toEqual(check(engine, range, { maxSizeBytes: 0, splitSizeBytes: 335 }));
      expect(middle.splitKey).toEqual(encodeBytes(b('user32')));
    } finally {
      await close();
      await engine.close();
      dir.cleanup();
    }
  });

  it('keeps its thread between checks, and each check sees the writes made before it', async () => {
    const dir = tempDir();
    const engine = new LmdbEngine({ path: dir.path });
    const { checker, close, threads } = pooledSplitChecker({ path: dir.path }, { maxSizeBytes: 100_000, splitSizeBytes: 50_000 });
    try {
      expect(threads()).toBe(0); // started by the first check, not before
      const sizes: number[] = [];
      for (let round = 0; round < 3; round++) {
        await engine.write(version(`user${round}`, 7n, 91));
        sizes.push((await checker.check(1, WHOLE)).sizeBytes);
        await new Promise((r) => setTimeout(r, 50)); // past the idle timeout piscina applies by default
        expect(threads()).toBe(1);
      }
      const perVersion = defined(sizes[0], 'first size');
      expect(sizes).toEqual([perVersion, 2 * perVersion, 3 * perVersion]);
    } finally {
      await close();
      await engine.close();
      dir.cleanup();
    }
  });
});
