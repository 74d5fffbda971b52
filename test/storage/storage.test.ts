// The Storage contract on both engines: TinyKV's project-1 storage scenarios.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LmdbEngine } from '../../src/engine/lmdb-engine.js';
import { MemoryEngine } from '../../src/engine/memory-engine.js';
import { StandaloneStorage } from '../../src/storage/standalone-storage.js';
import type { Storage } from '../../src/storage/storage.js';
import { ErrorCode } from '../../src/util/errors.js';
import { tempDir } from '../helpers/tmp.js';

const b = (s: string) => Buffer.from(s);

const kinds: Array<[string, () => { storage: Storage; cleanup: () => void }]> = [
  ['memory', () => ({ storage: new StandaloneStorage(new MemoryEngine()), cleanup: () => {} })],
  [
    'lmdb',
    () => {
      const dir = tempDir();
      return { storage: new StandaloneStorage(new LmdbEngine({ path: dir.path })), cleanup: dir.cleanup };
    },
  ],
];

describe.each(kinds)('standalone storage on %s', (_name, make) => {
  let storage: Storage;
  let cleanup: () => void;
  beforeEach(async () => {
    ({ storage, cleanup } = make());
    await storage.start();
  });
  afterEach(async () => {
    await storage.stop();
    cleanup();
  });

  it('returns undefined, not an error, for a missing key', async () => {
    const reader = await storage.reader(undefined);
    expect(reader.getCF('default', b('nothing'))).toBeUndefined();
    reader.close();
  });

  it('writes a batch of puts and deletes atomically across families', async () => {
    await storage.write(undefined, [
      { type: 'put', cf: 'default', key: b('a'), value: b('1') },
      { type: 'put', cf: 'write', key: b('a'), value: b('2') },
      { type: 'put', cf: 'lock', key: b('b'), value: b('3') },
    ]);
    await storage.write(undefined, [{ type: 'delete', cf: 'lock', key: b('b') }]);
    const reader = await storage.reader(undefined);
    expect(reader.getCF('default', b('a'))).toEqual(b('1'));
    expect(reader.getCF('write', b('a'))).toEqual(b('2'));
    expect(reader.getCF('lock', b('b'))).toBeUndefined();
    reader.close();
  });

  it('iterates in byte order with seek', async () => {
    await storage.write(
      undefined,
      ['d', 'b', 'a', 'c'].map((k) => ({ type: 'put' as const, cf: 'default' as const, key: b(k), value: b(k + k) })),
    );
    const reader = await storage.reader(undefined);
    const it = reader.iterCF('default');
    const seen: string[] = [];
    for (; it.valid(); it.next()) seen.push(it.key().toString());
    expect(seen).toEqual(['a', 'b', 'c', 'd']);
    it.seek(b('bb'));
    expect([it.key().toString(), it.value().toString()]).toEqual(['c', 'cc']);
    it.seek(b('z'));
    expect(it.valid()).toBe(false);
    expect(() => it.key()).toThrow(expect.objectContaining({ code: ErrorCode.IteratorInvalid }));
    it.close();
    reader.close();
  });

  it('an iterator opened before a delete still sees the deleted key (point-in-time reader)', async () => {
    await storage.write(undefined, [
      { type: 'put', cf: 'default', key: b('1'), value: b('x') },
      { type: 'put', cf: 'default', key: b('2'), value: b('y') },
    ]);
    const reader = await storage.reader(undefined);
    const it = reader.iterCF('default');
    await storage.write(undefined, [{ type: 'delete', cf: 'default', key: b('2') }]);
    const keys: string[] = [];
    for (; it.valid(); it.next()) keys.push(it.key().toString());
    expect(keys).toEqual(['1', '2']);
    expect(reader.getCF('default', b('2'))).toEqual(b('y'));
    it.close();
    reader.close();
    const fresh = await storage.reader(undefined);
    expect(fresh.getCF('default', b('2'))).toBeUndefined();
    fresh.close();
  });

  it('closing a reader with an open iterator is reported, and the snapshot is still released', async () => {
    const reader = await storage.reader(undefined);
    const it = reader.iterCF('default');
    expect(() => reader.close()).toThrow(/iterator\(s\) still open/);
    expect(it.valid()).toBe(false);
    expect(() => reader.getCF('default', b('a'))).toThrow(expect.objectContaining({ code: ErrorCode.ReaderClosed }));
  });
});
