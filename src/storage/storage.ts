/**
 * The storage contract the gRPC handlers and transaction commands are written against, as in
 * TinyKV: writes are batches of modifies; a reader is a point-in-time snapshot with per-family
 * point reads and iterators. The standalone node implements it over one engine; the replicated
 * store implements it through Raft, and rejects a request sent to the wrong place by throwing a
 * RegionError (src/raftstore/router/errors.ts), which the handlers return in the response's region_error.
 */
import type { Context } from '../proto/kvrpcpb.js';
import type { DataColumnFamily } from '../engine/engine.js';

export type Modify =
  | { readonly type: 'put'; readonly cf: DataColumnFamily; readonly key: Buffer; readonly value: Buffer }
  | { readonly type: 'delete'; readonly cf: DataColumnFamily; readonly key: Buffer };

/** A cursor over one column family of a reader. Keys come in byte order. */
export interface DbIterator {
  /** Positions at the first key >= `key`. */
  seek(key: Uint8Array): void;
  valid(): boolean;
  key(): Buffer;
  value(): Buffer;
  next(): void;
  close(): void;
}

export interface StorageReader {
  /** The value, or undefined when the key is absent (absence is not an error). */
  getCF(cf: DataColumnFamily, key: Uint8Array): Buffer | undefined;
  /** A new iterator positioned at the first key of the family. */
  iterCF(cf: DataColumnFamily): DbIterator;
  /** Releases the snapshot; every iterator must be closed first. */
  close(): void;
}

export interface Storage {
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Applies every modify atomically; resolves once durable. */
  write(context: Context | undefined, batch: readonly Modify[]): Promise<void>;
  /** `keyHint`: a stored key the caller will read (a raw key; a transactional key's `encodeBytes(userKey)`), used to find the region when the context names none. */
  reader(context: Context | undefined, keyHint?: Buffer): Promise<StorageReader>;
}
