/**
 * Typed errors with stable codes. Every error the product raises on purpose is a TinyKvError;
 * the code never changes once published (see docs/errors.md), the message may.
 */
import { status as GrpcStatus } from '@grpc/grpc-js';

export const ErrorCode = {
  InvalidArgument: 'KV:Server:InvalidArgument',
  UnknownColumnFamily: 'KV:Server:UnknownColumnFamily',
  EmptyKey: 'KV:Server:EmptyKey',
  KeyTooLarge: 'KV:Server:KeyTooLarge',
  ValueTooLarge: 'KV:Server:ValueTooLarge',
  EmptyValue: 'KV:Server:EmptyValue',
  ScanLimitTooLarge: 'KV:Server:ScanLimitTooLarge',
  Unimplemented: 'KV:Server:Unimplemented',
  ServerClosing: 'KV:Server:Closing',
  /** The server-wide budget for unsent response bytes is used up (server.grpc-memory-quota). */
  MemoryQuotaExceeded: 'KV:Server:MemoryQuotaExceeded',
  /** A raw write to the lock or write column family, which the transaction layer owns. */
  RawWriteToTxnFamily: 'KV:Server:RawWriteToTxnFamily',
  /** A request that is not valid protobuf wire format (field 0, stray end-group, truncated...). */
  MalformedMessage: 'KV:Server:MalformedMessage',
  BatchTooLarge: 'KV:Engine:BatchTooLarge',
  EngineClosed: 'KV:Engine:Closed',
  EngineKeyInvalid: 'KV:Engine:KeyInvalid',
  // A data file that is damaged, truncated or missing while the store's identity says it held data.
  EngineCorrupted: 'KV:Engine:Corrupted',
  // A raft log entry that fails its checksum or does not decode to the index it is stored under.
  RaftLogCorrupted: 'KV:Raftstore:LogCorrupted',
  ReaderClosed: 'KV:Storage:ReaderClosed',
  IteratorInvalid: 'KV:Storage:IteratorInvalid',
  InvalidConfig: 'KV:Config:Invalid',
  /** The server could not listen on its address (in use, not allowed); the node does not start. */
  ListenFailed: 'KV:Server:ListenFailed',
  AssertionFailed: 'KV:Internal:AssertionFailed',
  // Receiving snapshots (src/transport/snapshot-receiver.ts).
  SnapshotRecvBusy: 'KV:Server:SnapshotRecvBusy',
  SnapshotTooLarge: 'KV:Server:SnapshotTooLarge',
  SnapshotRecvTimeout: 'KV:Server:SnapshotRecvTimeout',
  // Full disks and failed writes (issue #9).
  NoSpace: 'KV:Storage:NoSpace',
  WriteFailed: 'KV:Storage:WriteFailed',
  /** A raft poller or apply thread failed or exited during its initialisation; the store does not start. */
  StoreThreadStartFailed: 'KV:Raftstore:ThreadStartFailed',
} as const;

export type ErrorCodeValue = (typeof ErrorCode)[keyof typeof ErrorCode];

const grpcStatusByCode: Partial<Record<ErrorCodeValue, GrpcStatus>> = {
  [ErrorCode.InvalidArgument]: GrpcStatus.INVALID_ARGUMENT,
  [ErrorCode.UnknownColumnFamily]: GrpcStatus.INVALID_ARGUMENT,
  [ErrorCode.EmptyKey]: GrpcStatus.INVALID_ARGUMENT,
  [ErrorCode.KeyTooLarge]: GrpcStatus.INVALID_ARGUMENT,
  [ErrorCode.ValueTooLarge]: GrpcStatus.INVALID_ARGUMENT,
  [ErrorCode.EmptyValue]: GrpcStatus.INVALID_ARGUMENT,
  [ErrorCode.ScanLimitTooLarge]: GrpcStatus.INVALID_ARGUMENT,
  [ErrorCode.RawWriteToTxnFamily]: GrpcStatus.FAILED_PRECONDITION,
  [ErrorCode.MalformedMessage]: GrpcStatus.INVALID_ARGUMENT,
  [ErrorCode.BatchTooLarge]: GrpcStatus.INVALID_ARGUMENT,
  [ErrorCode.EngineKeyInvalid]: GrpcStatus.INVALID_ARGUMENT,
  [ErrorCode.EngineCorrupted]: GrpcStatus.DATA_LOSS,
  [ErrorCode.RaftLogCorrupted]: GrpcStatus.DATA_LOSS,
  [ErrorCode.Unimplemented]: GrpcStatus.UNIMPLEMENTED,
  [ErrorCode.ServerClosing]: GrpcStatus.UNAVAILABLE,
  [ErrorCode.MemoryQuotaExceeded]: GrpcStatus.RESOURCE_EXHAUSTED,
  [ErrorCode.EngineClosed]: GrpcStatus.UNAVAILABLE,
  [ErrorCode.SnapshotRecvBusy]: GrpcStatus.RESOURCE_EXHAUSTED,
  [ErrorCode.SnapshotTooLarge]: GrpcStatus.RESOURCE_EXHAUSTED,
  [ErrorCode.SnapshotRecvTimeout]: GrpcStatus.DEADLINE_EXCEEDED,
  [ErrorCode.ListenFailed]: GrpcStatus.UNAVAILABLE,
  [ErrorCode.NoSpace]: GrpcStatus.RESOURCE_EXHAUSTED,
  [ErrorCode.WriteFailed]: GrpcStatus.INTERNAL,
  [ErrorCode.StoreThreadStartFailed]: GrpcStatus.INTERNAL,
};

export class TinyKvError extends Error {
  readonly code: ErrorCodeValue;
  readonly retryable: boolean;
  readonly details: Record<string, unknown>;

  constructor(code: ErrorCodeValue, message: string, details: Record<string, unknown> = {}, retryable = false) {
    super(message);
    this.name = 'TinyKvError';
    this.code = code;
    this.retryable = retryable;
    this.details = details;
  }

  /** The gRPC status this error maps to on the wire. */
  get grpcStatus(): GrpcStatus {
    return grpcStatusByCode[this.code] ?? GrpcStatus.INTERNAL;
  }
}

export function isTinyKvError(err: unknown): err is TinyKvError {
  return err instanceof TinyKvError;
}

/** Longest client-supplied text an error message echoes (gRPC metadata is bounded; logs stay readable). */
export const ERROR_ECHO_MAX_CHARS = 64;

/**
 * Client input as it may appear in an error message: JSON-quoted (control characters escaped) and
 * cut to `maxChars` characters with the full length noted, so a huge or hostile value can never
 * blow up a status message or a log line. Buffers are shown as hex. Every error that echoes
 * request input (cf names, keys, addresses) goes through here.
 */
export function quoteForError(value: string | Uint8Array, maxChars = ERROR_ECHO_MAX_CHARS): string {
  if (typeof value !== 'string') {
    // Only the bytes that are shown are converted: a 1 MiB key must not cost a 2 MiB string.
    const shownBytes = Math.min(value.byteLength, Math.ceil(maxChars / 2));
    const hex = Buffer.from(value.buffer, value.byteOffset, shownBytes).toString('hex');
    if (value.byteLength * 2 <= maxChars) return `0x${hex}`;
    return `0x${hex.slice(0, maxChars)}... (${value.byteLength} bytes)`;
  }
  if (value.length <= maxChars) return JSON.stringify(value);
  return `${JSON.stringify(value.slice(0, maxChars))}... (${value.length} chars)`;
}
