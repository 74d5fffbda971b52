/**
 * Leader transfer (TinyKV 3B): a TransferLeader admin command never enters the log. The leader
 * that takes it (after the checks every command passes, command.ts: leadership, version and
 * conf_ver) asks Raft to hand leadership to the target and answers at once; whether the transfer
 * happens shows later as a new leader. Raft aborts a transfer that does not finish within an
 * election timeout and ignores one to itself or to a peer it does not track, so asking again is
 * harmless: a scheduler re-sends until it sees the leader moved.
 */
import { Error as RegionErrorPb } from '../../proto/errorpb.js';
import { AdminCmdType, RaftCmdResponse, type RaftCmdRequest } from '../../proto/raft_cmdpb.js';
import type { RawNode } from '../../raft/index.js';
import { findPeerById } from '../region.js';
import { errorResponse, type ProposingPeer } from './command.js';

export function isTransferLeader(request: RaftCmdRequest): boolean {
  return request.adminRequest?.cmdType === AdminCmdType.TransferLeader;
}

/**
 * Asks Raft to transfer leadership for a checked TransferLeader command and returns its answer.
 * A target that is not a peer of the region (by id and, when given, store) is refused with a
 * message-only region error: the epoch matched, so the request itself is wrong.
 */
export function transferLeader(request: RaftCmdRequest, peer: ProposingPeer, node: Pick<RawNode, 'transferLeader'>): RaftCmdResponse {
  const target = request.adminRequest?.transferLeader?.peer;
  const member = target === undefined ? undefined : findPeerById(peer.region, target.id);
  if (target === undefined || member === undefined || (target.storeId !== 0 && target.storeId !== member.storeId)) {
    const named = target === undefined ? 'no peer' : `peer ${target.id} on store ${target.storeId}`;
    return errorResponse(RegionErrorPb.fromPartial({ message: `transfer leader: ${named} is not in region ${peer.regionId}` }), peer.term());
  }
  node.transferLeader(member.id);
  return RaftCmdResponse.fromPartial({
    header: { currentTerm: peer.term() },
    adminResponse: { cmdType: AdminCmdType.TransferLeader, transferLeader: {} },
  });
}
