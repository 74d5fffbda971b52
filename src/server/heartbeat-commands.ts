/**
 * The scheduler's commands to a store, read from its RegionHeartbeat responses (TinyKV's
 * onRegionHeartbeatResponse): a response naming a region this store leads becomes an admin
 * command proposed through the router. The scheduler re-sends a command until a heartbeat shows
 * it done, so carrying one out twice must change nothing: a transfer to the peer that already
 * leads is not proposed, and Raft ignores a second request for a transfer in progress.
 */
import type { Logger } from 'pino';
import type { Peer, Region, RegionEpoch } from '../proto/metapb.js';
import { AdminCmdType, RaftCmdRequest } from '../proto/raft_cmdpb.js';
import { ErrorType, type RegionHeartbeatResponse } from '../proto/schedulerpb.js';
import { epochOf } from '../raftstore/region.js';
import type { RaftRouter } from '../raftstore/router/router.js';

/** A TransferLeader admin command for `region`, sent to its `leader`, moving leadership to `target`. */
export function transferLeaderCommand(region: Region, leader: Peer, target: Peer, epoch: RegionEpoch = epochOf(region)): RaftCmdRequest {
  return RaftCmdRequest.fromPartial({
    header: { regionId: region.id, peer: leader, regionEpoch: epoch },
    adminRequest: { cmdType: AdminCmdType.TransferLeader, transferLeader: { peer: target } },
  });
}

/** Returns the handler for a store's RegionHeartbeat responses. */
export function schedulerCommandHandler(
  router: Pick<RaftRouter, 'leaderRegions' | 'propose'>,
  logger: Logger,
): (response: RegionHeartbeatResponse) => void {
  return (response) => {
    const target = response.transferLeader?.peer;
    const error = response.header?.error;
    if ((error !== undefined && error.type !== ErrorType.OK) || target === undefined) return;
    // From the network: an id that is no safe integer names no region of ours.
    const regionId = Number(response.regionId);
    if (!Number.isSafeInteger(regionId) || regionId <= 0) return;
    // The main thread's view of leadership may lag; a peer that no longer leads answers NotLeader.
    const led = router.leaderRegions().find(({ region }) => region.id === regionId);
    if (led === undefined || led.leader.id === target.id) return;
    // The scheduler's epoch, as TinyKV sends it: a command decided on an older layout is refused.
    const request = transferLeaderCommand(led.region, led.leader, target, response.regionEpoch ?? epochOf(led.region));
    router.propose(request, ({ response: answer }) => {
      const error = answer.header?.error;
      if (error) logger.debug({ regionId, target, error: error.message }, 'transfer leader from the scheduler refused');
    });
    logger.info({ regionId, from: led.leader.id, to: target.id }, 'transferring leader as the scheduler asks');
  };
}
