// The pre-open check of LMDB data files (meta pages, length against the free list) and the store
// identity, on real environments and on hand-built files whose layout follows lmdb-js's mdb.c.
import { closeSync, fstatSync, mkdirSync, openSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { LmdbEngine } from '../../src/engine/lmdb-engine.js';
import { openCheckedEnvironments } from '../../src/engine/data-files.js';
import { checkLmdbDataFile, freePagesBetween, readMeta } from '../../src/engine/lmdb-file-check.js';
import { defined } from '../../src/util/assert.js';
import { ErrorCode, isTinyKvError } from '../../src/util/errors.js';
import { tempDir } from '../helpers/tmp.js';

const PAGE = 4096;
const NO_ROOT = 0xffff_ffff_ffff_ffffn;
const dirs: Array<ReturnType<typeof tempDir>> = [];

afterEach(() => {
  for (const d of dirs.splice(0)) d.cleanup();
});

function newDir(): string {
  const dir = tempDir('tinykv-filecheck-');
  dirs.push(dir);
  return dir.path;
}

function refusal(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(isTinyKvError(err) && err.code).toBe(ErrorCode.EngineCorrupted);
    return (err as Error).message;
  }
  throw new Error('expected a refusal');
}

/** A meta page as LMDB writes it: 24-byte page header, then MDB_meta. */
function metaPage(pageNo: number, meta: { lastPage: number; txnId: number; freeRoot: bigint; mainRoot: bigint }): Buffer {
  const page = Buffer.alloc(PAGE);
  page.writeBigUInt64LE(BigInt(pageNo), 0);
  page.writeUInt16LE(0x08, 18); // P_META
  page.writeUInt32LE(0xbeefc0de, 24);
  page.writeUInt32LE(2, 28);
  page.writeUInt32LE(PAGE, 48); // free DB's md_pad: the page size
  page.writeBigUInt64LE(meta.freeRoot, 48 + 40);
  page.writeBigUInt64LE(meta.mainRoot, 48 + 48 + 40);
  page.writeBigUInt64LE(BigInt(meta.lastPage), 144);
  page.writeBigUInt64LE(BigInt(meta.txnId), 152);
  return page;
}

/** A free-list leaf page with one record: key = a txn id, data = an ID list (slots: page, 0 = empty, -n then page = a run). */
function freeListLeaf(pageNo: number, freed: number[]): Buffer {
  const page = Buffer.alloc(PAGE);
  page.writeBigUInt64LE(BigInt(pageNo), 0);
  page.writeUInt16LE(0x02, 18); // P_LEAF
  const dataBytes = 8 * (freed.length + 1);
  const nodeBytes = 8 + 8 + dataBytes;
  const nodeAt = PAGE - 24 - nodeBytes; // offset from the end of the header
  page.writeUInt16LE(2, 20); // mp_lower: one pointer
  page.writeUInt16LE(nodeAt, 22);
  page.writeUInt16LE(nodeAt, 24); // mp_ptrs[0]
  const node = 24 + nodeAt;
  page.writeUInt16LE(dataBytes & 0xffff, node);
  page.writeUInt16LE(dataBytes >>> 16, node + 2);
  page.writeUInt16LE(0, node + 4);
  page.writeUInt16LE(8, node + 6);
  page.writeBigUInt64LE(1n, node + 8);
  page.writeBigUInt64LE(BigInt(freed.length), node + 16);
  freed.forEach((p, i) => page.writeBigInt64LE(BigInt(p), node + 24 + 8 * i));
  return page;
}

/** A file of `pages` pages whose newest meta uses pages 0..9 and whose free list (page 2) lists `freed`. */
function handBuiltFile(pages: number, freed: number[]): string {
  const file = join(newDir(), 'data.mdb');
  const body = Buffer.alloc(pages * PAGE);
  metaPage(0, { lastPage: 1, txnId: 0, freeRoot: NO_ROOT, mainRoot: NO_ROOT }).copy(body, 0);
  metaPage(1, { lastPage: 9, txnId: 4, freeRoot: 2n, mainRoot: 3n }).copy(body, PAGE);
  freeListLeaf(2, freed).copy(body, 2 * PAGE);
  writeFileSync(file, body);
  return file;
}

