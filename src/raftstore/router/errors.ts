/**
 * Region errors: the raftstore's answer that a request went to the wrong place or raced with a
 * change (not leader, epoch changed, ...), one factory per errorpb.Error field. A replicated
 * Storage (src/storage/raft-kv-storage.ts) passes them on; handlers and transaction commands put
 * the carried errorpb.Error in the response's region_error, which clients act on (refresh their
 * region cache, retry elsewhere). The class lives here, not in src/storage, because the raftstore
 * raises it and must not import the storage layer built on top of it.
 */
import type { Error as RegionErrorPb } from '../../proto/errorpb.js';
import type { Peer, Region } from '../../proto/metapb.js';
import { TinyKvError } from '../../util/errors.js';
import { cloneRegion } from '../region.js';

/** One code per errorpb.Error field (documented in docs/errors.md, Region). */
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

function regionError(message: string, fields: Partial<RegionErrorPb>): RegionError {
  return new RegionError({
    message,
    notLeader: undefined,
    regionNotFound: undefined,
    keyNotInRegion: undefined,
    epochNotMatch: undefined,
    staleCommand: undefined,
    storeNotMatch: undefined,
    ...fields,
  });
}

export function notLeader(regionId: number, leader: Peer | undefined): RegionError {
  return regionError(`peer is not leader for region ${regionId}`, { notLeader: { regionId, leader } });
}

export function regionNotFound(regionId: number): RegionError {
  return regionError(`region ${regionId} not found`, { regionNotFound: { regionId } });
}

export function keyNotInRegion(key: Buffer, region: Region): RegionError {
  return regionError(`key is not in region ${region.id}`, {
    keyNotInRegion: { key, regionId: region.id, startKey: region.startKey, endKey: region.endKey },
  });
}

export function epochNotMatch(message: string, currentRegions: Region[]): RegionError {
  return regionError(message, { epochNotMatch: { currentRegions: currentRegions.map(cloneRegion) } });
}

export function staleCommand(): RegionError {
  return regionError('stale command', { staleCommand: {} });
}

export function storeNotMatch(requestStoreId: number, actualStoreId: number): RegionError {
  return regionError(`store not match: request ${requestStoreId}, actual ${actualStoreId}`, {
    storeNotMatch: { requestStoreId, actualStoreId },
  });
}
