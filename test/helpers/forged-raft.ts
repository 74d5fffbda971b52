// Raft messages forged as coming from a region's real members, for the fuzz test. The gate
// (src/raftstore/batch/message-check.ts) drops messages from strangers, so only messages whose envelope
// names the real region, a real other member on its real store and the target's real peer get
// past it and reach Raft. These carry every MessageType, boundary numbers and the malformed
// shapes Raft must never trust: entries that are not contiguous from index+1, entry terms that go
// backwards or leave [logTerm, term], commits far beyond the log, local-only types (MsgHup,
// MsgBeat, MsgPropose) from the network, huge terms, snapshots whose data is garbage.
import { EntryType, MessageType, type Entry, type Message } from '../../src/proto/eraftpb.js';
import type { Peer, Region } from '../../src/proto/metapb.js';
import { RaftMessage } from '../../src/proto/raft_serverpb.js';

/** The random choices a generator needs (the fuzz test's seeded Rng fits). */
export interface Chooser {
  float(): number;
  int(maxExclusive: number): number;
  pick<T>(items: readonly T[]): T;
  bytes(length: number): Buffer;
}

/** Where forged messages go and whom they pretend to come from. */
export interface RaftVictim {
  readonly region: Region;
  /** The target store's peer of the region. */
  readonly peer: Peer;
  /** The region's other members: the senders a forged message claims. */
  readonly others: readonly Peer[];
}

/** Every MessageType that has a wire number (10 is unused). */
export const ALL_MESSAGE_TYPES: readonly MessageType[] = Object.values(MessageType).filter((v): v is MessageType => typeof v === 'number' && v >= 0);

/** The shapes of a forged MsgAppend's entries. */
export const APPEND_SHAPES = [
  'none',
  'contiguous',
  'gap',
  'duplicate-index',
  'index-backwards',
  'terms-backwards',
  'term-below-logterm',
  'term-above-message-term',
  'index-zero',
  'conf-change-garbage',
  'many',
] as const;
export type AppendShape = (typeof APPEND_SHAPES)[number];
/** Shapes that may be well formed (the rest never are). */
const WELL_FORMED_SHAPES: ReadonlySet<AppendShape> = new Set(['none', 'contiguous', 'conf-change-garbage', 'many']);

/**
 * Terms and indexes near what a fresh region uses (its log starts at index 5, term 5), plus
 * boundaries: 0, values past 2^32 and 2^53, and the largest the gate accepts (MAX_RAFT_NUMBER =
 * 2^53 - 1 - 2^30) and one past it.
 */
const MAX_ACCEPTED = Number.MAX_SAFE_INTEGER - 2 ** 30;
function number(rng: Chooser): number {
  return rng.pick([
    0,
    1,
    4,
    5,
    6,
    7,
    8,
    10,
    12,
    20,
    50,
    1000,
    2 ** 32 + 1,
    2 ** 40,
    MAX_ACCEPTED - 1,
    MAX_ACCEPTED,
    MAX_ACCEPTED + 1,
    Number.MAX_SAFE_INTEGER,
    5 + rng.int(30),
  ]);
}
function nearLog(rng: Chooser): number {
  return rng.pick([0, 4, 5, 6, 7, 8, 10, 15, 5 + rng.int(40), 1000, 2 ** 40, MAX_ACCEPTED]);
}

function entriesOf(rng: Chooser, shape: AppendShape, index: number, logTerm: number, term: number): Entry[] {
  const entry = (i: number, t: number, entryType = EntryType.EntryNormal): Entry => ({
    entryType,
    index: Math.max(0, i),
    term: Math.max(0, t),
    data: rng.float() < 0.5 ? Buffer.alloc(0) : rng.bytes(rng.int(48)),
  });
  const first = index + 1;
  const t = Math.max(logTerm, Math.min(term, logTerm + 1));
  switch (shape) {
    case 'none':
      return [];
    case 'contiguous':
      return [entry(first, t), entry(first + 1, t), entry(first + 2, term)];
    case 'gap':
      return [entry(first + 1 + rng.int(3), t), entry(first + 5, t)];
    case 'duplicate-index':
      return [entry(first, t), entry(first, t)];
    case 'index-backwards':
      return [entry(first, t), entry(first + 1, t), entry(first, t)];
    case 'terms-backwards':
      return [entry(first, term), entry(first + 1, Math.max(0, term - 1))];
    case 'term-below-logterm':
      return [entry(first, Math.max(0, logTerm - 1 - rng.int(3)))];
    case 'term-above-message-term':
      return [entry(first, term + 1 + rng.int(5))];
    case 'index-zero':
      return [entry(0, t)];
    case 'conf-change-garbage':
      return [entry(first, t, EntryType.EntryConfChange)];
    case 'many':
      return Array.from({ length: 200 + rng.int(300) }, (_, i) => entry(first + i, t));
  }
}