describe('LMDB data file check', () => {
  it('passes real environments, with a free list, in both commit modes', async () => {
    for (const options of [{}, { commitInline: true, lazyMetaSync: true }]) {
      const path = newDir();
      const engine = new LmdbEngine({ path, ...options });
      await engine.write(
        Array.from({ length: 3000 }, (_, i) => ({
          type: 'put' as const,
          cf: 'default' as const,
          key: Buffer.from(`k${i}`),
          value: Buffer.alloc(200, 1),
        })),
      );
      await engine.write([{ type: 'deleteRange', cf: 'default', start: Buffer.from('k1'), end: Buffer.from('k2') }]);
      await engine.close();
      const state = checkLmdbDataFile(join(path, 'data.mdb'));
      expect(state.present).toBe(true);
      expect(state.txnId).toBeGreaterThan(0n);
    }
  });

  it('reports a missing or empty file as not present (a new store)', () => {
    const dir = newDir();
    expect(checkLmdbDataFile(join(dir, 'data.mdb')).present).toBe(false);
    writeFileSync(join(dir, 'data.mdb'), '');
    expect(checkLmdbDataFile(join(dir, 'data.mdb')).present).toBe(false);
  });

  it('accepts a file short of the last page when every missing page is on the free list', () => {
    expect(checkLmdbDataFile(handBuiltFile(10, [5])).present).toBe(true);
    expect(checkLmdbDataFile(handBuiltFile(8, [9, 8])).present).toBe(true);
  });

  it('reads lmdb-js free-list runs and empty slots', () => {
    expect(checkLmdbDataFile(handBuiltFile(7, [0, -3, 7, 5])).present).toBe(true);
    expect(refusal(() => checkLmdbDataFile(handBuiltFile(7, [-2, 7, 0, 5])))).toContain('1 of the 3 pages past the end are in use');
  });

  it('counts exactly the free pages LMDB reports: used + free = all pages, on real environments', async () => {
    for (const options of [{}, { commitInline: true }]) {
      const path = newDir();
      const engine = new LmdbEngine({ path, ...options });
      for (let round = 0; round < 4; round++) {
        await engine.write(
          Array.from({ length: 2000 }, (_, i) => ({
            type: 'put' as const,
            cf: defined((['default', 'lock', 'write', 'meta'] as const)[i % 4], 'column family'),
            key: Buffer.from(`k${round}-${i}`),
            value: Buffer.alloc(150 + (i % 7) * 300, round),
          })),
        );
      }
      for (const cf of ['default', 'lock', 'write', 'meta'] as const)
        await engine.write([{ type: 'deleteRange', cf, start: Buffer.from('k0'), end: Buffer.from('k2') }]);
      await engine.close();
      const { open } = await import('lmdb');
      const root = open({ path, maxDbs: 16 });
      const stats = root.getStats() as unknown as Record<string, number> & { free: Record<string, number> };
      const pages = (s: Record<string, number>) =>
        defined(s.treeBranchPageCount, 'treeBranchPageCount') +
        defined(s.treeLeafPageCount, 'treeLeafPageCount') +
        defined(s.overflowPages, 'overflowPages');
      let used = 2 + pages(stats) + pages(stats.free);
      for (const name of ['default', 'lock', 'write', 'meta']) used += pages(root.openDB({ name }).getStats());
      await root.close();
      const fd = openSync(join(path, 'data.mdb'), 'r');
      try {
        const file = { fd, sizeBytes: fstatSync(fd).size, path };
        const metas = [readMeta(file, 0, undefined), readMeta(file, 1, PAGE)].map((m) => (m.valid ? m.meta : undefined));
        const newest =
          defined(metas[0], 'metas[0]').txnId > defined(metas[1], 'metas[1]').txnId ? defined(metas[0], 'metas[0]') : defined(metas[1], 'metas[1]');
        const free = freePagesBetween(file, newest, 0, newest.lastPage);
        expect(free).toBeGreaterThan(100);
        expect(used + free).toBe(newest.lastPage + 1);
      } finally {
        closeSync(fd);
      }
    }
  });

  it('refuses a file short of the last page when a missing page is in use', () => {
    expect(refusal(() => checkLmdbDataFile(handBuiltFile(8, [9])))).toMatch(
      /is truncated: 32768 bytes, .* uses 10 pages of 4096 bytes \(40960 bytes\); 1 of the 2 pages past the end are in use/,
    );
  });

  it('refuses a file whose tree root lies past its end', () => {
    expect(refusal(() => checkLmdbDataFile(handBuiltFile(3, [9, 8, 7, 6, 5, 4, 3])))).toContain("main tree's root page 3 is past the end");
  });

  it('refuses a data file truncated below its meta pages and one with a garbage meta page', async () => {
    const path = newDir();
    const engine = new LmdbEngine({ path });
    await engine.write([{ type: 'put', cf: 'default', key: Buffer.from('k'), value: Buffer.from('v') }]);
    await engine.close();
    const file = join(path, 'data.mdb');
    const copy = handBuiltFile(10, []);
    writeFileSync(copy, Buffer.alloc(10 * PAGE, 0xab));
    expect(refusal(() => checkLmdbDataFile(copy))).toContain('neither meta page is valid');
    truncateSync(file, 6000);
    expect(refusal(() => checkLmdbDataFile(file))).toContain('6000 bytes, shorter than its two 4096-byte meta pages');
  });
});

describe('store identity', () => {
  it('is written once an environment was opened; afterwards a lost data file is refused before opening', async () => {
    const dataDir = newDir();
    const open = () => new LmdbEngine({ path: join(dataDir, 'kv') });
    const engine = openCheckedEnvironments(dataDir, ['kv'], open);
    await engine.close();
    truncateSync(join(dataDir, 'kv', 'data.mdb'), 0);
    let opened = false;
    const message = refusal(() => openCheckedEnvironments(dataDir, ['kv'], () => (opened = true)));
    expect(message).toContain(
      `data file ${join(dataDir, 'kv', 'data.mdb')} is missing or empty, but the store's identity (${join(dataDir, 'IDENT')}) says it held data`,
    );
    expect(opened).toBe(false);
  });

  it('a damaged identity file is refused', () => {
    const dataDir = newDir();
    mkdirSync(join(dataDir, 'kv'));
    writeFileSync(join(dataDir, 'IDENT'), '{"format":1,"environ');
    expect(refusal(() => openCheckedEnvironments(dataDir, ['kv'], () => undefined))).toContain('identity file');
  });
});
