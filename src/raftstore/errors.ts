/**
 * Region errors the raftstore raises: one factory per errorpb.Error field, which clients act on
 * (retry elsewhere, refresh). The class itself belongs to the Storage contract (storage/region-error.ts).
 */
import type { Error as RegionErrorPb } from '../proto/errorpb.js';
import type { Peer, Region } from '../proto/metapb.js';
import { RegionError } from '../storage/region-error.js';
import { cloneRegion } from './region.js';

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
