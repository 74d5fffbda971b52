// Region shapes for the operator and operator-controller tests: region 7 as a heartbeat reports it.
import type { Peer } from '../../src/proto/metapb.js';
import type { RegionInfo } from '../../src/scheduler/cluster-state.js';

export const p = (id: number, storeId: number): Peer => ({ id, storeId });

export interface RegionShape {
  readonly peers: readonly Peer[];
  readonly leaderStore?: number;
  readonly confVer?: number;
  readonly version?: number;
  readonly pending?: readonly number[];
}

/** Region 7 as a heartbeat would report it. */
export function regionInfo(shape: RegionShape): RegionInfo {
  const leader = shape.peers.find((p) => p.storeId === shape.leaderStore);
  return {
    region: {
      id: 7,
      startKey: Buffer.alloc(0),
      endKey: Buffer.alloc(0),
      regionEpoch: { confVer: shape.confVer ?? 5, version: shape.version ?? 3 },
      peers: [...shape.peers],
    },
    leader,
    pendingPeers: shape.peers.filter((p) => shape.pending?.includes(p.id)),
    downPeers: [],
    approximateSizeBytes: 0,
    approximateKeys: 0,
  };
}
