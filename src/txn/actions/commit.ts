/** Commit one key of the transaction txn.startTs at commitTs. */
import type { KeyError } from '../../proto/kvrpcpb.js';
import { abortKeyError, corruption, KeyErrorCode, retryableKeyError } from '../errors.js';
import type { MvccTxn } from '../mvcc-txn.js';
import { WriteKind } from '../write.js';

/**
 * - Our lock: write the commit record at commitTs (kind from the lock) and remove the lock.
 * - No lock of ours but our commit record: already committed, success (idempotent).
 * - Our rollback record: abort (safer than TinyKV, which reports success).
 * - Another transaction's lock and no record of ours: retryable.
 * - Nothing at all (never prewritten): abort (TinyKV reports success).
 */
export function commitKey(txn: MvccTxn, key: Buffer, commitTs: bigint): KeyError | undefined {
  const lock = txn.getLock(key);
  if (lock !== undefined && lock.ts === txn.startTs) {
    if (lock.kind === WriteKind.Rollback) throw corruption('lock with kind Rollback', { key: key.toString('hex') });
    txn.putWrite(key, commitTs, { startTs: txn.startTs, kind: lock.kind });
    txn.deleteLock(key);
    return undefined;
  }
  const record = txn.currentWrite(key);
  if (record !== undefined) {
    if (record.write.kind !== WriteKind.Rollback) return undefined;
    return abortKeyError(KeyErrorCode.RolledBack, `transaction ${txn.startTs} was rolled back on key ${key.toString('hex')}`);
  }
  if (lock !== undefined) {
    return retryableKeyError(KeyErrorCode.LockedByOther, `key ${key.toString('hex')} is locked by transaction ${lock.ts}, not ${txn.startTs}`);
  }
  return abortKeyError(KeyErrorCode.LockNotFound, `transaction ${txn.startTs} has no lock on key ${key.toString('hex')}`);
}
