/**
 * Transaction-layer errors.
 *
 * Two kinds of failure leave a transaction command:
 * 1. A `TxnError` is *thrown* for a request that is malformed or cannot be served at all (empty key,
 *    zero timestamp, too many keys, latch queue full, corrupt MVCC data). The server's edge
 *    (src/rpc/error-status.ts) maps its code to a gRPC status; nothing was written.
 * 2. A `KeyError` (kvrpcpb) is *returned* in the response for a per-key outcome the client acts on
 *    (locked, write conflict, retryable, abort). The `retryable`/`abort` strings start with a stable
 *    code from `KeyErrorCode`, followed by `: ` and a human-readable message.
 *
 * Codes never change once published; messages may.
 */
import { KeyError, type LockInfo } from '../proto/kvrpcpb.js';
import { TinyKvError } from '../util/errors.js';

export const TxnErrorCode = {
  /** Malformed request: empty key, zero timestamp, commit_version <= start_version, unknown op. */
  InvalidArgument: 'KV:Txn:InvalidArgument',
  /** More keys/mutations in one command than TXN_KEYS_MAX. */
  TooManyKeys: 'KV:Txn:TooManyKeys',
  KeyTooLarge: 'KV:Txn:KeyTooLarge',
  ValueTooLarge: 'KV:Txn:ValueTooLarge',
  ScanLimitTooLarge: 'KV:Txn:ScanLimitTooLarge',
  /** The latch wait queue is full; the client should back off and retry (server busy). */
  LatchQueueFull: 'KV:Txn:LatchQueueFull',
  /** Stored MVCC data violates an invariant (undecodable lock/write, value missing for a Put). */
  Corruption: 'KV:Txn:Corruption',
} as const;
export type TxnErrorCodeValue = (typeof TxnErrorCode)[keyof typeof TxnErrorCode];

export class TxnError extends TinyKvError {
  declare readonly code: TxnErrorCodeValue;

  constructor(code: TxnErrorCodeValue, message: string, details: Record<string, unknown> = {}) {
    super(code, message, details, { retryable: code === TxnErrorCode.LatchQueueFull });
  }
}

export function isTxnError(err: unknown): err is TxnError {
  return err instanceof TxnError;
}

export function invalidArgument(message: string, details: Record<string, unknown> = {}): TxnError {
  return new TxnError(TxnErrorCode.InvalidArgument, message, details);
}

export function corruption(message: string, details: Record<string, unknown> = {}): TxnError {
  return new TxnError(TxnErrorCode.Corruption, message, details);
}

/** Stable prefixes of KeyError.retryable / KeyError.abort strings. */
export const KeyErrorCode = {
  /** Commit: the key is locked by another transaction (retryable). */
  LockedByOther: 'KV:Txn:LockedByOther',
  /** Commit/resolve: this transaction was rolled back on the key (abort). */
  RolledBack: 'KV:Txn:RolledBack',
  /** Rollback: this transaction is already committed on the key (abort). */
  AlreadyCommitted: 'KV:Txn:AlreadyCommitted',
  /** Commit: no lock and no commit/rollback record of this transaction on the key (abort). */
  LockNotFound: 'KV:Txn:LockNotFound',
  /** Prewrite: a write with commit_ts >= start_ts exists (carried as KeyError.conflict). */
  WriteConflict: 'KV:Txn:WriteConflict',
  /** Get/Scan/Prewrite: the key is locked (carried as KeyError.locked). */
  KeyIsLocked: 'KV:Txn:KeyIsLocked',
} as const;

export function lockedKeyError(info: LockInfo): KeyError {
  return KeyError.fromPartial({ locked: info });
}

export function retryableKeyError(code: string, message: string): KeyError {
  return KeyError.fromPartial({ retryable: `${code}: ${message}` });
}

export function abortKeyError(code: string, message: string): KeyError {
  return KeyError.fromPartial({ abort: `${code}: ${message}` });
}

export function conflictKeyError(startTs: bigint, conflictTs: bigint, key: Buffer, primary: Buffer): KeyError {
  return KeyError.fromPartial({ conflict: { startTs, conflictTs, key, primary } });
}
