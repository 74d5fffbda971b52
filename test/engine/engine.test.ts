// One behavioural suite, run against both engines: they must be indistinguishable.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Engine } from '../../src/engine/engine.js';
import { ENGINE_MAX_KEY_SIZE_BYTES } from '../../src/engine/engine.js';
import { LmdbEngine } from '../../src/engine/lmdb-engine.js';
import { MemoryEngine } from '../../src/engine/memory-engine.js';
import { WriteBatch } from '../../src/engine/write-batch.js';
import { ErrorCode, TinyKvError } from '../../src/util/errors.js';
import { tempDir } from '../helpers/tmp.js';
import { defined } from '../../src/util/assert.js';

const b = (s: string) => Buffer.from(s);
const keys = (pairs: Iterable<{ key: Buffer }>) => [...pairs].map((p) => p.key.toString());

const engines: Array<[string, () => { engine: Engine; cleanup: () => Promise<void> }]> = [
  ['memory', () => ({ engine: new MemoryEngine(), cleanup: async () => {} })],
  [
    'lmdb',
    () => {
      const dir = tempDir();
      const engine = new LmdbEngine({ path: dir.path });
      return {
        engine,
        cleanup: async () => {
          await engine.close();
          dir.cleanup();
        },
      };
    },
  ],
  [
    // How a store's threads commit (src/raftstore/batch/store-engines.ts).
    'lmdb (inline commits, lazy meta sync)',
    () => {
      const dir = tempDir();
      const engine = new LmdbEngine({ path: dir.path, commitInline: true, lazyMetaSync: true });
      return {
        engine,
        cleanup: async () => {
          await engine.close();
          dir.cleanup();
        },
      };
    },
  ],
];

