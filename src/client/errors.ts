/**
 * Typed client errors. Every error the client raises on purpose is a ClientError (a TinyKvError)
 * with a stable `code` (never changes once published; the message may) and `retryable`: whether
 * running the whole transaction again (or repeating a raw call) may succeed.
 * `client.transaction()` retries exactly the retryable ones. This is the client edge: a failed
 * gRPC call's status and `tinykv-error-code` trailer turn back into an error here.
 */
import { status as GrpcStatus, type ServiceError } from '@grpc/grpc-js';
import { TinyKvError } from '../util/errors.js';

export const ClientErrorCode = {
  /** Prewrite met a newer commit, or a live lock of another transaction (retryable). */
  WriteConflict: 'KV:Client:WriteConflict',
  /** The server told the transaction to abort for a reason other than a rollback. */
  TxnAborted: 'KV:Client:TxnAborted',
  /** The transaction was rolled back (e.g. by a reader that found its locks expired); nothing of it is visible (retryable). */
  TxnRolledBack: 'KV:Client:TxnRolledBack',
  /** The primary's commit failed in a way that leaves its outcome unknown (it may or may not have committed). */
  CommitUndetermined: 'KV:Client:CommitUndetermined',
  /** A read kept meeting a lock of a live transaction until its wait budget ran out (retryable). */
  LockResolveTimeout: 'KV:Client:LockResolveTimeout',
  /** Region errors did not clear within the retry budget, or no region/store is known for a key (retryable). */
  RegionUnavailable: 'KV:Client:RegionUnavailable',
  /** gRPC transport failure: unreachable, deadline exceeded, stream broken (retryable). */
  Transport: 'KV:Client:Transport',
  /** The server is overloaded (latch queue full, resource exhausted) (retryable). */
  ServerBusy: 'KV:Client:ServerBusy',
  /** The server rejected the request; `serverCode` carries its own stable code. */
  ServerError: 'KV:Client:ServerError',
  /** The transaction is already committed, rolled back or failed. */
  TxnClosed: 'KV:Client:TxnClosed',
  /** The client is closed. */
  ClientClosed: 'KV:Client:Closed',
  /** The transaction's write buffer exceeds its key or byte bound. */
  TxnTooLarge: 'KV:Client:TxnTooLarge',
  /** A bad argument (empty key, bad option), detected by the client or the server. */
  InvalidArgument: 'KV:Client:InvalidArgument',
} as const;

export type ClientErrorCodeValue = (typeof ClientErrorCode)[keyof typeof ClientErrorCode];

const RETRYABLE: ReadonlySet<ClientErrorCodeValue> = new Set([
  ClientErrorCode.WriteConflict,
  ClientErrorCode.TxnRolledBack,
  ClientErrorCode.LockResolveTimeout,
  ClientErrorCode.RegionUnavailable,
  ClientErrorCode.Transport,
  ClientErrorCode.ServerBusy,
]);

export class ClientError extends TinyKvError {
  declare readonly code: ClientErrorCodeValue;
  /** The server's stable code (e.g. `KV:Txn:KeyTooLarge`) when the server produced the error. */
  readonly serverCode: string | undefined;
  /** The gRPC status, for errors that came from a call. */
  readonly grpcStatus: GrpcStatus | undefined;

  constructor(
    code: ClientErrorCodeValue,
    message: string,
    options: { details?: Record<string, unknown>; serverCode?: string; grpcStatus?: GrpcStatus; cause?: unknown } = {},
  ) {
    super(code, message, options.details, { retryable: RETRYABLE.has(code), cause: options.cause });
    this.serverCode = options.serverCode;
    this.grpcStatus = options.grpcStatus;
  }
}

/** Whether `err` is a ClientError (of `code`, when given). */
export function isClientError(err: unknown, code?: ClientErrorCodeValue): err is ClientError {
  return err instanceof ClientError && (code === undefined || err.code === code);
}

/** Whether repeating the transaction (or raw call) that failed with `err` may succeed. */
export function isRetryable(err: unknown): boolean {
  return err instanceof ClientError && err.retryable;
}

/** Server codes that mean "busy, try again later". */
const BUSY_SERVER_CODES = new Set(['KV:Txn:LatchQueueFull']);
const TRANSPORT_STATUSES = new Set([GrpcStatus.UNAVAILABLE, GrpcStatus.DEADLINE_EXCEEDED, GrpcStatus.CANCELLED]);

/** Maps a failed gRPC call to a ClientError; the server's `tinykv-error-code` trailer is kept as serverCode. */
export function fromServiceError(err: ServiceError, what: string): ClientError {
  const trailer = err.metadata?.get('tinykv-error-code')[0];
  const serverCode = typeof trailer === 'string' ? trailer : undefined;
  const message = `${what}: ${err.details || err.message}`;
  const options = { serverCode, grpcStatus: err.code, cause: err };
  if (serverCode !== undefined && BUSY_SERVER_CODES.has(serverCode)) return new ClientError(ClientErrorCode.ServerBusy, message, options);
  if (err.code === GrpcStatus.RESOURCE_EXHAUSTED) return new ClientError(ClientErrorCode.ServerBusy, message, options);
  if (TRANSPORT_STATUSES.has(err.code)) return new ClientError(ClientErrorCode.Transport, message, options);
  if (err.code === GrpcStatus.INVALID_ARGUMENT) return new ClientError(ClientErrorCode.InvalidArgument, message, options);
  return new ClientError(ClientErrorCode.ServerError, message, options);
}

export function invalidArgument(message: string, details: Record<string, unknown> = {}): ClientError {
  return new ClientError(ClientErrorCode.InvalidArgument, message, { details });
}
