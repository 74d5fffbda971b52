/**
 * RawNode: the application-facing handle on one Raft replica. Single-threaded
 * and synchronous; the application drives it:
 *
 *   loop:
 *     node.tick() every tick interval; node.step(msg) for each received message;
 *     node.propose(data) / node.readIndex(ctx) as clients ask;
 *     if (node.hasReady()) {
 *       const rd = node.ready();
 *       persist rd.snapshot, rd.entries, then rd.hardState   (in that order, or atomically)
 *       send rd.messages
 *       apply rd.snapshot (if any) then rd.committedEntries; serve rd.readStates
 *       node.advance(rd);
 *     }
 */
import { ConfChange, ConfState, Entry, EntryType, HardState, Message, MessageType, Snapshot } from '../proto/eraftpb.js';
import { invariant, invariantLazy } from './assert.js';
import { ErrStepLocalMsg, ErrStepPeerNotFound } from './errors.js';
import { hardStateEqual, isEmptyHardState, newMessage, NONE, Raft, type RaftConfig, type StateType } from './raft.js';
import type { ProgressStateType } from './progress.js';
import type { ReadState } from './read-only.js';
import { snapshotIndex } from './storage.js';

/** Volatile state, reported in a Ready only when it changes. */
export interface SoftState {
  lead: number;
  raftState: StateType;
}

/**
 * Everything the application must do after a batch of inputs. Handle it in
 * order: persist (snapshot, entries, hardState), send messages, apply
 * (snapshot, committedEntries), serve readStates, then call `advance(ready)`.
 */
export interface Ready {
  /** Present when leader or role changed. */
  softState?: SoftState;
  /** Present when term, vote or commit changed; persist it. */
  hardState?: HardState;
  /** New entries to persist before sending messages. */
  entries: Entry[];
  /** A snapshot received from the leader; persist and apply it. */
  snapshot?: Snapshot;
  /** Committed entries to apply to the state machine, in order. */
  committedEntries: Entry[];
  /** Messages to send (after persisting entries and hard state). */
  messages: Message[];
  /** Confirmed ReadIndex requests. */
  readStates: ReadState[];
}

/** Options of `new RawNode(...)`. See RaftConfig for each field. */
export type RawNodeOptions = RaftConfig;

/** Leader's view of one follower, from `getProgress()`. */
export interface ProgressInfo {
  match: number;
  next: number;
  state: ProgressStateType;
  pendingSnapshot: number;
  recentActive: boolean;
  inflight: number;
}

/** Summary returned by `status()`. */
export interface Status {
  id: number;
  term: number;
  lead: number;
  state: StateType;
  commit: number;
  applied: number;
}

function isLocalMsg(t: MessageType): boolean {
  return t === MessageType.MsgHup || t === MessageType.MsgBeat;
}

function isResponseMsg(t: MessageType): boolean {
  return t === MessageType.MsgAppendResponse || t === MessageType.MsgRequestVoteResponse || t === MessageType.MsgHeartbeatResponse;
}

function toBuffer(data: Uint8Array): Buffer {
  return Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
}

export class RawNode {
  /** The underlying state machine. Internal: exposed for tests and diagnostics. */
  readonly raft: Raft;
  private prevSoftState: SoftState;
  private prevHardState: HardState;

  constructor(options: RawNodeOptions) {
    this.raft = new Raft(options);
    this.prevSoftState = this.raft.softState();
    // A restarted node reports its hard state only once it changes.
    this.prevHardState = this.raft.hardState();
  }

  /** Advances the logical clock by one tick (election and heartbeat timers). */
  tick(): void {
    this.raft.tick();
  }

  /** Starts an election now (pre-vote first if enabled). */
  campaign(): void {
    this.raft.step(newMessage(MessageType.MsgHup, this.raft.id, this.raft.id, 0));
  }

  /** Proposes `data` for appending to the log. Throws ErrProposalDropped if not accepted. */
  propose(data: Uint8Array): void {
    const m = newMessage(MessageType.MsgPropose, 0, this.raft.id, 0);
    m.entries = [{ entryType: EntryType.EntryNormal, term: 0, index: 0, data: toBuffer(data) }];
    this.raft.step(m);
  }

  /** Proposes several entries in one go (one log append). */
  proposeBatch(data: readonly Uint8Array[]): void {
    if (data.length === 0) return;
    const m = newMessage(MessageType.MsgPropose, 0, this.raft.id, 0);
    m.entries = data.map((d) => ({ entryType: EntryType.EntryNormal, term: 0, index: 0, data: toBuffer(d) }));
    this.raft.step(m);
  }

  /**
   * Proposes a configuration change (an EntryConfChange entry holding the
   * encoded ConfChange). Only one may be pending at a time: throws
   * ErrProposalDropped while an earlier one is not yet applied.
   */
  proposeConfChange(cc: ConfChange): void {
    const m = newMessage(MessageType.MsgPropose, 0, this.raft.id, 0);
    const data = Buffer.from(ConfChange.encode(cc).finish());
    m.entries = [{ entryType: EntryType.EntryConfChange, term: 0, index: 0, data }];
    this.raft.step(m);
  }

