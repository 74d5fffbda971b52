/** Roll back one key of the transaction txn.startTs. */
import type { KeyError } from '../../proto/kvrpcpb.js';
import { encodeKey } from '../codec.js';
import { abortKeyError, KeyErrorCode } from '../errors.js';
import type { MvccTxn } from '../mvcc-txn.js';
import { WriteKind } from '../write.js';

/**
 * - Our rollback record exists: nothing to do (idempotent).
 * - Our commit record exists: abort, the transaction is committed.
 * - Otherwise remove our lock and value if present, and write a rollback record at start_ts even
 *   with no lock (so a late prewrite fails) or with another transaction's lock (which stays).
 */
export function rollbackKey(txn: MvccTxn, key: Buffer): KeyError | undefined {
  const record = txn.currentWrite(key);
  if (record !== undefined) {
    if (record.write.kind === WriteKind.Rollback) return undefined;
    return abortKeyError(
      KeyErrorCode.AlreadyCommitted,
      `transaction ${txn.startTs} is already committed at ${record.commitTs} on key ${key.toString('hex')}`,
    );
  }
  const lock = txn.getLock(key);
  if (lock !== undefined && lock.ts === txn.startTs) {
    txn.deleteLock(key);
    txn.deleteValue(key);
  }
  putRollbackRecord(txn, key);
  return undefined;
}

/**
 * Writes the rollback record at (key, start_ts), unless another transaction's commit record sits
 * at exactly that ts (possible only with non-unique timestamps): overwriting it would lose
 * committed data, and it already makes any late prewrite of ours fail with a write conflict.
 */
export function putRollbackRecord(txn: MvccTxn, key: Buffer): void {
  if (txn.reader.getCF('write', encodeKey(key, txn.startTs)) !== undefined) return;
  txn.putWrite(key, txn.startTs, { startTs: txn.startTs, kind: WriteKind.Rollback });
}
