/** Region helpers: key ranges, epochs, peers. A region covers [startKey, endKey); an empty end is unbounded. */
import { compareBytes } from '../util/bytes.js';
import type { Peer, Region, RegionEpoch } from '../proto/metapb.js';

export function keyInRegion(key: Uint8Array, region: Region): boolean {
  return compareBytes(key, region.startKey) >= 0 && (region.endKey.length === 0 || compareBytes(key, region.endKey) < 0);
}

export function findPeerOnStore(region: Region, storeId: number): Peer | undefined {
  return region.peers.find((peer) => peer.storeId === storeId);
}

export function findPeerById(region: Region, peerId: number): Peer | undefined {
  return region.peers.find((peer) => peer.id === peerId);
}

export function epochOf(region: Region): RegionEpoch {
  return region.regionEpoch ?? { confVer: 0, version: 0 };
}

/** True when `epoch` is older than `current` in either component. */
export function isEpochStale(epoch: RegionEpoch, current: RegionEpoch): boolean {
  return epoch.version < current.version || epoch.confVer < current.confVer;
}

export function cloneRegion(region: Region): Region {
  return {
    id: region.id,
    startKey: Buffer.from(region.startKey),
    endKey: Buffer.from(region.endKey),
    regionEpoch: { ...epochOf(region) },
    peers: region.peers.map((peer) => ({ ...peer })),
  };
}
