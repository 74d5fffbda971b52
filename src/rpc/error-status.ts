/**
 * The server edge of the error codes: how a TinyKvError leaves over gRPC. Each code the server can
 * raise maps to one gRPC status (the code itself rides in the `tinykv-error-code` trailer and at the
 * start of the status details), and the scheduler's refusals that TinyKV's protocol answers in the
 * response header map to a `schedulerpb.ErrorType`. No error class knows its status: the mapping is
 * here only. docs/errors.md is the table of record and test/util/errors.test.ts holds the two together.
 *
 * Codes only the client library, the CLI or `tinykv/raft` raise have no entry: if one ever reached
 * the server edge it would be a bug, and it is sent as INTERNAL.
 */
import { Metadata, status as GrpcStatus } from '@grpc/grpc-js';
import { ErrorType } from '../proto/schedulerpb.js';
import { TinyKvError, type ErrorCodeValue } from '../util/errors.js';
// Type-only: the code unions keep the tables below complete at compile time without making the
// rpc layer depend on the layers that raise the errors at run time. The scheduler imports this
// module, so its table is keyed by string and test/util/errors.test.ts checks it is complete.
import type { TxnErrorCodeValue } from '../txn/errors.js';
import type { RegionErrorCodeValue } from '../raftstore/router/errors.js';

/** Sent in the trailer for an error without a code (a bug). */
const UNEXPECTED_ERROR_CODE = 'KV:Internal:Unexpected';

const ERROR_CODE_TRAILER = 'tinykv-error-code';

const SERVER_STATUS: Record<ErrorCodeValue, GrpcStatus> = {
  'KV:Server:InvalidArgument': GrpcStatus.INVALID_ARGUMENT,
  'KV:Server:UnknownColumnFamily': GrpcStatus.INVALID_ARGUMENT,
  'KV:Server:EmptyKey': GrpcStatus.INVALID_ARGUMENT,
  'KV:Server:KeyTooLarge': GrpcStatus.INVALID_ARGUMENT,
  'KV:Server:ValueTooLarge': GrpcStatus.INVALID_ARGUMENT,
  'KV:Server:EmptyValue': GrpcStatus.INVALID_ARGUMENT,
  'KV:Server:ScanLimitTooLarge': GrpcStatus.INVALID_ARGUMENT,
  'KV:Server:MalformedMessage': GrpcStatus.INVALID_ARGUMENT,
  'KV:Server:RawWriteToTxnFamily': GrpcStatus.FAILED_PRECONDITION,
  'KV:Server:Unimplemented': GrpcStatus.UNIMPLEMENTED,
  'KV:Server:Closing': GrpcStatus.UNAVAILABLE,
  'KV:Server:MemoryQuotaExceeded': GrpcStatus.RESOURCE_EXHAUSTED,
  'KV:Server:SnapshotRecvBusy': GrpcStatus.RESOURCE_EXHAUSTED,
  'KV:Server:SnapshotTooLarge': GrpcStatus.RESOURCE_EXHAUSTED,
  'KV:Server:SnapshotRecvTimeout': GrpcStatus.DEADLINE_EXCEEDED,
  'KV:Server:ListenFailed': GrpcStatus.UNAVAILABLE,
  'KV:Engine:BatchTooLarge': GrpcStatus.INVALID_ARGUMENT,
  'KV:Engine:Closed': GrpcStatus.UNAVAILABLE,
  'KV:Engine:KeyInvalid': GrpcStatus.INVALID_ARGUMENT,
  'KV:Engine:Corrupted': GrpcStatus.DATA_LOSS,
  'KV:Storage:ReaderClosed': GrpcStatus.INTERNAL,
  'KV:Storage:IteratorInvalid': GrpcStatus.INTERNAL,
  'KV:Storage:NoSpace': GrpcStatus.RESOURCE_EXHAUSTED,
  'KV:Storage:WriteFailed': GrpcStatus.INTERNAL,
  'KV:Raftstore:LogCorrupted': GrpcStatus.DATA_LOSS,
  'KV:Raftstore:ThreadStartFailed': GrpcStatus.INTERNAL,
  'KV:Raftstore:SplitCheckBusy': GrpcStatus.RESOURCE_EXHAUSTED,
  'KV:Raftstore:SplitCheckTimeout': GrpcStatus.DEADLINE_EXCEEDED,
  'KV:Config:Invalid': GrpcStatus.INTERNAL,
  'KV:Internal:AssertionFailed': GrpcStatus.INTERNAL,
};

const TXN_STATUS: Record<TxnErrorCodeValue, GrpcStatus> = {
  'KV:Txn:InvalidArgument': GrpcStatus.INVALID_ARGUMENT,
  'KV:Txn:TooManyKeys': GrpcStatus.INVALID_ARGUMENT,
  'KV:Txn:KeyTooLarge': GrpcStatus.INVALID_ARGUMENT,
  'KV:Txn:ValueTooLarge': GrpcStatus.INVALID_ARGUMENT,
  'KV:Txn:ScanLimitTooLarge': GrpcStatus.INVALID_ARGUMENT,
  'KV:Txn:LatchQueueFull': GrpcStatus.RESOURCE_EXHAUSTED,
  'KV:Txn:Corruption': GrpcStatus.DATA_LOSS,
};

