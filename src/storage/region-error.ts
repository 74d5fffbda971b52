/**
 * Region errors: a replicated storage's answer that a request went to the wrong place or raced
 * with a change (not leader, epoch changed, ...). They are part of the Storage contract: the
 * handlers and transaction commands return the carried errorpb.Error in the response's
 * region_error, which clients act on (refresh their region cache, retry elsewhere).
 */
import type { Error as RegionErrorPb } from '../proto/errorpb.js';
import { TinyKvError } from '../util/errors.js';

/** One code per errorpb.Error field, the same strings `createRawClient` already reports. */
export const RegionErrorCode = {
  NotLeader: 'KV:Region:NotLeader',
  RegionNotFound: 'KV:Region:RegionNotFound',
  KeyNotInRegion: 'KV:Region:KeyNotInRegion',
  EpochNotMatch: 'KV:Region:EpochNotMatch',
  StaleCommand: 'KV:Region:StaleCommand',
  StoreNotMatch: 'KV:Region:StoreNotMatch',
  /** An errorpb.Error with only a message set. */
  Unknown: 'KV:Region:Unknown',
} as const;

export type RegionErrorCodeValue = (typeof RegionErrorCode)[keyof typeof RegionErrorCode];

export function regionErrorCodeOf(error: RegionErrorPb): RegionErrorCodeValue {
  if (error.notLeader) return RegionErrorCode.NotLeader;
  if (error.regionNotFound) return RegionErrorCode.RegionNotFound;
  if (error.keyNotInRegion) return RegionErrorCode.KeyNotInRegion;
  if (error.epochNotMatch) return RegionErrorCode.EpochNotMatch;
  if (error.staleCommand) return RegionErrorCode.StaleCommand;
  if (error.storeNotMatch) return RegionErrorCode.StoreNotMatch;
  return RegionErrorCode.Unknown;
}

export class RegionError extends TinyKvError {
  declare readonly code: RegionErrorCodeValue;

  /** Every region error may clear once the client refreshes its view and tries again. */
  constructor(readonly regionError: RegionErrorPb) {
    super(regionErrorCodeOf(regionError), regionError.message, {}, { retryable: true });
  }
}
