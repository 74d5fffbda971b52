// The scheduler's transfer_leader in a RegionHeartbeat response becomes a TransferLeader admin
// command for a region this store leads, once per response, and nothing when it is already done;
// change_peer likewise becomes a ChangePeer admin command unless the change is already in effect;
// split_region goes to the split driver with the scheduler's epoch.
import { describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/log/logger.js';
import { ConfChangeType } from '../../src/proto/eraftpb.js';
import { AdminCmdType, type RaftCmdRequest } from '../../src/proto/raft_cmdpb.js';
import { CheckPolicy, ErrorType, RegionHeartbeatResponse, type DeepPartial, type SplitRegion } from '../../src/proto/schedulerpb.js';
import type { Region, RegionEpoch } from '../../src/proto/metapb.js';
import type { LeaderRegion } from '../../src/raftstore/router/router.js';
import { NOTHING_TO_CANCEL } from '../../src/raftstore/router/router.js';
import { schedulerCommandHandler } from '../../src/server/heartbeat-commands.js';

const REGION: Region = {
  id: 4,
  startKey: Buffer.alloc(0),
  endKey: Buffer.alloc(0),
  regionEpoch: { confVer: 3, version: 2 },
  peers: [
    { id: 41, storeId: 1 },
    { id: 42, storeId: 2 },
  ],
};

function fakeRouter(leaders: Array<Pick<LeaderRegion, 'region' | 'leader'>>) {
  const proposed: RaftCmdRequest[] = [];
  const router = {
    leaderRegions: (): LeaderRegion[] => leaders.map((led) => ({ ...led, pendingPeers: [], downPeers: [] })),
    propose: (request: RaftCmdRequest) => {
      proposed.push(request);
      return NOTHING_TO_CANCEL;
    },
  };
  return { router, proposed };
}

const NO_SPLITS = { requestSplit: () => Promise.reject(new Error('no split expected')) };

const response = (fields: DeepPartial<RegionHeartbeatResponse>) =>
  RegionHeartbeatResponse.fromPartial({ regionId: 4n, regionEpoch: { confVer: 3, version: 2 }, targetPeer: { id: 41, storeId: 1 }, ...fields });

describe('schedulerCommandHandler', () => {
  it('proposes a TransferLeader with the scheduler epoch for a region this store leads', () => {
    const { router, proposed } = fakeRouter([{ region: REGION, leader: { id: 41, storeId: 1 } }]);
    schedulerCommandHandler(
      router,
      NO_SPLITS,
      silentLogger(),
    )(response({ transferLeader: { peer: { id: 42, storeId: 2 } }, regionEpoch: { confVer: 3, version: 1 } }));
    expect(proposed).toHaveLength(1);
    const request = proposed[0];
    expect(request?.header?.regionId).toBe(4);
    expect(request?.header?.peer).toEqual({ id: 41, storeId: 1 });
    expect(request?.header?.regionEpoch).toEqual({ confVer: 3, version: 1 });
    expect(request?.adminRequest?.cmdType).toBe(AdminCmdType.TransferLeader);
    expect(request?.adminRequest?.transferLeader?.peer).toEqual({ id: 42, storeId: 2 });
  });

  it('does nothing when the target already leads, the region is not led here, or there is no command', () => {
    const { router, proposed } = fakeRouter([{ region: REGION, leader: { id: 41, storeId: 1 } }]);
    const handle = schedulerCommandHandler(router, NO_SPLITS, silentLogger());
    handle(response({ transferLeader: { peer: { id: 41, storeId: 1 } } }));
    handle(response({ regionId: 5n, transferLeader: { peer: { id: 42, storeId: 2 } } }));
    handle(response({}));
    handle(response({ header: { error: { type: ErrorType.NOT_BOOTSTRAPPED, message: 'no' } }, transferLeader: { peer: { id: 42, storeId: 2 } } }));
    handle(response({ regionId: 2n ** 60n, transferLeader: { peer: { id: 42, storeId: 2 } } }));
    expect(proposed).toEqual([]);
  });

  it('proposes a ChangePeer for a change not yet in effect, with the scheduler epoch', () => {
    const { router, proposed } = fakeRouter([{ region: REGION, leader: { id: 41, storeId: 1 } }]);
    const handle = schedulerCommandHandler(router, NO_SPLITS, silentLogger());
    handle(response({ changePeer: { changeType: ConfChangeType.AddNode, peer: { id: 43, storeId: 3 } } }));
    handle(response({ changePeer: { changeType: ConfChangeType.RemoveNode, peer: { id: 42, storeId: 2 } } }));
    expect(proposed.map((r) => [r.adminRequest?.cmdType, r.adminRequest?.changePeer?.changeType, r.adminRequest?.changePeer?.peer?.id])).toEqual([
      [AdminCmdType.ChangePeer, ConfChangeType.AddNode, 43],
      [AdminCmdType.ChangePeer, ConfChangeType.RemoveNode, 42],
    ]);
    expect(proposed[0]?.header?.regionEpoch).toEqual({ confVer: 3, version: 2 });
    expect(proposed[0]?.header?.peer).toEqual({ id: 41, storeId: 1 });
  });

  it('proposes no ChangePeer already in effect (the scheduler re-sends until it sees it done)', () => {
    const { router, proposed } = fakeRouter([{ region: REGION, leader: { id: 41, storeId: 1 } }]);
    const handle = schedulerCommandHandler(router, NO_SPLITS, silentLogger());
    handle(response({ changePeer: { changeType: ConfChangeType.AddNode, peer: { id: 42, storeId: 2 } } }));
    handle(response({ changePeer: { changeType: ConfChangeType.RemoveNode, peer: { id: 49, storeId: 9 } } }));
    handle(response({ regionId: 5n, changePeer: { changeType: ConfChangeType.AddNode, peer: { id: 43, storeId: 3 } } }));
    expect(proposed).toEqual([]);
  });

  it('hands split_region to the split driver with the scheduler epoch, for a region led here only', () => {
    const { router, proposed } = fakeRouter([{ region: REGION, leader: { id: 41, storeId: 1 } }]);
    const asked: Array<[number, RegionEpoch, SplitRegion]> = [];
    const splits = { requestSplit: async (regionId: number, epoch: RegionEpoch, split: SplitRegion) => void asked.push([regionId, epoch, split]) };
    const handle = schedulerCommandHandler(router, splits, silentLogger());
    handle(response({ splitRegion: { policy: CheckPolicy.USEKEY, keys: [Buffer.from('k')] }, regionEpoch: { confVer: 3, version: 1 } }));
    handle(response({ regionId: 5n, splitRegion: { policy: CheckPolicy.APPROXIMATE } }));
    expect(asked).toEqual([[4, { confVer: 3, version: 1 }, { policy: CheckPolicy.USEKEY, keys: [Buffer.from('k')] }]]);
    expect(proposed).toEqual([]);
  });
});
