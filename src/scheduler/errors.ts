/**
 * Typed scheduler errors with stable codes.
 *
 * Each code maps to one place on the wire: either an in-band `ResponseHeader.error` of a given
 * `schedulerpb.ErrorType` (what TinyKV/PD answer for NOT_BOOTSTRAPPED, ALREADY_BOOTSTRAPPED,
 * STORE_TOMBSTONE, REGION_NOT_FOUND), or a gRPC status (with the code in the `tinykv-error-code`
 * trailer, see `toServiceError`).
 *
 * | code                                   | wire                          | raised by                           |
 * |----------------------------------------|-------------------------------|-------------------------------------|
 * | KV:Scheduler:ClusterIdMismatch         | FAILED_PRECONDITION           | any RPC but GetMembers              |
 * | KV:Scheduler:NotBootstrapped           | header NOT_BOOTSTRAPPED       | RPCs that need a bootstrapped cluster|
 * | KV:Scheduler:AlreadyBootstrapped       | header ALREADY_BOOTSTRAPPED   | Bootstrap                           |
 * | KV:Scheduler:StoreTombstone            | header STORE_TOMBSTONE        | PutStore, StoreHeartbeat            |
 * | KV:Scheduler:RegionNotFound            | header REGION_NOT_FOUND       | GetOperator                         |
 * | KV:Scheduler:StoreNotFound             | NOT_FOUND                     | GetStore, StoreHeartbeat, heartbeats|
 * | KV:Scheduler:DuplicateStoreAddress     | ALREADY_EXISTS                | PutStore, Bootstrap                 |
 * | KV:Scheduler:StaleRegion               | ABORTED (header UNKNOWN on the heartbeat stream) | RegionHeartbeat, AskSplit |
 * | KV:Scheduler:UnknownRegion             | NOT_FOUND                     | AskSplit                            |
 * | KV:Scheduler:InvalidArgument           | INVALID_ARGUMENT              | malformed requests                  |
 * | KV:Scheduler:RegionConflict            | ABORTED (header UNKNOWN on the heartbeat stream) | RegionHeartbeat |
 * | KV:Scheduler:StreamStoreMismatch       | PERMISSION_DENIED (header UNKNOWN on the heartbeat stream) | RegionHeartbeat |
 */
import { status as GrpcStatus } from '@grpc/grpc-js';
import { ErrorType } from '../proto/schedulerpb.js';

export const SchedulerErrorCode = {
  ClusterIdMismatch: 'KV:Scheduler:ClusterIdMismatch',
  NotBootstrapped: 'KV:Scheduler:NotBootstrapped',
  AlreadyBootstrapped: 'KV:Scheduler:AlreadyBootstrapped',
  StoreTombstone: 'KV:Scheduler:StoreTombstone',
  RegionNotFound: 'KV:Scheduler:RegionNotFound',
  StoreNotFound: 'KV:Scheduler:StoreNotFound',
  DuplicateStoreAddress: 'KV:Scheduler:DuplicateStoreAddress',
  StaleRegion: 'KV:Scheduler:StaleRegion',
  UnknownRegion: 'KV:Scheduler:UnknownRegion',
  InvalidArgument: 'KV:Scheduler:InvalidArgument',
  /** A heartbeat's range overlaps a region it may not replace (another leader's store reports it). */
  RegionConflict: 'KV:Scheduler:RegionConflict',
  /** A heartbeat on a stream that belongs to another store, or for a store that reports on another stream. */
  StreamStoreMismatch: 'KV:Scheduler:StreamStoreMismatch',
} as const;

export type SchedulerErrorCodeValue = (typeof SchedulerErrorCode)[keyof typeof SchedulerErrorCode];

interface WireMapping {
  readonly grpcStatus: GrpcStatus;
  /** Answered in-band in the response header instead of as a gRPC status. */
  readonly headerType?: ErrorType;
}

const WIRE: Record<SchedulerErrorCodeValue, WireMapping> = {
  [SchedulerErrorCode.ClusterIdMismatch]: { grpcStatus: GrpcStatus.FAILED_PRECONDITION },
  [SchedulerErrorCode.NotBootstrapped]: { grpcStatus: GrpcStatus.FAILED_PRECONDITION, headerType: ErrorType.NOT_BOOTSTRAPPED },
  [SchedulerErrorCode.AlreadyBootstrapped]: {
    grpcStatus: GrpcStatus.FAILED_PRECONDITION,
    headerType: ErrorType.ALREADY_BOOTSTRAPPED,
  },
  [SchedulerErrorCode.StoreTombstone]: { grpcStatus: GrpcStatus.FAILED_PRECONDITION, headerType: ErrorType.STORE_TOMBSTONE },
  [SchedulerErrorCode.RegionNotFound]: { grpcStatus: GrpcStatus.NOT_FOUND, headerType: ErrorType.REGION_NOT_FOUND },
  [SchedulerErrorCode.StoreNotFound]: { grpcStatus: GrpcStatus.NOT_FOUND },
  [SchedulerErrorCode.DuplicateStoreAddress]: { grpcStatus: GrpcStatus.ALREADY_EXISTS },
  [SchedulerErrorCode.StaleRegion]: { grpcStatus: GrpcStatus.ABORTED },
  [SchedulerErrorCode.UnknownRegion]: { grpcStatus: GrpcStatus.NOT_FOUND },
  [SchedulerErrorCode.InvalidArgument]: { grpcStatus: GrpcStatus.INVALID_ARGUMENT },
  [SchedulerErrorCode.RegionConflict]: { grpcStatus: GrpcStatus.ABORTED },
  [SchedulerErrorCode.StreamStoreMismatch]: { grpcStatus: GrpcStatus.PERMISSION_DENIED },
};

export class SchedulerError extends Error {
  readonly code: SchedulerErrorCodeValue;
  readonly details: Record<string, unknown>;
  readonly retryable: boolean;

  constructor(code: SchedulerErrorCodeValue, message: string, details: Record<string, unknown> = {}, retryable = false) {
    super(message);
    this.name = 'SchedulerError';
    this.code = code;
    this.details = details;
    this.retryable = retryable;
  }

  get grpcStatus(): GrpcStatus {
    return WIRE[this.code].grpcStatus;
  }

  /** The header error type when this error is answered in-band, else undefined. */
  get headerType(): ErrorType | undefined {
    return WIRE[this.code].headerType;
  }
}

export function isSchedulerError(err: unknown): err is SchedulerError {
  return err instanceof SchedulerError;
}

export function invalidArgument(message: string, details: Record<string, unknown> = {}): SchedulerError {
  return new SchedulerError(SchedulerErrorCode.InvalidArgument, message, details);
}
