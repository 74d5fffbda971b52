/**
 * The storage engine contract shared by the LMDB engine and the in-memory engine.
 *
 * An engine holds a fixed set of column families (independent ordered key spaces). Writes go in
 * batches that are atomic across families and durable once `write` resolves. Reads go through
 * snapshots: a snapshot sees exactly the batches that had resolved before it was taken.
 * Keys order as unsigned bytes.
 */

/** Column families every engine has. Data lives in the first three; `meta` is for internal state. */
export const DATA_COLUMN_FAMILIES = ['default', 'lock', 'write'] as const;
export type DataColumnFamily = (typeof DATA_COLUMN_FAMILIES)[number];
export const ENGINE_COLUMN_FAMILIES = [...DATA_COLUMN_FAMILIES, 'meta'] as const;
export type ColumnFamily = (typeof ENGINE_COLUMN_FAMILIES)[number];

export function isDataColumnFamily(name: string): name is DataColumnFamily {
  return (DATA_COLUMN_FAMILIES as readonly string[]).includes(name);
}

export function isColumnFamily(name: string): name is ColumnFamily {
  return (ENGINE_COLUMN_FAMILIES as readonly string[]).includes(name);
}

/** LMDB's largest key with its default page size; the memory engine enforces the same bound. */
export const ENGINE_MAX_KEY_SIZE_BYTES = 1978;

export type WriteOp =
  | { readonly type: 'put'; readonly cf: ColumnFamily; readonly key: Buffer; readonly value: Buffer }
  | { readonly type: 'delete'; readonly cf: ColumnFamily; readonly key: Buffer }
  | {
      readonly type: 'deleteRange';
      readonly cf: ColumnFamily;
      readonly start: Buffer;
      /** Absent: to the end of the family. */ readonly end?: Buffer;
    };

export interface ScanOptions {
  /** Inclusive lower bound; the start of the family when absent. */
  readonly start?: Uint8Array;
  /** Exclusive upper bound; the end of the family when absent. */
  readonly end?: Uint8Array;
  /** At most this many pairs. */
  readonly limit?: number;
  /** Walk from `end` (exclusive) down to `start` (inclusive). */
  readonly reverse?: boolean;
}

export interface WriteOptions {
  /** Default true: wait for the flush to disk, not only the commit. */
  readonly durable?: boolean;
}

export interface KeyValuePair {
  readonly key: Buffer;
  readonly value: Buffer;
}

/** A point-in-time read view. Close it when done: an open snapshot pins old data. */
export interface EngineSnapshot {
  get(cf: ColumnFamily, key: Uint8Array): Buffer | undefined;
  /** Lazily yields pairs in byte order (or reverse byte order). */
  scan(cf: ColumnFamily, options?: ScanOptions): IterableIterator<KeyValuePair>;
  close(): void;
}

export interface EngineStats {
  readonly kind: 'lmdb' | 'memory';
  readonly path?: string;
  readonly batchesWritten: number;
}

export interface Engine {
  readonly kind: 'lmdb' | 'memory';
  /**
   * Reads a committed value cheaply. Every read of one event-loop turn shares one view (lmdb-js
   * keeps its read transaction until a timer of the next turn), so a commit made by another
   * thread or process during the turn may not show yet; this thread's own commits always do.
   * A decision about state another thread writes uses getLatest or snapshot.
   */
  get(cf: ColumnFamily, key: Uint8Array): Buffer | undefined;
  /** Reads the value as of every commit made so far, by any thread or process. */
  getLatest(cf: ColumnFamily, key: Uint8Array): Buffer | undefined;
  /**
   * Applies all ops atomically, in order. Resolves once they are durable, or with
   * `{ durable: false }` once they are committed and visible: such a write survives a process
   * crash but may be lost in a machine crash until `flush()` resolves.
   */
  write(ops: readonly WriteOp[], options?: WriteOptions): Promise<void>;
  /** Resolves once every write committed so far is durable. */
  flush(): Promise<void>;
  /** A point-in-time view that includes every commit made so far, by any thread or process. */
  snapshot(): EngineSnapshot;
  stats(): EngineStats;
  /** Waits for in-flight writes, then releases the engine. Idempotent. */
  close(): Promise<void>;
}
