/** What every transaction command shares: input bounds and checks, region errors, the write path. */
import type { Error as RegionErrorPb } from '../../proto/errorpb.js';
import type { Context } from '../../proto/kvrpcpb.js';
import { RegionError } from '../../raftstore/router/errors.js';
import type { Storage, StorageReader } from '../../storage/storage.js';
import { encodeBytes, TS_MAX } from '../codec.js';
import { invalidArgument, TxnError, TxnErrorCode } from '../errors.js';
import type { Latches } from '../latches.js';
import { MvccTxn } from '../mvcc-txn.js';

/** Most keys (or mutations) one command may carry; also the resolve-lock batch size. */
export const TXN_KEYS_MAX = 10_000;
/** Longest user key: its encoded form (about 9/8 of it plus 17 bytes) must fit the engine's 1978-byte keys. */
export const TXN_KEY_MAX_BYTES = 1536;
/** Largest value of one mutation. */
export const TXN_VALUE_MAX_BYTES = 8 * 1024 * 1024;
/** Largest sum of key and value bytes in one prewrite. */
export const TXN_PREWRITE_MAX_BYTES = 64 * 1024 * 1024;
/** Largest KvScan limit. */
export const TXN_SCAN_LIMIT_MAX = 10_000;

export function requireTs(name: string, ts: bigint): void {
  if (typeof ts !== 'bigint' || ts <= 0n || ts > TS_MAX) {
    throw invalidArgument(`${name} must be a timestamp in [1, 2^64-1], got ${String(ts)}`, { field: name });
  }
}

export function requireKey(name: string, key: Uint8Array | undefined): Buffer {
  if (key === undefined || key.length === 0) throw invalidArgument(`${name} must not be empty`, { field: name });
  if (key.length > TXN_KEY_MAX_BYTES) {
    throw new TxnError(TxnErrorCode.KeyTooLarge, `${name} is ${key.length} bytes, more than ${TXN_KEY_MAX_BYTES}`, {
      field: name,
    });
  }
  return Buffer.isBuffer(key) ? key : Buffer.from(key.buffer, key.byteOffset, key.byteLength);
}

export function requireKeyCount(name: string, count: number): void {
  if (count > TXN_KEYS_MAX) {
    throw new TxnError(TxnErrorCode.TooManyKeys, `${count} ${name} in one command, more than ${TXN_KEYS_MAX}`, { field: name });
  }
}

/** Validates keys and removes duplicates, keeping the first occurrence's position. */
export function requireKeys(name: string, keys: readonly Uint8Array[]): Buffer[] {
  requireKeyCount(name, keys.length);
  const seen = new Set<string>();
  const unique: Buffer[] = [];
  for (const key of keys) {
    const checked = requireKey(name, key);
    const id = checked.toString('latin1');
    if (seen.has(id)) continue;
    seen.add(id);
    unique.push(checked);
  }
  return unique;
}

/**
 * The region error an exception carries, if any. Contract with the storage layer: a replicated
 * store signals "wrong region / not leader / epoch" by throwing a RegionError, whose errorpb.Error
 * the command returns in the response's region_error.
 */
export function regionErrorOf(err: unknown): RegionErrorPb | undefined {
  return err instanceof RegionError ? err.regionError : undefined;
}

/**
 * Runs `body` with a snapshot reader, always closing it. A context without a region (ctl, simple
 * clients) is routed by `userKey`: its records live at `encodeBytes(userKey)` and after, so that is
 * the key the store's regions are searched with (raw calls route by the raw key instead).
 */
export async function withReader<T>(
  storage: Storage,
  context: Context | undefined,
  userKey: Buffer | undefined,
  body: (reader: StorageReader) => T,
): Promise<T> {
  const reader = await storage.reader(context, userKey === undefined ? undefined : encodeBytes(userKey));
  try {
    return body(reader);
  } finally {
    reader.close();
  }
}

export interface WriteOutcome<R> {
  readonly result: R;
  /** False when the command failed per key: nothing is written. */
  readonly write: boolean;
}

/**
 * The write-command skeleton: latch `keys`, take a snapshot *after* latching, run the actions on
 * one MvccTxn, then write all of its modifies in one atomic batch (unless the body says not to).
 */
export async function runWriteCommand<R>(
  storage: Storage,
  latches: Latches,
  context: Context | undefined,
  keys: readonly Buffer[],
  startTs: bigint,
  body: (txn: MvccTxn) => WriteOutcome<R>,
): Promise<R> {
  const guard = await latches.acquire(keys);
  try {
    const outcome = await withReader(storage, context, keys[0], (reader) => {
      const txn = new MvccTxn(reader, startTs);
      return { ...body(txn), modifies: txn.modifies };
    });
    if (outcome.write && outcome.modifies.length > 0) {
      latches.validate(guard.keys, outcome.modifies);
      await storage.write(context, outcome.modifies);
    }
    return outcome.result;
  } finally {
    guard.release();
  }
}

/** Runs a command; a region error thrown by the storage becomes `onRegionError(regionError)`. */
export async function catchRegionError<T>(run: () => Promise<T>, onRegionError: (error: RegionErrorPb) => T): Promise<T> {
  try {
    return await run();
  } catch (err) {
    const regionError = regionErrorOf(err);
    if (regionError !== undefined) return onRegionError(regionError);
    throw err;
  }
}
