/**
 * Checks that an LMDB environment's data file is whole before LMDB maps it.
 *
 * LMDB trusts its file: it maps it and follows page numbers from the newest meta page, so a file
 * cut short faults (SIGBUS) on the first read past its end, and garbage meta pages send it to
 * random addresses (SIGSEGV). Nothing is logged; the process just dies. Reading the two meta pages
 * ourselves with pread (which only returns short, never faults) lets us refuse such a file with a
 * clear error instead.
 *
 * The layout is the one of the LMDB 0.9 fork bundled with lmdb-js (its mdb.c), on 64-bit builds:
 * pages 0 and 1 are meta pages; a page header is 24 bytes (pgno u64, txnid u64, pad u16, flags u16,
 * lower/upper u16 each); the meta follows it (magic u32, version u32, address u64, mapsize u64,
 * two MDB_db records of 48 bytes, free list first, whose md_pad is the page size, then
 * last_pg u64 and txnid u64).
 *
 * What this does not catch: pages overwritten inside the file (a damaged B-tree page or value).
 * Those need a comparison across replicas; see the README's limits.
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { defined } from '../util/assert.js';
import { ErrorCode, TinyKvError } from '../util/errors.js';

const PAGE_HEADER_BYTES = 24;
const PAGE_FLAGS_OFFSET = 18;
const PAGE_LOWER_OFFSET = 20;
const META_MAGIC = 0xbeefc0de;
const META_DATA_VERSION = 2;
const P_BRANCH = 0x01;
const P_LEAF = 0x02;
const P_META = 0x08;
const F_BIGDATA = 0x01;
const NODE_HEADER_BYTES = 8;
/** The page size assumed when meta page 0 cannot tell it (the OS page size LMDB uses by default). */
const DEFAULT_PAGE_SIZE = 4096;
const MIN_PAGE_SIZE = 512;
const MAX_PAGE_SIZE = 65536;
/** md_root of an empty tree (P_INVALID). */
const NO_ROOT = 0xffff_ffff_ffff_ffffn;

/** What a meta page says, when it is a valid one. */
export interface LmdbMeta {
  readonly pageSizeBytes: number;
  /** The last page in use; the file must hold pages 0..lastPage (bar free-listed ones, see below). */
  readonly lastPage: number;
  readonly txnId: bigint;
  readonly freeRoot: bigint;
  readonly mainRoot: bigint;
}

export type MetaReading = { readonly valid: true; readonly meta: LmdbMeta } | { readonly valid: false; readonly reason: string };

/** What the check found, for the caller's log and for deciding whether the store held data. */
export interface LmdbFileState {
  /** False when data.mdb does not exist or is empty (a store never opened, or a file lost). */
  readonly present: boolean;
  readonly sizeBytes: number;
  /** The newest meta's transaction id: 0 for an environment that never committed. */
  readonly txnId: bigint;
}

export function corrupted(message: string, details: Record<string, unknown> = {}): TinyKvError {
  return new TinyKvError(ErrorCode.EngineCorrupted, message, details);
}

/**
 * Checks the data file at `dataFile`. Throws KV:Engine:Corrupted when LMDB could not open it
 * safely: shorter than two meta pages, a meta page that is not valid, or shorter than the pages
 * its newest meta page says are in use. A missing or empty file is reported as not present; the
 * caller decides whether that is a loss (the store's identity says it held data).
 */
