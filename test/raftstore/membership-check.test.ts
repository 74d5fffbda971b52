// The membership decisions on incoming Raft messages (batch/membership-check.ts), on hand-made messages.
import { describe, expect, it } from 'vitest';
import { MessageType } from '../../src/proto/eraftpb.js';
import type { Region } from '../../src/proto/metapb.js';
import { RaftMessage } from '../../src/proto/raft_serverpb.js';
import { staleSenderReply, type LocalPeerView } from '../../src/raftstore/batch/membership-check.js';

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
