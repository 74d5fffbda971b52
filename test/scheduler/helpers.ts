import { Peer, Region, Store, StoreState } from '../../src/proto/metapb.js';

export function key(text: string): Buffer {
  return Buffer.from(text, 'latin1');
}

/** A region; `peers` as [peerId, storeId] pairs. */
export function region(id: number, start: string, end: string, epoch: { confVer: number; version: number }, peers: Array<[number, number]>): Region {
  return Region.fromPartial({
    id,
    startKey: key(start),
    endKey: key(end),
    regionEpoch: epoch,
    peers: peers.map(([peerId, storeId]) => ({ id: peerId, storeId })),
  });
}

export function peer(id: number, storeId: number): Peer {
  return Peer.fromPartial({ id, storeId });
}

export function store(id: number, address = `127.0.0.1:${20160 + id}`, state = StoreState.Up): Store {
  return Store.fromPartial({ id, address, state });
}

/** A copy of `r` with changes. */
export function withChanges(r: Region, changes: Partial<Omit<Region, 'regionEpoch'>> & { confVer?: number; version?: number }): Region {
  const { confVer, version, ...rest } = changes;
  return Region.fromPartial({
    ...r,
    ...rest,
    regionEpoch: { confVer: confVer ?? r.regionEpoch!.confVer, version: version ?? r.regionEpoch!.version },
  });
}
