/**
 * The gate every Raft message from the network passes before it reaches a peer (Store.onRaftMessage).
 * Raft trusts its inputs: a message with a huge term makes every peer adopt that term, and a
 * message from a peer it does not know can move its state. So a message is only let through when
 * it comes from a current member of the region, on the store that member lives on, addressed to
 * this store's peer, with every number in a range that arithmetic on it cannot leave.
 *
 * All checks live here so the multi-raft work can extend them in one place (it will create peers
 * for messages of peers not known yet, instead of dropping them).
 */
import { MessageType, type Message } from '../../proto/eraftpb.js';
import type { Region } from '../../proto/metapb.js';
import type { RaftMessage } from '../../proto/raft_serverpb.js';
import { findPeerById } from '../region.js';

/**
 * The largest term, index or id accepted from the wire. Raft adds to terms and indexes (a
 * campaign increments the term, an append the index), so a value close to 2^53 would leave the
 * range a JavaScript number holds exactly; this margin keeps a billion increments of headroom.
 */
export const MAX_RAFT_NUMBER = Number.MAX_SAFE_INTEGER - 2 ** 30;

/**
 * How far past this peer's term a message's term may be. A forged term that is accepted becomes
 * the region's term (every peer adopts it) and no one can take it back, so one message close to
 * MAX_RAFT_NUMBER would leave too little room for the elections that follow. With pre-vote a
 * partitioned peer does not raise its term, so a correct message is never this far ahead (a peer
 * behind by 2^24 elections would need years of them); a forger needs 2^29 accepted messages to
 * walk the term up to the limit.
 */
export const MAX_TERM_STEP = 2 ** 24;

export function isRaftNumberSafe(value: number): boolean {
  return Number.isSafeInteger(value) && value >= 0 && value <= MAX_RAFT_NUMBER;
}

/** Why a message was dropped; each has a counter (see DroppedMessageCounts). */
export const DROP_REASONS = [
  /** The bytes are not a RaftMessage. */
  'undecodable',
  /** Addressed to another store. */
  'wrong-store',
  /** No peer of that region on this store. */
  'region-not-found',
  /** Addressed to a peer id this store's peer of the region does not have. */
  'wrong-to-peer',
  /** The sender is not a member of the region as this peer knows it. */
  'unknown-from-peer',
  /** The sender's store is not the store its peer lives on. */
  'from-store-mismatch',
  /** The Raft message's from/to disagree with the envelope's peers. */
  'peer-id-mismatch',
  /** A term, index or id beyond MAX_RAFT_NUMBER. */
  'number-out-of-range',
  /** A term more than MAX_TERM_STEP past this peer's term. */
  'term-too-far',
  /** A snapshot that does not decode or does not match its metadata or the region. */
  'bad-snapshot',
  /** For a region whose peer here was destroyed, from an epoch not newer than the tombstone's. */
  'tombstoned-region',
  /** From a peer no longer in the region, with an older epoch (it is told it was removed). */
  'stale-sender',
  /** A type a peer only gives itself (a tick's MsgHup or MsgBeat, a proposal). */
  'local-message-type',
  /**
   * A shape no correct peer sends: appended entries that are not contiguous after the message's
   * index, whose terms go back or pass the sender's term, or an acknowledgement of entries this
   * peer never had. Raft treats such input as a broken invariant of its own log, which stops the store.
   */
  'malformed-message',
] as const;

export type DropReason = (typeof DROP_REASONS)[number];

/** Drops per reason, for logs now and for a metrics exporter later. */
export class DroppedMessageCounts {
  private readonly counts = new Map<DropReason, number>(DROP_REASONS.map((reason) => [reason, 0]));

  add(reason: DropReason): void {
    this.counts.set(reason, this.get(reason) + 1);
  }

  get(reason: DropReason): number {
    return this.counts.get(reason) ?? 0;
  }

  total(): number {
    let sum = 0;
    for (const count of this.counts.values()) sum += count;
    return sum;
  }

  /** A plain copy: reason → count. */
  toJSON(): Record<DropReason, number> {
    return Object.fromEntries(this.counts) as Record<DropReason, number>;
  }
}

