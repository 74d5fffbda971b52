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
  BatchTooLarge: 'KV:Engine:BatchTooLarge',
  EngineClosed: 'KV:Engine:Closed',
  EngineKeyInvalid: 'KV:Engine:KeyInvalid',
  ReaderClosed: 'KV:Storage:ReaderClosed',
  IteratorInvalid: 'KV:Storage:IteratorInvalid',
  InvalidConfig: 'KV:Config:Invalid',
  AssertionFailed: 'KV:Internal:AssertionFailed',
  // Full disks and failed writes (issue #9).
  NoSpace: 'KV:Storage:NoSpace',
  WriteFailed: 'KV:Storage:WriteFailed',
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
  [ErrorCode.BatchTooLarge]: GrpcStatus.INVALID_ARGUMENT,
  [ErrorCode.EngineKeyInvalid]: GrpcStatus.INVALID_ARGUMENT,
  [ErrorCode.Unimplemented]: GrpcStatus.UNIMPLEMENTED,
  [ErrorCode.ServerClosing]: GrpcStatus.UNAVAILABLE,
  [ErrorCode.EngineClosed]: GrpcStatus.UNAVAILABLE,
  [ErrorCode.NoSpace]: GrpcStatus.RESOURCE_EXHAUSTED,
  [ErrorCode.WriteFailed]: GrpcStatus.INTERNAL,
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