  /** Applies a committed conf change (call it when applying its entry); returns the new ConfState. */
  applyConfChange(cc: ConfChange): ConfState {
    return this.raft.applyConfChange(cc);
  }

  /**
   * Feeds a message received from a peer. Rejects local messages (MsgHup,
   * MsgBeat) and responses from peers outside the configuration.
   */
  step(message: Message): void {
    if (isLocalMsg(message.msgType)) throw new ErrStepLocalMsg();
    if (isResponseMsg(message.msgType) && !this.raft.tracker.has(message.from)) {
      throw new ErrStepPeerNotFound();
    }
    this.raft.step(message);
  }

  /** Asks the leader to hand leadership to `transferee`. */
  transferLeader(transferee: number): void {
    this.raft.step(newMessage(MessageType.MsgTransferLeader, 0, transferee, 0));
  }

  /**
   * Requests a linearizable read. Leader only (throws ErrProposalDropped
   * elsewhere). When confirmed, a ReadState {index, requestCtx} appears in a
   * Ready; serve the read once the state machine has applied `index`.
   */
  readIndex(requestCtx: Uint8Array): void {
    this.raft.readIndex(requestCtx);
  }

  /** The transport failed to reach `id`. */
  reportUnreachable(id: number): void {
    this.raft.reportUnreachable(id);
  }

  /** The outcome of sending a snapshot to `id`. */
  reportSnapshot(id: number, status: 'finish' | 'failure'): void {
    this.raft.reportSnapshot(id, status === 'failure');
  }

  /** True if `ready()` would return something to do. */
  hasReady(): boolean {
    const r = this.raft;
    r.flushPending();
    if (r.msgs.length > 0 || r.readStates.length > 0) return true;
    if (r.log.hasUnstableEntries() || r.log.pendingSnapshot !== undefined) return true;
    if (r.log.hasNextCommittedEntries()) return true;
    const ss = r.softState();
    if (ss.lead !== this.prevSoftState.lead || ss.raftState !== this.prevSoftState.raftState) return true;
    const hs = r.hardState();
    return !isEmptyHardState(hs) && !hardStateEqual(hs, this.prevHardState);
  }

  /** Collects what the application must do. Call `advance(ready)` after handling it. */
  ready(): Ready {
    const r = this.raft;
    r.flushPending();
    const rd: Ready = {
      entries: r.log.unstableEntries(),
      committedEntries: r.log.nextCommittedEntries(),
      messages: r.msgs,
      readStates: r.readStates,
    };
    r.msgs = [];
    r.readStates = [];
    const ss = r.softState();
    if (ss.lead !== this.prevSoftState.lead || ss.raftState !== this.prevSoftState.raftState) {
      rd.softState = ss;
      this.prevSoftState = ss;
    }
    const hs = r.hardState();
    if (!isEmptyHardState(hs) && !hardStateEqual(hs, this.prevHardState)) {
      const prev = this.prevHardState;
      invariantLazy(
        hs.term >= prev.term && hs.commit >= prev.commit,
        () => `hard state moved back: term ${prev.term}->${hs.term}, commit ${prev.commit}->${hs.commit}`,
      );
      invariantLazy(
        hs.term > prev.term || prev.vote === NONE || hs.vote === prev.vote,
        () => `vote changed within term ${hs.term}: ${prev.vote}->${hs.vote}`,
      );
      rd.hardState = hs;
    }
    const snap = r.log.pendingSnapshot;
    if (snap !== undefined) rd.snapshot = snap;
    return rd;
  }

  /** Tells Raft the Ready was handled: entries persisted, committed entries applied. */
  advance(rd: Ready): void {
    const log = this.raft.log;
    if (rd.hardState !== undefined) this.prevHardState = rd.hardState;
    if (rd.snapshot !== undefined) {
      const index = snapshotIndex(rd.snapshot);
      log.stableSnapTo(index);
      if (index > log.applied) log.applied = index;
    }
    const last = rd.entries[rd.entries.length - 1];
    if (last !== undefined) log.stableTo(last.index, last.term);
    const lastCommitted = rd.committedEntries[rd.committedEntries.length - 1];
    if (lastCommitted !== undefined) log.appliedTo(lastCommitted.index);
    invariant(log.applied <= log.committed, 'applied past committed');
  }

  /** Leader only: each voter's replication progress (empty on followers). */
  getProgress(): Map<number, ProgressInfo> {
    const out = new Map<number, ProgressInfo>();
    if (this.raft.state !== 'Leader') return out;
    for (const [id, pr] of this.raft.tracker.entries()) {
      out.set(id, {
        match: pr.match,
        next: pr.next,
        state: pr.state,
        pendingSnapshot: pr.pendingSnapshot,
        recentActive: pr.recentActive,
        inflight: pr.inflights.length,
      });
    }
    return out;
  }

  status(): Status {
    const r = this.raft;
    return {
      id: r.id,
      term: r.term,
      lead: r.lead,
      state: r.state,
      commit: r.log.committed,
      applied: r.log.applied,
    };
  }
}
