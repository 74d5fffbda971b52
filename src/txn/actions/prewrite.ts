/** Prewrite one key: check for conflicts, then write the value (or its deletion) and our lock. */
import type { KeyError } from '../../proto/kvrpcpb.js';
import { conflictKeyError, lockedKeyError } from '../errors.js';
import { lockInfo } from '../lock.js';
import type { MvccTxn } from '../mvcc-txn.js';
import { WriteKind } from '../write.js';

export interface PrewriteMutation {
  readonly key: Buffer;
  readonly kind: WriteKind.Put | WriteKind.Delete;
  /** The value for a Put; ignored for a Delete. */
  readonly value: Buffer;
}

export interface PrewriteParams {
  readonly primary: Buffer;
  readonly lockTtl: bigint;
}

/**
 * Returns the KeyError for this key, or undefined after buffering value + lock.
 * - A record (commit or rollback) at ts >= start_ts is a write conflict; this includes our own
 *   rollback record, so a rolled-back transaction can never be prewritten again.
 * - Another transaction's lock: locked. Our own lock: prewrite again (idempotent retry).
 */
export function prewriteKey(txn: MvccTxn, mutation: PrewriteMutation, params: PrewriteParams): KeyError | undefined {
  const { key } = mutation;
  const recent = txn.mostRecentWrite(key);
  if (recent !== undefined && recent.commitTs >= txn.startTs) {
    return conflictKeyError(txn.startTs, recent.commitTs, key, params.primary);
  }
  const lock = txn.getLock(key);
  if (lock !== undefined && lock.ts !== txn.startTs) return lockedKeyError(lockInfo(lock, key));
  if (mutation.kind === WriteKind.Put) txn.putValue(key, mutation.value);
  else txn.deleteValue(key);
  txn.putLock(key, { primary: params.primary, ts: txn.startTs, ttl: params.lockTtl, kind: mutation.kind });
  return undefined;
}
