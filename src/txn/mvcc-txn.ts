/**
 * MvccTxn: one command's view of MVCC data (TinyKV kv/transaction/mvcc/transaction.go). It reads from
 * a snapshot `StorageReader` and buffers modifies; the command writes `modifies` in one atomic batch.
 * Reads do not see the buffered modifies (they see the snapshot), so commands de-duplicate keys first.
 * Every family is keyed by the memcomparable user key (the lock family by `encodeBytes(key)`, the
 * others by `encodeKey(key, ts)`), so a key's lock and versions sort together (TiKV's layout).
 */
import type { Modify, StorageReader } from '../storage/storage.js';
import { encodeBytes, encodeKey, hasUserKey, timestampAt, TS_MAX } from './codec.js';
import { quoteForError } from '../util/errors.js';
import { corruption, isTxnError, TxnErrorCode } from './errors.js';
import { decodeLock, encodeLock, type Lock } from './lock.js';
import { decodeWrite, encodeWrite, WriteKind, type Write } from './write.js';

export interface WriteAt {
  readonly write: Write;
  /** The ts the record is stored at: the commit ts, or the start ts for a rollback. */
  readonly commitTs: bigint;
}

export class MvccTxn {
  private readonly buffered: Modify[] = [];

  constructor(
    readonly reader: StorageReader,
    readonly startTs: bigint,
  ) {}

  /** The buffered modifies, in the order they were made. */
  get modifies(): readonly Modify[] {
    return this.buffered;
  }

  putWrite(key: Buffer, ts: bigint, write: Write): void {
    this.buffered.push({ type: 'put', cf: 'write', key: encodeKey(key, ts), value: encodeWrite(write) });
  }

  getLock(key: Buffer): Lock | undefined {
    const bytes = this.reader.getCF('lock', encodeBytes(key));
    return bytes === undefined ? undefined : ofKey(key, () => decodeLock(bytes));
  }

  putLock(key: Buffer, lock: Lock): void {
    this.buffered.push({ type: 'put', cf: 'lock', key: encodeBytes(key), value: encodeLock(lock) });
  }

  deleteLock(key: Buffer): void {
    this.buffered.push({ type: 'delete', cf: 'lock', key: encodeBytes(key) });
  }

  putValue(key: Buffer, value: Buffer): void {
    this.buffered.push({ type: 'put', cf: 'default', key: encodeKey(key, this.startTs), value: Buffer.from(value) });
  }

  deleteValue(key: Buffer): void {
    this.buffered.push({ type: 'delete', cf: 'default', key: encodeKey(key, this.startTs) });
  }

  /**
   * The value visible at startTs: the newest commit record with commit_ts <= startTs decides
   * (Put: its value; Delete: none); rollback records are skipped.
   */
  getValue(key: Buffer): Buffer | undefined {
    const committed = this.visibleWrite(key, this.startTs);
    if (committed === undefined || committed.write.kind !== WriteKind.Put) return undefined;
    return this.readValue(key, committed.write.startTs);
  }

  /** The newest commit record (Put or Delete) of `key` with commit_ts <= ts, skipping rollbacks. */
  visibleWrite(key: Buffer, ts: bigint): WriteAt | undefined {
    for (const found of this.versions(key, ts)) {
      if (found.write.kind !== WriteKind.Rollback) return found;
    }
    return undefined;
  }

  /** The default-CF value a Put record points at; its absence is corruption. */
  readValue(key: Buffer, startTs: bigint): Buffer {
    const value = this.reader.getCF('default', encodeKey(key, startTs));
    if (value === undefined) throw corruption(`committed Put of key ${quoteForError(key)} has no value`, { key: quoteForError(key, 256), startTs });
    return value;
  }

  /** The record (commit or rollback) this transaction (startTs) left on `key`, if any. */
  currentWrite(key: Buffer): WriteAt | undefined {
    for (const found of this.versions(key, TS_MAX)) {
      // Records are stored at ts >= their start ts, so older records cannot be ours.
      if (found.commitTs < this.startTs) return undefined;
      if (found.write.startTs === this.startTs) return found;
    }
    return undefined;
  }

  /** The newest record of `key` at any ts, rollbacks included. */
  mostRecentWrite(key: Buffer): WriteAt | undefined {
    for (const found of this.versions(key, TS_MAX)) return found;
    return undefined;
  }

  /** Every record of `key` stored at ts <= maxTs, newest first. The iterator closes when the loop ends. */
  *versions(key: Buffer, maxTs: bigint): Generator<WriteAt> {
    const encodedUserKey = encodeBytes(key);
    const iterator = this.reader.iterCF('write');
    try {
      for (iterator.seek(encodeKey(key, maxTs)); iterator.valid(); iterator.next()) {
        const encoded = iterator.key();
        if (!hasUserKey(encoded, encodedUserKey)) return;
        yield ofKey(key, () => ({ write: decodeWrite(iterator.value()), commitTs: timestampAt(encoded, encodedUserKey.length) }));
      }
    } finally {
      iterator.close();
    }
  }
}

/** Runs a record decode of `key`; a corruption error it throws names the key (for the log and the client). */
function ofKey<T>(key: Buffer, decode: () => T): T {
  try {
    return decode();
  } catch (err) {
    if (!isTxnError(err) || err.code !== TxnErrorCode.Corruption || 'key' in err.details) throw err;
    throw corruption(`${err.message} (key ${quoteForError(key)})`, { ...err.details, key: quoteForError(key, 256) });
  }
}