/**
 * How the terms of a sequence of forged messages are chosen. Raft ignores a message whose term is
 * below its own, and one message with a huge term lifts the victim's term past every later one;
 * so a sequence first uses terms near the highest it has sent (what the victim most likely has
 * now), and only its tail (`anyTerm`) throws boundary terms.
 */
export interface TermPlan {
  /** The highest term sent so far; forged terms stay just above it. */
  highest: number;
  /** Boundary and huge terms allowed too. */
  anyTerm: boolean;
}

function termOf(rng: Chooser, plan: TermPlan | undefined): number {
  if (plan === undefined || plan.anyTerm) {
    return rng.float() < 0.3 ? number(rng) : rng.pick([5, 6, 7, 8, 9, 10, 5 + rng.int(20), 2 ** 31, MAX_ACCEPTED]);
  }
  const term = rng.float() < 0.8 ? plan.highest + rng.int(3) : Math.max(0, plan.highest - 1 - rng.int(3));
  plan.highest = Math.max(plan.highest, term);
  return term;
}

/** One Raft message of `msgType` from a real other member to the victim's peer. */
export function forgedRaftMessage(rng: Chooser, victim: RaftVictim, msgType: MessageType, shape?: AppendShape, plan?: TermPlan): RaftMessage {
  const from = rng.pick(victim.others);
  const term = termOf(rng, plan);
  const index = rng.float() < 0.2 ? number(rng) : nearLog(rng);
  const logTerm = rng.float() < 0.2 ? number(rng) : Math.max(0, Math.min(term, rng.pick([0, 5, 6, term, term - 1, term + 1])));
  const commit = rng.pick([0, index, index + 1, index + 10, index + 10_000, 5 + rng.int(20), 2 ** 40, MAX_ACCEPTED]);
  const message: Message = {
    msgType,
    from: rng.float() < 0.95 ? from.id : rng.pick([0, victim.peer.id, from.id + 1]),
    to: rng.float() < 0.95 ? victim.peer.id : rng.pick([0, from.id]),
    term,
    logTerm,
    index,
    commit,
    reject: rng.float() < 0.3,
    entries: [],
    snapshot: undefined,
  };
  switch (msgType) {
    case MessageType.MsgAppend: {
      const chosen = shape ?? rng.pick(APPEND_SHAPES);
      message.entries = entriesOf(rng, chosen, index, logTerm, term);
      // A well-formed append at a live term is indistinguishable from the leader's own without
      // message authentication (none between stores yet): accepted and committed, its garbage
      // entries would be applied. Such forgeries are out of reach of any gate, so well-formed
      // shapes carry a term from before the region's first (5): Raft must ignore them as stale.
      if (WELL_FORMED_SHAPES.has(chosen) && message.entries.every((e, i) => e.index === index + 1 + i && e.term >= logTerm && e.term <= term)) {
        message.term = 1 + rng.int(4);
        message.logTerm = Math.min(message.logTerm, message.term);
        for (const entry of message.entries) entry.term = Math.min(Math.max(entry.term, message.logTerm), message.term);
      }
      break;
    }
    case MessageType.MsgHeartbeat:
      // Likewise a heartbeat's commit at a live term is believed (it may commit entries the real
      // leader has not): forged heartbeats commit nothing.
      message.commit = 0;
      break;
    case MessageType.MsgPropose:
      message.entries = [
        { entryType: rng.pick([EntryType.EntryNormal, EntryType.EntryConfChange]), index: 0, term: 0, data: rng.bytes(rng.int(64)) },
      ];
      break;
    case MessageType.MsgSnapshot:
      message.snapshot = {
        data: rng.bytes(rng.int(128)),
        metadata: {
          index: nearLog(rng),
          term,
          confState: { nodes: rng.pick([victim.region.peers.map((p) => p.id), [victim.peer.id], [], [from.id, 999]]) },
        },
      };
      break;
    default:
      // Any type may carry entries a peer must ignore.
      if (rng.float() < 0.1) message.entries = entriesOf(rng, rng.pick(APPEND_SHAPES), index, logTerm, term);
  }
  return RaftMessage.fromPartial({
    regionId: victim.region.id,
    fromPeer: from,
    toPeer: victim.peer,
    regionEpoch:
      rng.float() < 0.85
        ? victim.region.regionEpoch
        : { confVer: rng.pick([0, 1, 1000, MAX_ACCEPTED]), version: rng.pick([0, 1, 1000, MAX_ACCEPTED]) },
    // A tombstone order from a real member is rare on purpose: it removes the victim's peer.
    isTombstone: rng.float() < 0.01,
    startKey: rng.float() < 0.9 ? victim.region.startKey : rng.bytes(rng.int(8)),
    endKey: rng.float() < 0.9 ? victim.region.endKey : rng.bytes(rng.int(8)),
    message,
  });
}

