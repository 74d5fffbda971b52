/**
 * Transaction-layer errors.
 *
 * Two kinds of failure leave a transaction command:
 * 1. A `TxnError` is *thrown* for a request that is malformed or cannot be served at all (empty key,
 *    zero timestamp, too many keys, latch queue full, corrupt MVCC data). The server maps its code to
 *    a gRPC status (`grpcStatus`); nothing was written.
 * 2. A `KeyError` (kvrpcpb) is *returned* in the response for a per-key outcome the client acts on
 *    (locked, write conflict, retryable, abort). The `retryable`/`abort` strings start with a stable
 *    code from `KeyErrorCode`, followed by `: ` and a human-readable message.
 *
 * Codes never change once published; messages may.
 */
import { status as GrpcStatus } from '@grpc/grpc-js';
import { KeyError, type LockInfo } from '../proto/kvrpcpb.js';

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

const grpcStatusByCode: Record<TxnErrorCodeValue, GrpcStatus> = {
  [TxnErrorCode.InvalidArgument]: GrpcStatus.INVALID_ARGUMENT,
  [TxnErrorCode.TooManyKeys]: GrpcStatus.INVALID_ARGUMENT,
  [TxnErrorCode.KeyTooLarge]: GrpcStatus.INVALID_ARGUMENT,
  [TxnErrorCode.ValueTooLarge]: GrpcStatus.INVALID_ARGUMENT,
  [TxnErrorCode.ScanLimitTooLarge]: GrpcStatus.INVALID_ARGUMENT,
  [TxnErrorCode.LatchQueueFull]: GrpcStatus.RESOURCE_EXHAUSTED,
  [TxnErrorCode.Corruption]: GrpcStatus.DATA_LOSS,
};

export class TxnError extends Error {
  readonly code: TxnErrorCodeValue;
  readonly retryable: boolean;
  readonly details: Record<string, unknown>;

  constructor(code: TxnErrorCodeValue, message: string, details: Record<string, unknown> = {}) {
    super(message);
    this.name = 'TxnError';
    this.code = code;
    this.retryable = code === TxnErrorCode.LatchQueueFull;
    this.details = details;
  }

  /** The gRPC status this error maps to on the wire. */
  get grpcStatus(): GrpcStatus {
    return grpcStatusByCode[this.code];
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