export function checkLmdbDataFile(dataFile: string): LmdbFileState {
  let fd: number;
  try {
    fd = openSync(dataFile, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { present: false, sizeBytes: 0, txnId: 0n };
    throw err;
  }
  try {
    const sizeBytes = fstatSync(fd).size;
    if (sizeBytes === 0) return { present: false, sizeBytes, txnId: 0n };
    const file = { fd, sizeBytes, path: dataFile };
    const first = readMeta(file, 0, undefined);
    const pageSizeBytes = first.valid ? first.meta.pageSizeBytes : DEFAULT_PAGE_SIZE;
    if (sizeBytes < 2 * pageSizeBytes) {
      throw corrupted(`data file ${dataFile} is damaged: ${sizeBytes} bytes, shorter than its two ${pageSizeBytes}-byte meta pages (truncated?)`, {
        dataFile,
        sizeBytes,
      });
    }
    const second = readMeta(file, 1, pageSizeBytes);
    // LMDB reads page 0 to learn the page size and then takes whichever meta has the newer txnid,
    // without checking page 1's stamp: a damaged page of either kind is unsafe to open.
    if (!first.valid || !second.valid) {
      const bad = [first, second].map((m, page) => (m.valid ? undefined : `meta page ${page} ${m.reason}`)).filter((m) => m !== undefined);
      const neither = bad.length === 2 ? 'neither meta page is valid: ' : '';
      throw corrupted(`data file ${dataFile} is damaged: ${neither}${bad.join('; ')}`, { dataFile, sizeBytes });
    }
    const newest = first.meta.txnId >= second.meta.txnId ? first.meta : second.meta;
    checkLength(file, newest);
    return { present: true, sizeBytes, txnId: newest.txnId };
  } finally {
    closeSync(fd);
  }
}

export interface OpenFile {
  readonly fd: number;
  readonly sizeBytes: number;
  readonly path: string;
}

/** Reads meta page `page` (0 or 1); page 1's offset needs the page size from page 0. */
export function readMeta(file: OpenFile, page: 0 | 1, pageSizeBytes: number | undefined): MetaReading {
  const offset = page === 0 ? 0 : defined(pageSizeBytes, 'page size (needed to find meta page 1)');
  const bytes = readAt(file, offset, PAGE_HEADER_BYTES + 136);
  if (bytes.length < PAGE_HEADER_BYTES + 136) return { valid: false, reason: 'is cut off by the end of the file' };
  const pageNo = bytes.readBigUInt64LE(0);
  const flags = bytes.readUInt16LE(PAGE_FLAGS_OFFSET);
  const meta = PAGE_HEADER_BYTES;
  const magic = bytes.readUInt32LE(meta);
  const version = bytes.readUInt32LE(meta + 4) & 0xffff;
  if ((flags & P_META) === 0 || pageNo !== BigInt(page)) return { valid: false, reason: 'is not marked as a meta page (overwritten or zeroed)' };
  if (magic !== META_MAGIC) return { valid: false, reason: `has a bad magic number 0x${magic.toString(16)}` };
  if (version !== META_DATA_VERSION) return { valid: false, reason: `has data format version ${version}, not ${META_DATA_VERSION}` };
  const freeDb = meta + 24;
  const mainDb = freeDb + 48;
  const size = bytes.readUInt32LE(freeDb);
  if (size < MIN_PAGE_SIZE || size > MAX_PAGE_SIZE || (size & (size - 1)) !== 0)
    return { valid: false, reason: `has an impossible page size ${size}` };
  if (pageSizeBytes !== undefined && size !== pageSizeBytes)
    return { valid: false, reason: `has page size ${size}, meta page 0 has ${pageSizeBytes}` };
  const lastPage = bytes.readBigUInt64LE(meta + 120);
  if (lastPage < 1n || lastPage > BigInt(Number.MAX_SAFE_INTEGER)) return { valid: false, reason: `has an impossible last page ${lastPage}` };
  return {
    valid: true,
    meta: {
      pageSizeBytes: size,
      lastPage: Number(lastPage),
      txnId: bytes.readBigUInt64LE(meta + 128),
      freeRoot: bytes.readBigUInt64LE(freeDb + 40),
      mainRoot: bytes.readBigUInt64LE(mainDb + 40),
    },
  };
}

/**
 * The file must hold every page up to the meta's last page. LMDB can leave the file a little
 * shorter than that legitimately: pages allocated and freed within one transaction are never
 * written, and sit on the free list. So a short file is accepted only if every missing page is on
 * the free list (which we walk with pread); otherwise it was truncated.
 */
function checkLength(file: OpenFile, meta: LmdbMeta): void {
  const { pageSizeBytes } = meta;
  const filePages = Math.floor(file.sizeBytes / pageSizeBytes);
  const neededPages = meta.lastPage + 1;
  for (const [name, root] of [
    ['main', meta.mainRoot],
    ['free-list', meta.freeRoot],
  ] as const) {
    if (root !== NO_ROOT && root >= BigInt(filePages)) {
      throw truncated(file, meta, `its ${name} tree's root page ${root} is past the end`);
    }
  }
  if (filePages >= neededPages) return;
  const missing = neededPages - filePages;
  const freed = freePagesBetween(file, meta, filePages, meta.lastPage);
  if (freed < missing) throw truncated(file, meta, `${missing - freed} of the ${missing} pages past the end are in use`);
}

function truncated(file: OpenFile, meta: LmdbMeta, why: string): TinyKvError {
  const neededBytes = (meta.lastPage + 1) * meta.pageSizeBytes;
  return corrupted(
    `data file ${file.path} is truncated: ${file.sizeBytes} bytes, but its newest meta page (transaction ${meta.txnId}) ` +
      `uses ${meta.lastPage + 1} pages of ${meta.pageSizeBytes} bytes (${neededBytes} bytes); ${why}`,
    { dataFile: file.path, sizeBytes: file.sizeBytes, neededBytes },
  );
}

/** How many distinct free-listed pages are in [fromPage, toPage]. Every free-list page must be in the file. */
export function freePagesBetween(file: OpenFile, meta: LmdbMeta, fromPage: number, toPage: number): number {
  if (meta.freeRoot === NO_ROOT) return 0;
  const { pageSizeBytes } = meta;
  const filePages = Math.floor(file.sizeBytes / pageSizeBytes);
  const found = new Set<number>();
  const visited = new Set<number>();
  const stack = [Number(meta.freeRoot)];
  for (let pageNo = stack.pop(); pageNo !== undefined; pageNo = stack.pop()) {
    if (visited.has(pageNo)) throw corrupted(`data file ${file.path} is damaged: its free list loops at page ${pageNo}`);
    visited.add(pageNo);
    if (pageNo < 2 || pageNo >= filePages) {
      throw truncated(file, meta, `its free list refers to page ${pageNo}, which is not in the file`);
    }
    const page = readAt(file, pageNo * pageSizeBytes, pageSizeBytes);
    const flags = page.readUInt16LE(PAGE_FLAGS_OFFSET);
    const keys = page.readUInt16LE(PAGE_LOWER_OFFSET) >> 1;
    for (let i = 0; i < keys; i++) {
      const node = page.readUInt16LE(PAGE_HEADER_BYTES + 2 * i) + PAGE_HEADER_BYTES;
      if (node + NODE_HEADER_BYTES > pageSizeBytes) throw damagedFreeList(file, pageNo);
      const lo = page.readUInt16LE(node);
      const hi = page.readUInt16LE(node + 2);
      const nodeFlags = page.readUInt16LE(node + 4);
      const keyBytes = page.readUInt16LE(node + 6);
      if ((flags & P_BRANCH) !== 0) {
        stack.push(lo + hi * 0x1_0000 + nodeFlags * 0x1_0000_0000);
        continue;
      }
      if ((flags & P_LEAF) === 0) throw damagedFreeList(file, pageNo);
      const dataBytes = lo + hi * 0x1_0000;
      const dataAt = node + NODE_HEADER_BYTES + keyBytes;
      let ids: Buffer;
      if ((nodeFlags & F_BIGDATA) !== 0) {
        const overflow = Number(page.readBigUInt64LE(dataAt));
        const endPage = overflow + Math.ceil((PAGE_HEADER_BYTES + dataBytes) / pageSizeBytes);
        if (overflow < 2 || endPage > filePages) throw truncated(file, meta, `its free list's overflow pages ${overflow}.. are not in the file`);
        ids = readAt(file, overflow * pageSizeBytes + PAGE_HEADER_BYTES, dataBytes);
      } else {
        if (dataAt + dataBytes > pageSizeBytes) throw damagedFreeList(file, pageNo);
        ids = page.subarray(dataAt, dataAt + dataBytes);
      }
      // lmdb-js's ID list: a slot count, then that many i64 slots: 0 is an empty slot, a page
      // number is one free page, and -n followed by a page number is a run of n pages from it.
      const slots = ids.length >= 8 ? Number(ids.readBigUInt64LE(0)) : 0;
      if ((slots + 1) * 8 > ids.length) throw damagedFreeList(file, pageNo);
      for (let k = 1; k <= slots; k++) {
        const slot = ids.readBigInt64LE(8 * k);
        if (slot === 0n) continue;
        let run = 1n;
        let first = slot;
        if (slot < 0n) {
          if (k === slots) break;
          run = -slot;
          first = ids.readBigInt64LE(8 * ++k);
        }
        const from = first > BigInt(fromPage) ? first : BigInt(fromPage);
        const to = first + run - 1n < BigInt(toPage) ? first + run - 1n : BigInt(toPage);
        if (to - from > BigInt(filePages + toPage)) throw damagedFreeList(file, pageNo);
        for (let free = from; free <= to; free++) found.add(Number(free));
      }
    }
  }
  return found.size;
}

function damagedFreeList(file: OpenFile, pageNo: number): TinyKvError {
  return corrupted(`data file ${file.path} is damaged: free-list page ${pageNo} is not a valid page`);
}

function readAt(file: OpenFile, offset: number, length: number): Buffer {
  const buffer = Buffer.alloc(length);
  let read = 0;
  while (read < length) {
    const n = readSync(file.fd, buffer, read, length - read, offset + read);
    if (n === 0) break;
    read += n;
  }
  return buffer.subarray(0, read);
}