const SCHEDULER_STATUS: Readonly<Record<string, GrpcStatus>> = {
  'KV:Scheduler:ClusterIdMismatch': GrpcStatus.FAILED_PRECONDITION,
  'KV:Scheduler:NotBootstrapped': GrpcStatus.FAILED_PRECONDITION,
  'KV:Scheduler:AlreadyBootstrapped': GrpcStatus.FAILED_PRECONDITION,
  'KV:Scheduler:StoreTombstone': GrpcStatus.FAILED_PRECONDITION,
  'KV:Scheduler:RegionNotFound': GrpcStatus.NOT_FOUND,
  'KV:Scheduler:StoreNotFound': GrpcStatus.NOT_FOUND,
  'KV:Scheduler:DuplicateStoreAddress': GrpcStatus.ALREADY_EXISTS,
  'KV:Scheduler:StaleRegion': GrpcStatus.ABORTED,
  'KV:Scheduler:UnknownRegion': GrpcStatus.NOT_FOUND,
  'KV:Scheduler:InvalidArgument': GrpcStatus.INVALID_ARGUMENT,
  'KV:Scheduler:RegionConflict': GrpcStatus.ABORTED,
  'KV:Scheduler:StreamStoreMismatch': GrpcStatus.PERMISSION_DENIED,
  'KV:Scheduler:OperatorExists': GrpcStatus.ALREADY_EXISTS,
  'KV:Scheduler:OperatorRejected': GrpcStatus.FAILED_PRECONDITION,
  'KV:Scheduler:SchedulerNotFound': GrpcStatus.NOT_FOUND,
  'KV:Scheduler:SchedulerExists': GrpcStatus.ALREADY_EXISTS,
  'KV:Scheduler:StoreNotDrained': GrpcStatus.FAILED_PRECONDITION,
};

/** Region errors travel in the response's region_error; one that escapes a handler is a bug. */
const REGION_STATUS: Record<RegionErrorCodeValue, GrpcStatus> = {
  'KV:Region:NotLeader': GrpcStatus.INTERNAL,
  'KV:Region:RegionNotFound': GrpcStatus.INTERNAL,
  'KV:Region:KeyNotInRegion': GrpcStatus.INTERNAL,
  'KV:Region:EpochNotMatch': GrpcStatus.INTERNAL,
  'KV:Region:StaleCommand': GrpcStatus.INTERNAL,
  'KV:Region:StoreNotMatch': GrpcStatus.INTERNAL,
  'KV:Region:Unknown': GrpcStatus.INTERNAL,
};

const STATUS_BY_CODE: ReadonlyMap<string, GrpcStatus> = new Map(
  [SERVER_STATUS, TXN_STATUS, SCHEDULER_STATUS, REGION_STATUS].flatMap((table) => Object.entries(table)),
);

/** The scheduler refusals TinyKV answers in the response header rather than as a status. */
const SCHEDULER_HEADER_TYPE: Readonly<Record<string, ErrorType>> = {
  'KV:Scheduler:NotBootstrapped': ErrorType.NOT_BOOTSTRAPPED,
  'KV:Scheduler:AlreadyBootstrapped': ErrorType.ALREADY_BOOTSTRAPPED,
  'KV:Scheduler:StoreTombstone': ErrorType.STORE_TOMBSTONE,
  'KV:Scheduler:RegionNotFound': ErrorType.REGION_NOT_FOUND,
};

const HEADER_TYPE_BY_CODE: ReadonlyMap<string, ErrorType> = new Map(Object.entries(SCHEDULER_HEADER_TYPE));
const CODE_BY_HEADER_TYPE: ReadonlyMap<ErrorType, string> = new Map(Object.entries(SCHEDULER_HEADER_TYPE).map(([code, type]) => [type, code]));

/** The status a code is sent as, or undefined for a code the server never raises. */
export function grpcStatusForCode(code: string): GrpcStatus | undefined {
  return STATUS_BY_CODE.get(code);
}

/** The status an error is sent as; INTERNAL for anything without a server code. */
export function grpcStatusOf(err: unknown): GrpcStatus {
  return (err instanceof TinyKvError ? grpcStatusForCode(err.code) : undefined) ?? GrpcStatus.INTERNAL;
}

/** The header error of a scheduler refusal TinyKV answers in-band, or undefined for any other error. */
export function schedulerHeaderErrorOf(err: unknown): { type: ErrorType; message: string } | undefined {
  if (!(err instanceof TinyKvError)) return undefined;
  const type = HEADER_TYPE_BY_CODE.get(err.code);
  return type === undefined ? undefined : { type, message: err.message };
}

/** The client edge: the stable code of a header error type, or undefined for UNKNOWN and the like. */
export function codeOfSchedulerHeaderType(type: ErrorType): string | undefined {
  return CODE_BY_HEADER_TYPE.get(type);
}

/**
 * Longest status message sent. Messages quote client input through quoteForError already; this
 * cap is the backstop, so no message can outgrow the peer's metadata limit (8 KiB by default).
 */
export const STATUS_DETAILS_MAX_CHARS = 1024;

function capDetails(details: string): string {
  return details.length <= STATUS_DETAILS_MAX_CHARS ? details : `${details.slice(0, STATUS_DETAILS_MAX_CHARS)}... (truncated)`;
}

/** A gRPC status for `err`: its mapped status, `[code] message` as details, the code in the trailer. */
export function toServiceError(err: unknown): { code: GrpcStatus; details: string; metadata: Metadata } {
  const metadata = new Metadata();
  const code = err instanceof TinyKvError ? err.code : UNEXPECTED_ERROR_CODE;
  const message = err instanceof Error ? err.message : String(err);
  metadata.set(ERROR_CODE_TRAILER, code);
  return { code: grpcStatusOf(err), details: capDetails(`[${code}] ${message}`), metadata };
}
