/**
 * What a Raft message says about membership, beside the gate of message-check.ts (TinyKV's
 * store_worker checks before a message reaches a peer): whether it may create a peer for a region
 * this store does not host (maybeCreatePeer), whether its sender was removed and must be told
 * (a stale sender), whether it tells this store's peer that it was removed (a tombstone message, or
 * one to a newer peer of the region on this store), and whether a snapshot's range collides with
 * another region here. Decisions only; the store (store.ts) acts on them.
 */
import { MessageType } from '../../proto/eraftpb.js';
import type { Peer, Region } from '../../proto/metapb.js';
import { PeerState, type RaftMessage, type RegionLocalState } from '../../proto/raft_serverpb.js';
import { rangesOverlap } from '../peer/peer-destroy.js';
import { epochOf, findPeerById } from '../region.js';

/** This store's peer of the message's region, as these checks see it. */
export interface LocalPeerView {
  readonly storeId: number;
  readonly peerId: number;
  readonly region: Region;
  readonly initialized: boolean;
}

/** Messages that may create a peer on a store that does not host the region (from a leader or a candidate). */
const PEER_CREATING_TYPES: ReadonlySet<MessageType> = new Set([
  MessageType.MsgAppend,
  MessageType.MsgHeartbeat,
  MessageType.MsgSnapshot,
  MessageType.MsgRequestVote,
]);

const confVerOf = (message: RaftMessage): number => message.regionEpoch?.confVer ?? 0;

/** Whether the message is of a kind that may create a peer, addressed to a peer id. */
export function mayCreatePeer(message: RaftMessage): boolean {
  const type = message.message?.msgType;
  return type !== undefined && PEER_CREATING_TYPES.has(type) && (message.toPeer?.id ?? 0) !== 0;
}

/**
 * Whether a region state found on disk (with no peer running) lets the message create one: only a
 * tombstone, and only from a membership newer than the one that removed this store's peer.
 */
export function tombstoneAllowsCreation(message: RaftMessage, onDisk: RegionLocalState): boolean {
  return onDisk.state === PeerState.Tombstone && confVerOf(message) > (onDisk.region?.regionEpoch?.confVer ?? 0);
}

/**
 * TinyKV's stale-message check: a sender that is not a member of the region as this peer knows it,
 * with an older membership, was removed and may not know it (its removal committed after it
 * stopped hearing from the leader). Returns the tombstone message that tells it so, or undefined.
 * A message to this store's peer earns one whichever peer id it names: a sender that knows only a
 * membership from before this store was removed and added again names the old peer id, and may
 * have no other member left to learn from.
 */
export function staleSenderReply(message: RaftMessage, local: LocalPeerView): RaftMessage | undefined {
  const from = message.fromPeer;
  if (!from || !local.initialized || findPeerById(local.region, from.id)) return undefined;
  if (message.toPeer?.storeId !== local.storeId) return undefined;
  if (confVerOf(message) >= epochOf(local.region).confVer) return undefined;
  return removalNotice(local.region, { id: local.peerId, storeId: local.storeId }, from);
}

/**
 * TinyKV's store-level stale-message check: a vote from a peer the tombstone's membership does not
 * list, sent with an older membership, comes from a peer removed before this store's own peer was.
 * Every member it knows may be gone by now, so this store tells it (TinyKV answers votes only: a
 * removed peer that hears nothing campaigns). Returns the tombstone message, or undefined.
 */
export function tombstoneStaleReply(message: RaftMessage, onDisk: RegionLocalState, storeId: number): RaftMessage | undefined {
  const from = message.fromPeer;
  const region = onDisk.region;
  if (onDisk.state !== PeerState.Tombstone || !region || !from || message.message?.msgType !== MessageType.MsgRequestVote) return undefined;
  if (message.toPeer?.storeId !== storeId || findPeerById(region, from.id)) return undefined;
  if (confVerOf(message) >= epochOf(region).confVer) return undefined;
  return removalNotice(region, message.toPeer, from);
}

/** The tombstone message that tells `to` it is not a member of `region` (sent by `from`). */
function removalNotice(region: Region, from: Peer, to: Peer): RaftMessage {
  return {
    regionId: region.id,
    fromPeer: { id: from.id, storeId: from.storeId },
    toPeer: to,
    message: undefined,
    regionEpoch: epochOf(region),
    isTombstone: true,
    startKey: Buffer.alloc(0),
    endKey: Buffer.alloc(0),
  };
}

/**
 * A message from a newer membership to a newer peer of the region on this store: this store's peer
 * was removed (without learning it, or before its snapshot came) and the store added again with a
 * new peer id. The old peer must go; the leader's next message creates the new one.
 */
export function isSuperseded(message: RaftMessage, local: LocalPeerView): boolean {
  const to = message.toPeer;
  return to?.storeId === local.storeId && to.id > local.peerId && confVerOf(message) > epochOf(local.region).confVer;
}

/** A tombstone message from a newer membership, for this store's peer: it was removed. */
export function tombstoneRemoves(message: RaftMessage, local: LocalPeerView): boolean {
  if (!message.isTombstone || message.toPeer?.storeId !== local.storeId || message.toPeer.id !== local.peerId) return false;
  return confVerOf(message) > epochOf(local.region).confVer;
}

/** Why a snapshot of `region` must be refused: its range overlaps another initialized region here (TinyKV's checkSnapshot). */
export function snapshotOverlap(region: Region, others: Iterable<Region>): string | undefined {
  for (const other of others) {
    if (other.id !== region.id && rangesOverlap(region, other)) return `snapshot of region ${region.id} overlaps region ${other.id}`;
  }
  return undefined;
}