/**
 * A sequence of forged messages that starts with every MessageType, every MsgAppend shape and
 * term-0 messages to a candidate (so a short run covers them all), then random ones; terms stay plausible for the first two
 * thirds and may be anything (2^53 - 1 - 2^30, the gate's limit, included) in the last third.
 */
export function* forgedRaftMessages(rng: Chooser, victim: RaftVictim, count: number): Generator<RaftMessage> {
  // A fresh region's log starts at term 5; an election or two has happened by now.
  const plan: TermPlan = { highest: 6, anyTerm: false };
  let sent = 0;
  const next = (msgType: MessageType, shape?: AppendShape) => {
    plan.anyTerm = sent >= Math.floor((count * 2) / 3);
    sent++;
    return forgedRaftMessage(rng, victim, msgType, shape, plan);
  };
  for (const msgType of ALL_MESSAGE_TYPES) {
    if (sent >= count) return;
    yield next(msgType);
  }
  for (const shape of APPEND_SHAPES) {
    if (sent >= count) return;
    yield next(MessageType.MsgAppend, shape);
  }
  // Term 0 marks a local message inside Raft; from the network it must never reach a peer. It
  // does the most harm to a candidate (which follows any append, heartbeat or snapshot's term),
  // so each comes right after a MsgTimeoutNow that starts the victim's election.
  for (const msgType of [MessageType.MsgHeartbeat, MessageType.MsgAppend, MessageType.MsgSnapshot]) {
    if (sent + 2 > count) break;
    yield exact(next(MessageType.MsgTimeoutNow), victim, {});
    yield exact(next(msgType), victim, { term: 0, logTerm: 0, index: 0, commit: 0, entries: [] });
  }
  // MsgAppend and heartbeats weigh more: they carry the shapes and commits the gate must check.
  const weighted = [...ALL_MESSAGE_TYPES, MessageType.MsgAppend, MessageType.MsgAppend, MessageType.MsgAppend, MessageType.MsgHeartbeat];
  const anyTermFrom = Math.floor((count * 2) / 3);
  while (sent < count) {
    if (sent === anyTermFrom) {
      // The largest term the gate lets through, from each member (the victim's answer carries it
      // to the real leader too): Raft must still elect leaders from there on.
      for (const from of victim.others) {
        const top = next(MessageType.MsgHeartbeat);
        yield exact({ ...top, fromPeer: from }, victim, { term: MAX_ACCEPTED, commit: 0 });
      }
      continue;
    }
    yield next(rng.pick(weighted));
  }
}

/** `forged` with an envelope the gate accepts (ids that agree, the real epoch, no tombstone) and `fields` set. */
function exact(forged: RaftMessage, victim: RaftVictim, fields: Partial<Message>): RaftMessage {
  return {
    ...forged,
    toPeer: victim.peer,
    regionEpoch: victim.region.regionEpoch,
    isTombstone: false,
    message: { ...forged.message!, from: forged.fromPeer!.id, to: victim.peer.id, ...fields },
  };
}
