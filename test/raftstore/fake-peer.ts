// A stand-in for the peer the operation modules see (ProposingPeer): one region of two peers on
// stores 1 and 2, this store's peer leading unless told otherwise.
import type { Peer as PeerMeta, Region } from '../../src/proto/metapb.js';
import type { ProposingPeer } from '../../src/raftstore/operation/command.js';

export const REGION: Region = {
  id: 1,
  startKey: Buffer.from('a'),
  endKey: Buffer.from('m'),
  regionEpoch: { confVer: 2, version: 3 },
  peers: [
    { id: 11, storeId: 1 },
    { id: 12, storeId: 2 },
  ],
};

export class FakePeer implements ProposingPeer {
  readonly storeId = 1;
  readonly regionId = 1;
  readonly region = REGION;
  leader = true;
  currentTerm = 7;
  last = 10;
  isLeader(): boolean {
    return this.leader;
  }
  term(): number {
    return this.currentTerm;
  }
  leaderPeer(): PeerMeta | undefined {
    return this.leader ? REGION.peers[0] : REGION.peers[1];
  }
  lastIndex(): number {
    return this.last;
  }
}
