/** Decide the status of a transaction from its primary key, rolling it back when abandoned. */
import { Action } from '../../proto/kvrpcpb.js';
import { isLockExpired } from '../lock.js';
import type { MvccTxn } from '../mvcc-txn.js';
import { WriteKind } from '../write.js';
import { putRollbackRecord } from './rollback.js';

export interface TxnStatus {
  /** > 0: still locked (alive). */
  readonly lockTtl: bigint;
  /** > 0: committed at this ts. Both 0: rolled back. */
  readonly commitVersion: bigint;
  readonly action: Action;
}

/**
 * txn.startTs is the lock_ts being checked.
 * - Its lock on the primary, expired (physical(lock.ts) + ttl <= physical(currentTs)): roll back
 *   (TTLExpireRollback). Not expired: report the ttl (at least 1, so a live lock with ttl 0 is
 *   never mistaken for "rolled back").
 * - No lock of ours: our commit record gives commit_version; our rollback record gives rolled back;
 *   nothing writes a rollback record so the transaction can never commit (LockNotExistRollback).
 */
export function checkTxnStatusOfPrimary(txn: MvccTxn, primary: Buffer, currentTs: bigint): TxnStatus {
  const lock = txn.getLock(primary);
  if (lock !== undefined && lock.ts === txn.startTs) {
    if (!isLockExpired(lock, currentTs)) {
      return { lockTtl: lock.ttl > 0n ? lock.ttl : 1n, commitVersion: 0n, action: Action.NoAction };
    }
    txn.deleteLock(primary);
    txn.deleteValue(primary);
    putRollbackRecord(txn, primary);
    return { lockTtl: 0n, commitVersion: 0n, action: Action.TTLExpireRollback };
  }
  const record = txn.currentWrite(primary);
  if (record !== undefined) {
    const commitVersion = record.write.kind === WriteKind.Rollback ? 0n : record.commitTs;
    return { lockTtl: 0n, commitVersion, action: Action.NoAction };
  }
  putRollbackRecord(txn, primary);
  return { lockTtl: 0n, commitVersion: 0n, action: Action.LockNotExistRollback };
}