describe.each(engines)('%s engine', (_name, make) => {
  let engine: Engine;
  let cleanup: () => Promise<void>;
  beforeEach(() => ({ engine, cleanup } = make()));
  afterEach(async () => cleanup());

  it('reads back a put, and undefined for a missing key', async () => {
    await engine.write(new WriteBatch().put('default', b('k'), b('v')).ops);
    expect(engine.get('default', b('k'))?.toString()).toBe('v');
    expect(engine.get('default', b('missing'))).toBeUndefined();
  });

  it('keeps column families independent', async () => {
    await engine.write(new WriteBatch().put('default', b('k'), b('42')).put('write', b('k'), b('44')).ops);
    expect(engine.get('default', b('k'))?.toString()).toBe('42');
    expect(engine.get('write', b('k'))?.toString()).toBe('44');
    expect(engine.get('lock', b('k'))).toBeUndefined();
  });

  it('stores empty values as values, not deletes', async () => {
    await engine.write(new WriteBatch().put('default', b('k'), Buffer.alloc(0)).ops);
    expect(engine.get('default', b('k'))?.length).toBe(0);
  });

  it('applies ops of one batch in order', async () => {
    await engine.write(new WriteBatch().put('default', b('k'), b('1')).delete('default', b('k')).put('default', b('j'), b('2')).ops);
    expect(engine.get('default', b('k'))).toBeUndefined();
    expect(engine.get('default', b('j'))?.toString()).toBe('2');
  });

  it('orders keys as unsigned bytes', async () => {
    const batch = new WriteBatch();
    for (const key of [[0xff], [0x00], [0x01, 0x00], [0x01], [0x80]]) batch.put('default', Buffer.from(key), b('x'));
    await engine.write(batch.ops);
    const snap = engine.snapshot();
    const hex = [...snap.scan('default')].map((p) => p.key.toString('hex'));
    snap.close();
    expect(hex).toEqual(['00', '01', '0100', '80', 'ff']);
  });

  it('scans with bounds, limit and reverse', async () => {
    const batch = new WriteBatch();
    for (const k of ['a', 'b', 'c', 'd', 'e']) batch.put('default', b(k), b(k.toUpperCase()));
    await engine.write(batch.ops);
    const snap = engine.snapshot();
    expect(keys(snap.scan('default', { start: b('b'), end: b('d') }))).toEqual(['b', 'c']);
    expect(keys(snap.scan('default', { start: b('bb'), limit: 2 }))).toEqual(['c', 'd']);
    expect(keys(snap.scan('default', { limit: 0 }))).toEqual([]);
    expect(keys(snap.scan('default', { reverse: true }))).toEqual(['e', 'd', 'c', 'b', 'a']);
    expect(keys(snap.scan('default', { start: b('b'), end: b('d'), reverse: true }))).toEqual(['c', 'b']);
    expect(keys(snap.scan('default', { end: b('cc'), reverse: true, limit: 2 }))).toEqual(['c', 'b']);
    expect(keys(snap.scan('default', { start: b('d'), end: b('b') }))).toEqual([]);
    expect(defined([...snap.scan('default', { start: b('e') })][0], 'first pair from e').value.toString()).toBe('E');
    snap.close();
  });

  it('gives a snapshot a point-in-time view', async () => {
    await engine.write(new WriteBatch().put('default', b('a'), b('1')).put('default', b('b'), b('1')).ops);
    const snap = engine.snapshot();
    await engine.write(new WriteBatch().put('default', b('a'), b('2')).delete('default', b('b')).put('default', b('c'), b('2')).ops);
    expect(snap.get('default', b('a'))?.toString()).toBe('1');
    expect(keys(snap.scan('default'))).toEqual(['a', 'b']);
    snap.close();
    const fresh = engine.snapshot();
    expect(keys(fresh.scan('default'))).toEqual(['a', 'c']);
    fresh.close();
  });

  it('rejects reads on a closed snapshot', async () => {
    const snap = engine.snapshot();
    snap.close();
    expect(() => snap.get('default', b('a'))).toThrow(TinyKvError);
  });

  it('deletes a range in one family only', async () => {
    const batch = new WriteBatch();
    for (const k of ['a', 'b', 'c', 'd']) batch.put('default', b(k), b('x')).put('lock', b(k), b('y'));
    await engine.write(batch.ops);
    await engine.write(new WriteBatch().deleteRange('default', b('b'), b('d')).ops);
    const snap = engine.snapshot();
    expect(keys(snap.scan('default'))).toEqual(['a', 'd']);
    expect(keys(snap.scan('lock'))).toEqual(['a', 'b', 'c', 'd']);
    snap.close();
  });

  it('writes a batch atomically: an invalid op leaves nothing behind', async () => {
    const ops = [
      { type: 'put' as const, cf: 'default' as const, key: b('ok'), value: b('v') },
      { type: 'put' as const, cf: 'default' as const, key: Buffer.alloc(0), value: b('v') },
    ];
    await expect(engine.write(ops)).rejects.toMatchObject({ code: ErrorCode.EngineKeyInvalid });
    expect(engine.get('default', b('ok'))).toBeUndefined();
  });

  it('enforces the key size bound and accepts the largest key', async () => {
    const largest = Buffer.alloc(ENGINE_MAX_KEY_SIZE_BYTES, 7);
    await engine.write(new WriteBatch().put('default', largest, b('v')).ops);
    expect(engine.get('default', largest)?.toString()).toBe('v');
    expect(() => new WriteBatch().put('default', Buffer.alloc(ENGINE_MAX_KEY_SIZE_BYTES + 1), b('v'))).toThrow(TinyKvError);
    expect(() => new WriteBatch().put('nope' as never, b('k'), b('v'))).toThrow(/unknown column family/);
  });

  it('stores large values intact', async () => {
    const value = Buffer.alloc(1024 * 1024);
    for (let i = 0; i < value.length; i++) value[i] = (i * 31) & 0xff;
    await engine.write(new WriteBatch().put('default', b('big'), value).ops);
    expect(engine.get('default', b('big'))!.equals(value)).toBe(true);
  });

  it('is not changed by the caller reusing its buffers', async () => {
    const key = b('k');
    const value = b('v1');
    await engine.write(new WriteBatch().put('default', key, value).ops);
    value.write('v2');
    key.write('x');
    expect(engine.get('default', b('k'))?.toString()).toBe('v1');
  });

  it('makes a non-durable write visible at once and durable after flush', async () => {
    await engine.write(new WriteBatch().put('default', b('nd'), b('1')).ops, { durable: false });
    expect(engine.get('default', b('nd'))?.toString()).toBe('1');
    await engine.flush();
    expect(engine.get('default', b('nd'))?.toString()).toBe('1');
  });

  it('refuses use after close', async () => {
    await engine.close();
    expect(() => engine.get('default', b('k'))).toThrow(TinyKvError);
    await expect(engine.write([])).rejects.toThrow(TinyKvError);
  });
});

describe('lmdb engine persistence', () => {
  it('keeps durable and flushed inline commits across reopen', async () => {
    const dir = tempDir();
    try {
      const options = { path: dir.path, commitInline: true, lazyMetaSync: true };
      const first = new LmdbEngine(options);
      await first.write(new WriteBatch().put('default', b('a'), b('1')).ops);
      await first.write(new WriteBatch().put('lock', b('b'), b('2')).ops, { durable: false });
      await first.flush();
      await first.close();
      const second = new LmdbEngine(options);
      expect(second.get('default', b('a'))?.toString()).toBe('1');
      expect(second.get('lock', b('b'))?.toString()).toBe('2');
      await second.close();
    } finally {
      dir.cleanup();
    }
  });

  it('keeps every written batch across reopen', async () => {
    const dir = tempDir();
    try {
      const first = new LmdbEngine({ path: dir.path });
      await first.write(new WriteBatch().put('default', b('a'), b('1')).put('write', b('a'), b('2')).ops);
      await first.close();
      const second = new LmdbEngine({ path: dir.path });
      expect(second.get('default', b('a'))?.toString()).toBe('1');
      expect(second.get('write', b('a'))?.toString()).toBe('2');
      await second.close();
    } finally {
      dir.cleanup();
    }
  });
});
