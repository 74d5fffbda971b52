// The membership decisions on incoming Raft messages (batch/membership-check.ts): on hand-made
// messages, and what they achieve on a simulated cluster.
import { describe, expect, it } from 'vitest';
import { MessageType } from '../../src/proto/eraftpb.js';
import type { Region } from '../../src/proto/metapb.js';
import { PeerState, RaftMessage, RegionLocalState } from '../../src/proto/raft_serverpb.js';
import { staleSenderReply, tombstoneStaleReply, type LocalPeerView } from '../../src/raftstore/batch/membership-check.js';
import { SimCluster, seedFromEnv } from './cluster.js';

/** Store 3's peer 1007 of region 1, whose membership (conf_ver 12) no longer has store 2. */
const region: Region = {
  id: 1,
  startKey: Buffer.alloc(0),
  endKey: Buffer.alloc(0),
  regionEpoch: { confVer: 12, version: 1 },
  peers: [
    { id: 1005, storeId: 1 },
    { id: 1007, storeId: 3 },
  ],
};
const local: LocalPeerView = { storeId: 3, peerId: 1007, region, initialized: true };

/** A vote request from peer 102 on store 2, which knows the membership of conf_ver 7. */
function fromRemovedPeer(toPeer: { id: number; storeId: number }, confVer = 7): RaftMessage {
  return RaftMessage.fromPartial({
    regionId: 1,
    fromPeer: { id: 102, storeId: 2 },
    toPeer,
    regionEpoch: { confVer, version: 1 },
    message: { msgType: MessageType.MsgRequestVote, from: 102, to: toPeer.id, term: 11 },
  });
}

describe('staleSenderReply', () => {
  it('tells a removed sender with an older membership that it was removed', () => {
    const reply = staleSenderReply(fromRemovedPeer({ id: 1007, storeId: 3 }), local);
    expect(reply).toMatchObject({
      regionId: 1,
      isTombstone: true,
      fromPeer: { id: 1007, storeId: 3 },
      toPeer: { id: 102, storeId: 2 },
      regionEpoch: { confVer: 12, version: 1 },
    });
  });

  it('answers a message to an older peer of this store too (the sender knows it from before a re-add)', () => {
    const reply = staleSenderReply(fromRemovedPeer({ id: 1002, storeId: 3 }), local);
    expect(reply?.isTombstone).toBe(true);
    expect(reply?.toPeer).toEqual({ id: 102, storeId: 2 });
  });

  it('does not answer a message for another store, a member, a sender as new as this peer, or an uninitialized peer', () => {
    expect(staleSenderReply(fromRemovedPeer({ id: 1007, storeId: 4 }), local)).toBeUndefined();
    const fromMember = RaftMessage.fromPartial({ ...fromRemovedPeer({ id: 1007, storeId: 3 }), fromPeer: { id: 1005, storeId: 1 } });
    expect(staleSenderReply(fromMember, local)).toBeUndefined();
    expect(staleSenderReply(fromRemovedPeer({ id: 1007, storeId: 3 }, 12), local)).toBeUndefined();
    expect(staleSenderReply(fromRemovedPeer({ id: 1007, storeId: 3 }), { ...local, initialized: false })).toBeUndefined();
  });
});

describe('tombstoneStaleReply', () => {
  /** Store 5's tombstone: its peer 1003 was removed at conf_ver 9, when store 2 was no member. */
  const tombstone = RegionLocalState.fromPartial({
    state: PeerState.Tombstone,
    region: { ...region, regionEpoch: { confVer: 9, version: 1 }, peers: [...region.peers, { id: 1003, storeId: 5 }] },
  });

  it('tells a removed peer that votes with an older membership that it was removed', () => {
    const reply = tombstoneStaleReply(fromRemovedPeer({ id: 1003, storeId: 5 }), tombstone, 5);
    expect(reply).toMatchObject({
      isTombstone: true,
      fromPeer: { id: 1003, storeId: 5 },
      toPeer: { id: 102, storeId: 2 },
      regionEpoch: { confVer: 9 },
    });
  });

  it('answers nothing but such a vote: another message kind, a member, a newer sender, a live region, another store', () => {
    const vote = fromRemovedPeer({ id: 1003, storeId: 5 });
    const append = RaftMessage.fromPartial({ ...vote, message: { ...vote.message, msgType: MessageType.MsgAppendResponse } });
    expect(tombstoneStaleReply(append, tombstone, 5)).toBeUndefined();
    const fromMember = RaftMessage.fromPartial({ ...vote, fromPeer: { id: 1005, storeId: 1 } });
    expect(tombstoneStaleReply(fromMember, tombstone, 5)).toBeUndefined();
    expect(tombstoneStaleReply(fromRemovedPeer({ id: 1003, storeId: 5 }, 9), tombstone, 5)).toBeUndefined();
    expect(tombstoneStaleReply(vote, { ...tombstone, state: PeerState.Normal }, 5)).toBeUndefined();
    expect(tombstoneStaleReply(vote, tombstone, 4)).toBeUndefined();
  });
});

describe('a peer removed while cut off', () => {
  it('learns its removal from a store whose peer was removed after it (a tombstone answers its votes)', async () => {
    const cluster = new SimCluster({ stores: 3, seed: seedFromEnv(41) });
    await cluster.start();
    await cluster.addStore(4);
    await cluster.addStore(5);
    if ((await cluster.waitLeader()) === 2) await cluster.transferLeader(1, 1);
    await cluster.put('a', '1');
    cluster.isolate(2);
    await cluster.removePeer(1, 2, 102);
    await cluster.addPeer(1, 4, 104);
    await cluster.addPeer(1, 5, 105);
    await cluster.run(30);
    // Every member store 2 knows of is removed too: only their tombstones are left to answer it.
    await cluster.removePeer(1, 1, 101);
    await cluster.removePeer(1, 3, 103);
    for (let i = 0; i < 200 && (cluster.stores.get(1)?.peer(1) || cluster.stores.get(3)?.peer(1)); i++) await cluster.step();
    expect(cluster.stores.get(1)?.peer(1)).toBeUndefined();
    expect(cluster.stores.get(3)?.peer(1)).toBeUndefined();
    expect(cluster.stores.get(2)?.peer(1)?.isInitialized()).toBe(true);
    cluster.clearFilters();
    for (let i = 0; i < 300 && cluster.stores.get(2)?.peer(1); i++) await cluster.step();
    expect(cluster.stores.get(2)?.peer(1)).toBeUndefined();
    expect(cluster.regionStateOf(2)?.state).toBe(PeerState.Tombstone);
    expect(cluster.localValue(2, 'a')).toBeUndefined();
    expect(await cluster.get('a')).toBe('1');
  });
});
