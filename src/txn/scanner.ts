/**
 * Scanner: user keys in ascending order with the value visible at `ts` (snapshot isolation).
 *
 * It walks the write CF and the lock CF side by side, so a key that has only a lock (a first
 * insert still being committed) is reported too. TinyKV's scanner walks the write CF only and
 * would silently skip such a key even when its transaction commits at or before `ts`.
 * For each user key: a lock with lock.ts <= ts yields `{ key, lock }` (the client must resolve it);
 * otherwise the newest commit record with commit_ts <= ts decides (Put: yields the value; Delete or
 * none: the key is skipped; rollback records are ignored).
 * A record of one key that does not decode yields `{ key, corruption }` and the scan goes on: one
 * damaged key must not make the whole range unreadable.
 */
import type { DbIterator, StorageReader } from '../storage/storage.js';
import { compareBytes } from '../util/bytes.js';
import { decodeBytes, decodeLockKey, encodedKeyUpperBound, encodeBytes } from './codec.js';
import { isTxnError, TxnErrorCode, type TxnError } from './errors.js';
import { blocksRead, decodeLock, type Lock } from './lock.js';
import { MvccTxn } from './mvcc-txn.js';
import { WriteKind } from './write.js';

export type ScanItem =
  | { readonly key: Buffer; readonly value: Buffer; readonly lock?: undefined; readonly corruption?: undefined }
  | { readonly key: Buffer; readonly lock: Lock; readonly value?: undefined; readonly corruption?: undefined }
  /** A stored record of `key` is damaged (for an undecodable write-CF key, `key` is that engine key). */
  | { readonly key: Buffer; readonly corruption: TxnError; readonly value?: undefined; readonly lock?: undefined };

function isCorruption(err: unknown): err is TxnError {
  return isTxnError(err) && err.code === TxnErrorCode.Corruption;
}

export class Scanner {
  private readonly writes: DbIterator;
  private readonly locks: DbIterator;
  private readonly txn: MvccTxn;
  private closed = false;

  constructor(
    reader: StorageReader,
    startKey: Buffer,
    readonly ts: bigint,
  ) {
    this.txn = new MvccTxn(reader, ts);
    this.writes = reader.iterCF('write');
    try {
      this.locks = reader.iterCF('lock');
    } catch (err) {
      this.writes.close();
      throw err;
    }
    const encodedStart = encodeBytes(startKey);
    this.writes.seek(encodedStart);
    this.locks.seek(encodedStart);
  }

  /** The next item, or undefined when the keys are exhausted. */
  next(): ScanItem | undefined {
    while (!this.closed) {
      let key: Buffer | undefined;
      try {
        key = this.nextUserKey();
      } catch (err) {
        if (!isCorruption(err)) throw err;
        // The write CF's key itself does not decode: report that engine key and step past it.
        const engineKey = Buffer.from(this.writes.key());
        this.writes.next();
        return { key: engineKey, corruption: err };
      }
      if (key === undefined) return undefined;
      const item = this.visit(key);
      if (item !== undefined) return item;
    }
    return undefined;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.writes.close();
    this.locks.close();
  }

  /** The smallest user key at or after both cursors. */
  private nextUserKey(): Buffer | undefined {
    const fromWrites = this.writes.valid() ? decodeBytes(this.writes.key()).data : undefined;
    const fromLocks = this.locks.valid() ? decodeLockKey(this.locks.key()) : undefined;
    if (fromWrites === undefined) return fromLocks;
    if (fromLocks === undefined) return fromWrites;
    return compareBytes(fromWrites, fromLocks) <= 0 ? fromWrites : fromLocks;
  }

  /** Decides one user key and moves both cursors past it. */
  private visit(key: Buffer): ScanItem | undefined {
    let lockBytes: Uint8Array | undefined;
    if (this.locks.valid() && compareBytes(this.locks.key(), encodeBytes(key)) === 0) {
      lockBytes = Buffer.from(this.locks.value()); // a copy: the cursor moves on before it is decoded
      this.locks.next();
    }
    // Point lookups use the txn's own iterator; then skip this cursor past every version of `key`.
    // Both cursors are past `key` before anything is decoded, so a damaged record costs one key.
    this.writes.seek(encodedKeyUpperBound(key));
    try {
      const lock = lockBytes === undefined ? undefined : decodeLock(lockBytes);
      if (lock !== undefined && blocksRead(lock, this.ts)) return { key, lock };
      const committed = this.txn.visibleWrite(key, this.ts);
      if (committed === undefined || committed.write.kind !== WriteKind.Put) return undefined;
      return { key, value: this.txn.readValue(key, committed.write.startTs) };
    } catch (err) {
      if (isCorruption(err)) return { key, corruption: err };
      throw err;
    }
  }
}