/** The receiving side of a message: this store and, if it hosts the region, its peer's view. */
export interface MessageTarget {
  readonly storeId: number;
  readonly peer?: {
    readonly peerId: number;
    readonly region: Region;
    /** The last index of this peer's Raft log (acknowledgements beyond it are forged). */
    readonly lastIndex: number;
    /** This peer's current term (a message far beyond it is forged). */
    readonly term: number;
  };
}

/** Types a peer produces for itself: stepping one from the network would let anyone tick or propose. */
const LOCAL_MESSAGE_TYPES: ReadonlySet<MessageType> = new Set([MessageType.MsgHup, MessageType.MsgBeat, MessageType.MsgPropose]);

/** Why `message` must be dropped, or undefined when it may be stepped. Snapshots are checked apart (snapshot-check.ts). */
export function checkRaftMessage(message: RaftMessage, target: MessageTarget): DropReason | undefined {
  if (!envelopeNumbersSafe(message) || (message.message && !raftNumbersSafe(message.message))) return 'number-out-of-range';
  if (message.toPeer?.storeId !== target.storeId) return 'wrong-store';
  const peer = target.peer;
  if (!peer) return 'region-not-found';
  if (message.toPeer.id !== peer.peerId) return 'wrong-to-peer';
  const fromPeer = message.fromPeer;
  // A sender this peer does not know yet is trusted only from a newer membership (a peer added
  // since, or any member for an uninitialized peer, whose region has no members before its snapshot).
  const newerMembership = (message.regionEpoch?.confVer ?? 0) > (peer.region.regionEpoch?.confVer ?? 0);
  const from = fromPeer ? (findPeerById(peer.region, fromPeer.id) ?? (newerMembership ? fromPeer : undefined)) : undefined;
  if (!fromPeer || !from || from.id === peer.peerId) return 'unknown-from-peer';
  if (from.storeId !== fromPeer.storeId) return 'from-store-mismatch';
  const raft = message.message;
  if (raft && (raft.from !== from.id || raft.to !== peer.peerId)) return 'peer-id-mismatch';
  if (raft && LOCAL_MESSAGE_TYPES.has(raft.msgType)) return 'local-message-type';
  if (raft && raft.term > peer.term + MAX_TERM_STEP) return 'term-too-far';
  if (raft && !wellFormed(raft, peer.lastIndex)) return 'malformed-message';
  return undefined;
}

/**
 * What Raft assumes of a peer's message and asserts on (its invariants guard its own log): a
 * term (0 marks a local message), an append carries entries contiguous from index + 1, with terms that never go back, start at or
 * after logTerm and end at or before the sender's term; an accepted append acknowledges only
 * entries that exist here.
 */
function wellFormed(message: Message, lastIndex: number): boolean {
  // Every message a peer sends carries its term; Raft reads term 0 as a message of its own.
  if (message.term === 0) return false;
  switch (message.msgType) {
    case MessageType.MsgAppend: {
      if (message.logTerm > message.term) return false;
      let index = message.index;
      let term = message.logTerm;
      for (const entry of message.entries) {
        if (entry.index !== index + 1 || entry.term < term || entry.term > message.term) return false;
        index = entry.index;
        term = entry.term;
      }
      return true;
    }
    case MessageType.MsgAppendResponse:
      return message.reject || message.index <= lastIndex;
    default:
      return true;
  }
}

function envelopeNumbersSafe(message: RaftMessage): boolean {
  const epoch = message.regionEpoch;
  return allSafe(
    message.regionId,
    message.fromPeer?.id ?? 0,
    message.fromPeer?.storeId ?? 0,
    message.toPeer?.id ?? 0,
    message.toPeer?.storeId ?? 0,
    epoch?.confVer ?? 0,
    epoch?.version ?? 0,
  );
}

function raftNumbersSafe(message: Message): boolean {
  if (!allSafe(message.term, message.logTerm, message.index, message.commit, message.from, message.to)) return false;
  for (const entry of message.entries) if (!allSafe(entry.term, entry.index)) return false;
  const meta = message.snapshot?.metadata;
  if (meta && !allSafe(meta.index, meta.term, ...(meta.confState?.nodes ?? []))) return false;
  return true;
}

function allSafe(...values: number[]): boolean {
  for (const value of values) if (!isRaftNumberSafe(value)) return false;
  return true;
}
