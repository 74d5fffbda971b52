/**
 * An in-memory engine with the LMDB engine's observable behaviour, for simulation and tests.
 * Each family is a B+ tree; a snapshot is an O(1) copy-on-write clone of every tree.
 */
import { createRequire } from 'node:module';
import { engineClosed, familyIn, snapshotClosed } from './engine-errors.js';
import { compareBytes, toBuffer } from '../util/bytes.js';
import {
  ENGINE_COLUMN_FAMILIES,
  type ColumnFamily,
  type Engine,
  type EngineSnapshot,
  type EngineStats,
  type KeyValuePair,
  type ScanOptions,
  type WriteOp,
  type WriteOptions,
} from './engine.js';
import { checkedKey } from './write-batch.js';

// sorted-btree is CommonJS with a `default` export that NodeNext typing cannot see through.
// The subset of sorted-btree's BTree this engine uses.
interface Tree {
  get(key: Buffer): Buffer | undefined;
  set(key: Buffer, value: Buffer): boolean;
  delete(key: Buffer): boolean;
  deleteRange(low: Buffer, high: Buffer, includeHigh: boolean): number;
  entries(lowestKey?: Buffer): IterableIterator<[Buffer, Buffer]>;
  entriesReversed(highestKey?: Buffer, reusedArray?: undefined, skipHighest?: boolean): IterableIterator<[Buffer, Buffer]>;
  clone(): Tree;
}
type TreeConstructor = new (entries: undefined, compare: (a: Buffer, b: Buffer) => number) => Tree;
const BTree = createRequire(import.meta.url)('sorted-btree').default as TreeConstructor;

function newTree(): Tree {
  return new BTree(undefined, compareBytes);
}

export class MemoryEngine implements Engine {
  readonly kind = 'memory' as const;
  private trees = new Map<ColumnFamily, Tree>(ENGINE_COLUMN_FAMILIES.map((cf) => [cf, newTree()]));
  private closed = false;
  private batchesWritten = 0;

  get(cf: ColumnFamily, key: Uint8Array): Buffer | undefined {
    this.checkOpen();
    return this.tree(cf).get(checkedKey(cf, key));
  }
  /** One thread's memory: every read is of the latest commit. */
  getLatest(cf: ColumnFamily, key: Uint8Array): Buffer | undefined {
    return this.get(cf, key);
  }

  async write(ops: readonly WriteOp[], _options?: WriteOptions): Promise<void> {
    this.checkOpen();
    // Validate everything first so a bad op leaves the engine untouched (atomicity).
    for (const op of ops) if (op.type !== 'deleteRange') checkedKey(op.cf, op.key);
    for (const op of ops) applyOp(this.tree(op.cf), op);
    this.batchesWritten++;
  }

  async flush(): Promise<void> {
    this.checkOpen();
  }

  snapshot(): EngineSnapshot {
    this.checkOpen();
    const frozen = new Map<ColumnFamily, Tree>();
    for (const [cf, tree] of this.trees) frozen.set(cf, tree.clone());
    return new MemorySnapshot(frozen);
  }

  stats(): EngineStats {
    return { kind: 'memory', batchesWritten: this.batchesWritten };
  }

  async close(): Promise<void> {
    this.closed = true;
  }

  private tree(cf: ColumnFamily): Tree {
    return familyIn(this.trees, cf);
  }

  private checkOpen(): void {
    if (this.closed) throw engineClosed();
  }
}

function applyOp(tree: Tree, op: WriteOp): void {
  switch (op.type) {
    case 'put':
      // Copy: the caller may reuse its buffers after the write resolves.
      tree.set(Buffer.from(op.key), Buffer.from(op.value));
      return;
    case 'delete':
      tree.delete(op.key);
      return;
    case 'deleteRange': {
      if (op.end && compareBytes(op.start, op.end) >= 0) return;
      const doomed: Buffer[] = [];
      for (const [key] of tree.entries(op.start)) {
        if (op.end && compareBytes(key, op.end) >= 0) break;
        doomed.push(key);
      }
      for (const key of doomed) tree.delete(key);
      return;
    }
  }
}

class MemorySnapshot implements EngineSnapshot {
  private closed = false;

  constructor(private readonly trees: Map<ColumnFamily, Tree>) {}

  get(cf: ColumnFamily, key: Uint8Array): Buffer | undefined {
    this.checkOpen();
    return this.tree(cf).get(checkedKey(cf, key));
  }

  *scan(cf: ColumnFamily, options: ScanOptions = {}): IterableIterator<KeyValuePair> {
    this.checkOpen();
    const tree = this.tree(cf);
    const start = options.start && options.start.length > 0 ? toBuffer(options.start) : undefined;
    const end = options.end && options.end.length > 0 ? toBuffer(options.end) : undefined;
    const limit = options.limit ?? Number.POSITIVE_INFINITY;
    if (limit <= 0) return;
    let count = 0;
    if (!options.reverse) {
      for (const [key, value] of tree.entries(start)) {
        if (this.closed) throw snapshotClosed();
        if (end && compareBytes(key, end) >= 0) return;
        yield { key, value };
        if (++count >= limit) return;
      }
      return;
    }
    // Reverse: begin strictly below `end`.
    const iterator = end ? tree.entriesReversed(end, undefined, true) : tree.entriesReversed();
    for (const [key, value] of iterator) {
      if (this.closed) throw snapshotClosed();
      if (start && compareBytes(key, start) < 0) return;
      yield { key, value };
      if (++count >= limit) return;
    }
  }

  close(): void {
    this.closed = true;
  }

  private tree(cf: ColumnFamily): Tree {
    return familyIn(this.trees, cf);
  }

  private checkOpen(): void {
    if (this.closed) throw snapshotClosed();
  }
}
