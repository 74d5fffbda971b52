/**
 * The scheduler's commands to a store, read from its RegionHeartbeat responses (TinyKV's
 * onRegionHeartbeatResponse): a response naming a region this store leads becomes an admin
 * command proposed through the router. The scheduler re-sends a command until a heartbeat shows
 * it done, so carrying one out twice must change nothing: a transfer to the peer that already
 * leads is not proposed, and Raft ignores a second request for a transfer in progress; a peer
 * change already in effect (the peer added, or gone) is not proposed either, and one that comes
 * into effect meanwhile is answered as done by the leader (operation/conf-change.ts). A split
 * goes to the store's split driver with the scheduler's epoch, which a region that already split
 * no longer matches (src/server/split-driver.ts).
 */
import type { Logger } from 'pino';
import { ConfChangeType } from '../proto/eraftpb.js';
import type { Peer, Region, RegionEpoch } from '../proto/metapb.js';
import { AdminCmdType, RaftCmdRequest } from '../proto/raft_cmdpb.js';
import { ErrorType, type RegionHeartbeatResponse } from '../proto/schedulerpb.js';
import { epochOf } from '../raftstore/region.js';
import type { RaftRouter } from '../raftstore/router/router.js';
import type { SplitDriver } from './split-driver.js';

/** A TransferLeader admin command for `region`, sent to its `leader`, moving leadership to `target`. */
export function transferLeaderCommand(region: Region, leader: Peer, target: Peer, epoch: RegionEpoch = epochOf(region)): RaftCmdRequest {
  return RaftCmdRequest.fromPartial({
    header: { regionId: region.id, peer: leader, regionEpoch: epoch },
    adminRequest: { cmdType: AdminCmdType.TransferLeader, transferLeader: { peer: target } },
  });
}

/** A ChangePeer admin command for `region`, sent to its `leader`. */
export function changePeerCommand(
  region: Region,
  leader: Peer,
  changeType: ConfChangeType,
  peer: Peer,
  epoch: RegionEpoch = epochOf(region),
): RaftCmdRequest {
  return RaftCmdRequest.fromPartial({
    header: { regionId: region.id, peer: leader, regionEpoch: epoch },
    adminRequest: { cmdType: AdminCmdType.ChangePeer, changePeer: { changeType, peer } },
  });
}

/** Whether a peer change is already in effect in `region`: nothing to propose. */
function changeInEffect(region: Region, changeType: ConfChangeType, peer: Peer): boolean {
  const member = region.peers.find((p) => p.id === peer.id);
  return changeType === ConfChangeType.AddNode ? member !== undefined && member.storeId === peer.storeId : member === undefined;
}

/** Returns the handler for a store's RegionHeartbeat responses. */
export function schedulerCommandHandler(
  router: Pick<RaftRouter, 'leaderRegions' | 'propose'>,
  splits: Pick<SplitDriver, 'requestSplit'>,
  logger: Logger,
): (response: RegionHeartbeatResponse) => void {
  const propose = (regionId: number, request: RaftCmdRequest, what: string): void => {
    router.propose(request, ({ response: answer }) => {
      const error = answer.header?.error;
      if (error) logger.debug({ regionId, error: error.message }, `${what} from the scheduler refused`);
    });
  };
  return (response) => {
    const error = response.header?.error;
    if (error !== undefined && error.type !== ErrorType.OK) return;
    // From the network: an id that is no safe integer names no region of ours.
    const regionId = Number(response.regionId);
    if (!Number.isSafeInteger(regionId) || regionId <= 0) return;
    // The main thread's view of leadership may lag; a peer that no longer leads answers NotLeader.
    const led = router.leaderRegions().find(({ region }) => region.id === regionId);
    if (led === undefined) return;
    // The scheduler's epoch, as TinyKV sends it: a command decided on an older layout is refused.
    const epoch = response.regionEpoch ?? epochOf(led.region);
    const change = response.changePeer;
    if (change?.peer !== undefined && (change.changeType === ConfChangeType.AddNode || change.changeType === ConfChangeType.RemoveNode)) {
      if (changeInEffect(led.region, change.changeType, change.peer)) return;
      propose(regionId, changePeerCommand(led.region, led.leader, change.changeType, change.peer, epoch), 'change peer');
      logger.info({ regionId, changeType: ConfChangeType[change.changeType], peer: change.peer }, 'changing peers as the scheduler asks');
      return;
    }
    if (response.splitRegion !== undefined) {
      logger.info({ regionId, keys: response.splitRegion.keys.length }, 'splitting region as the scheduler asks');
      void splits.requestSplit(regionId, epoch, response.splitRegion);
      return;
    }
    const target = response.transferLeader?.peer;
    if (target === undefined || led.leader.id === target.id) return;
    propose(regionId, transferLeaderCommand(led.region, led.leader, target, epoch), 'transfer leader');
    logger.info({ regionId, from: led.leader.id, to: target.id }, 'transferring leader as the scheduler asks');
  };
}
