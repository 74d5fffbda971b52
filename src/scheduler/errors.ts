/**
 * Typed scheduler errors with stable codes (docs/errors.md lists them). How each travels on the
 * wire, an in-band `ResponseHeader.error` of a `schedulerpb.ErrorType` (what TinyKV/PD answer for
 * NOT_BOOTSTRAPPED, ALREADY_BOOTSTRAPPED, STORE_TOMBSTONE, REGION_NOT_FOUND) or a gRPC status with
 * the code in the `tinykv-error-code` trailer, is decided at the edge: src/rpc/error-status.ts.
 */
import { TinyKvError } from '../util/errors.js';

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
  /** The region already has an operator running (one per region). */
  OperatorExists: 'KV:Scheduler:OperatorExists',
  /** An operator of this kind would pass its schedule limit, or the operator cannot be built for the region. */
  OperatorRejected: 'KV:Scheduler:OperatorRejected',
  SchedulerNotFound: 'KV:Scheduler:SchedulerNotFound',
  SchedulerExists: 'KV:Scheduler:SchedulerExists',
  /** A store cannot become a tombstone yet: it is not Offline, or a region still has a peer on it. */
  StoreNotDrained: 'KV:Scheduler:StoreNotDrained',
} as const;

export type SchedulerErrorCodeValue = (typeof SchedulerErrorCode)[keyof typeof SchedulerErrorCode];

export class SchedulerError extends TinyKvError {
  declare readonly code: SchedulerErrorCodeValue;

  constructor(code: SchedulerErrorCodeValue, message: string, details: Record<string, unknown> = {}, retryable = false) {
    super(code, message, details, { retryable });
  }
}

export function isSchedulerError(err: unknown): err is SchedulerError {
  return err instanceof SchedulerError;
}

export function invalidArgument(message: string, details: Record<string, unknown> = {}): SchedulerError {
  return new SchedulerError(SchedulerErrorCode.InvalidArgument, message, details);
}
