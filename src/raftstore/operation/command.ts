/**
 * Raft commands as proposed and answered: the checks every command passes before a peer takes it,
 * and builders and response helpers over raft_cmdpb. What a peer then does depends on the command's
 * kind: reads (read.ts), writes (write.ts), log compaction (compact-log.ts).
 */
import type { Error as RegionErrorPb } from '../../proto/errorpb.js';
import type { Peer as PeerMeta, Region } from '../../proto/metapb.js';
import { AdminCmdType, CmdType, RaftCmdRequest, RaftCmdResponse, Response, type Request } from '../../proto/raft_cmdpb.js';
import { assert } from '../../util/assert.js';
import { epochNotMatch, keyNotInRegion, notLeader, staleCommand, storeNotMatch, type RegionError } from '../router/errors.js';
import { epochOf, keyInRegion } from '../region.js';

/** What checking and proposing a command needs to know of the peer that takes it. */
export interface ProposingPeer {
  readonly storeId: number;
  readonly regionId: number;
  readonly region: Region;
  isLeader(): boolean;
  term(): number;
  /** The leader's peer when known: NotLeader tells the client where to go. */
  leaderPeer(): PeerMeta | undefined;
}

/** Throws the RegionError a client gets for a command this peer cannot take now. */
export function checkCommand(request: RaftCmdRequest, peer: ProposingPeer): void {
  const header = request.header;
  const storeId = header?.peer?.storeId ?? 0;
  if (storeId !== 0 && storeId !== peer.storeId) throw storeNotMatch(storeId, peer.storeId);
  if (!peer.isLeader()) throw notLeader(peer.regionId, peer.leaderPeer());
  const headerTerm = header?.term ?? 0;
  if (headerTerm !== 0 && peer.term() > headerTerm + 1) throw staleCommand();
  const epoch = header?.regionEpoch;
  const current = epochOf(peer.region);
  const admin = request.adminRequest;
  // Data commands race with splits (version); membership commands with conf changes (conf_ver).
  const checkVersion = !admin || admin.cmdType === AdminCmdType.Split || admin.cmdType === AdminCmdType.TransferLeader;
  const checkConfVer = admin !== undefined && admin.cmdType !== AdminCmdType.CompactLog;
  if (epoch && ((checkVersion && epoch.version !== current.version) || (checkConfVer && epoch.confVer !== current.confVer))) {
    throw epochNotMatch(`epoch of region ${peer.regionId} changed`, [peer.region]);
  }
  for (const r of request.requests) {
    const key = keyOf(r);
    if (key && !keyInRegion(key, peer.region)) throw keyNotInRegion(key, peer.region);
  }
}

/**
 * The error a data command gets at apply (or a read when served) if the region changed under it
 * since it was checked: a split applied first (version moved) or a key is no longer in the range.
 * Undefined when it may go ahead.
 */
export function refusedAtApply(request: RaftCmdRequest, region: Region, siblingOf?: (region: Region) => Region | undefined): RegionError | undefined {
  const epoch = request.header?.regionEpoch;
  if (epoch && epoch.version !== epochOf(region).version) {
    const sibling = siblingOf?.(region);
    return epochNotMatch(`region ${region.id} split since the command was checked`, sibling ? [region, sibling] : [region]);
  }
  for (const r of request.requests) {
    const key = keyOf(r);
    if (key && !keyInRegion(key, region)) return keyNotInRegion(key, region);
  }
  return undefined;
}

/** The key a data command names, if any. */
export function keyOf(request: Request): Buffer | undefined {
  switch (request.cmdType) {
    case CmdType.Get:
      return request.get?.key;
    case CmdType.Put:
      return request.put?.key;
    case CmdType.Delete:
      return request.delete?.key;
    default:
      return undefined;
  }
}

export function errorResponse(error: RegionErrorPb, currentTerm = 0): RaftCmdResponse {
  return RaftCmdResponse.fromPartial({ header: { error, currentTerm } });
}

export function isReadOnly(request: RaftCmdRequest): boolean {
  return (
    request.adminRequest === undefined &&
    request.requests.length > 0 &&
    request.requests.every((r) => r.cmdType === CmdType.Get || r.cmdType === CmdType.Snap)
  );
}

export function emptyResponseFor(request: Request): Response {
  return Response.fromPartial({ cmdType: request.cmdType });
}

/** The data column family a request names ('' is default); anything else is a bug upstream. */
export function dataFamily(cf: string): 'default' | 'lock' | 'write' {
  const name = cf === '' ? 'default' : cf;
  assert(name === 'default' || name === 'lock' || name === 'write', `unknown column family ${cf}`);
  return name;
}
