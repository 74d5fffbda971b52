/**
 * The Raft state machine. Pure: input is `step(message)` and `tick()`, output
 * is the `msgs` queue, the log and the hard state, read by RawNode.
 *
 * Wire conventions (eraftpb has no PreVote or ReadIndex message types; see
 * README.md "Wire format"):
 * - MsgRequestVote / MsgRequestVoteResponse use `commit` as the campaign kind
 *   (`CampaignKind`): 0 a normal election (what TinyKV sends), 1 a pre-vote,
 *   2 an election forced by leader transfer. A pre-vote request carries the
 *   term the sender would campaign at (its term + 1) but neither the sender
 *   nor the receiver changes term or vote because of it.
 * - A rejected MsgAppendResponse carries `index` = the rejected prev index,
 *   `commit` = the follower's hint index, `logTerm` = the term at the hint.
 * - MsgHeartbeat `index` carries the leader's latest read sequence; the
 *   follower echoes it in MsgHeartbeatResponse `index`.
 */
import { ConfChange, ConfChangeType, ConfState, Entry, EntryType, HardState, Message, MessageType, Snapshot } from '../proto/eraftpb.js';
import { defined, invariant, invariantLazy } from './assert.js';
import { ErrInvalidConfig, ErrProposalDropped, ErrSnapshotTemporarilyUnavailable } from './errors.js';
import { RaftLog } from './log.js';
import { Progress, ProgressTracker } from './progress.js';
import { ReadOnly, type ReadState } from './read-only.js';
import { mulberry32, type RandomSource } from './rng.js';
import { isEmptySnapshot, snapshotIndex, snapshotTerm, type Storage } from './storage.js';

/** "No node": used for `lead` and `vote`. Node ids are > 0. */
export const NONE = 0;

export type StateType = 'Follower' | 'Candidate' | 'PreCandidate' | 'Leader';

/** Values of the `commit` field of vote messages. */
export const CampaignKind = {
  /** A real election (the only kind TinyKV sends). */
  Election: 0,
  /** A pre-vote: "would you vote for me in term+1?". Changes no state. */
  PreVote: 1,
  /** A real election started by MsgTimeoutNow; voters ignore their leader lease. */
  Transfer: 2,
} as const;
export type CampaignKindValue = (typeof CampaignKind)[keyof typeof CampaignKind];

/** Default `maxSizePerMsgBytes`: 1 MiB. */
export const DEFAULT_MAX_SIZE_PER_MSG_BYTES = 1024 * 1024;
/** Default `maxInflightMsgs`. */
export const DEFAULT_MAX_INFLIGHT_MSGS = 256;

export interface RaftConfig {
  /** This node's id (> 0). */
  id: number;
  /** Voter ids for a brand-new cluster. Leave empty on restart: the ConfState in storage is used. */
  peers?: number[];
  /** Ticks without hearing from a leader before campaigning; randomized in [electionTick, 2*electionTick). */
  electionTick: number;
  /** Ticks between leader heartbeats. Must be < electionTick. */
  heartbeatTick: number;
  storage: Storage;
  /** Last applied index, on restart. Defaults to the snapshot index. */
  applied?: number;
  /** Seeded randomness for election timeouts. Defaults to mulberry32(id). */
  random?: RandomSource;
  /** Run a pre-vote round before each election (Raft thesis §9.6). */
  preVote?: boolean;
  /** A leader steps down if it has not heard from a quorum for an election timeout; followers honour a leader lease. */
  checkQuorum?: boolean;
  /**
   * With checkQuorum: this node may have acknowledged a leader just before it stopped, and that
   * leader may be serving reads on a lease that counts on this node's promise not to vote for
   * anyone else for an election timeout. A restarted node keeps the promise it cannot remember:
   * it refuses votes (except a leader transfer's) for its first election timeout of ticks.
   */
  startInLease?: boolean;
  /** Upper bound on the entry bytes in one MsgAppend (at least one entry is always sent). */
  maxSizePerMsgBytes?: number;
  /** Upper bound on un-acknowledged MsgAppend per follower in Replicate state. */
  maxInflightMsgs?: number;
}

/** Builds a Message with every field at its default, as the protobuf decoder would. */
export function newMessage(msgType: MessageType, to: number, from: number, term: number): Message {
  return {
    msgType,
    to,
    from,
    term,
    logTerm: 0,
    index: 0,
    entries: [],
    commit: 0,
    snapshot: undefined,
    reject: false,
  };
}

function validate(c: RaftConfig): void {
  const positive = (n: number) => Number.isSafeInteger(n) && n > 0;
  if (!positive(c.id)) throw new ErrInvalidConfig('id must be a positive safe integer');
  if (!positive(c.heartbeatTick)) throw new ErrInvalidConfig('heartbeatTick must be > 0');
  if (!positive(c.electionTick) || c.electionTick <= c.heartbeatTick) {
    throw new ErrInvalidConfig('electionTick must be greater than heartbeatTick');
  }
  if (c.maxInflightMsgs !== undefined && !positive(c.maxInflightMsgs)) {
    throw new ErrInvalidConfig('maxInflightMsgs must be > 0');
  }
  if (c.maxSizePerMsgBytes !== undefined && !(c.maxSizePerMsgBytes > 0)) {
    throw new ErrInvalidConfig('maxSizePerMsgBytes must be > 0');
  }
  for (const p of c.peers ?? []) {
    if (!positive(p)) throw new ErrInvalidConfig(`peer id ${p} must be a positive safe integer`);
  }
}

export class Raft {
  readonly id: number;
  term = 0;
  vote = NONE;
  readonly log: RaftLog;
  readonly tracker: ProgressTracker;
  state: StateType = 'Follower';
  lead = NONE;
  /** Outgoing messages, drained by RawNode.ready(). */
  msgs: Message[] = [];
  /** Confirmed reads, drained by RawNode.ready(). */
  readStates: ReadState[] = [];

  readonly electionTimeout: number;
  readonly heartbeatTimeout: number;
  randomizedElectionTimeout = 0;
  electionElapsed = 0;
  heartbeatElapsed = 0;
  /** Ticks spent as leader (for snapshot retry timing). */
  leaderTicks = 0;
  /** Target of an in-progress leader transfer, or NONE. */
  leadTransferee = NONE;
  /** Log index of the latest conf change proposal; a new one is refused until it is applied. */
  pendingConfIndex = 0;
  /** Ticks left of the lease a restarted node honours without knowing its leader (startInLease). */
  private startupLeaseTicks = 0;

  readonly preVote: boolean;
  readonly checkQuorum: boolean;
  readonly maxSizePerMsgBytes: number;
  private readonly random: RandomSource;
  private readonly readOnly = new ReadOnly();
  /** The leader appended entries (or advanced commit) and owes followers a MsgAppend. */
  private pendingBroadcast = false;
  /** The leader owes followers a heartbeat round (for ReadIndex). */
  private pendingHeartbeat = false;
  /**
   * Leader: a quorum was active during the last election-timeout window. Such
   * a leader refuses pre-votes; a leader cut off from its quorum grants them
   * (even without checkQuorum) so the rest of the cluster can move on.
   */
  private leaderQuorumActive = true;

  constructor(config: RaftConfig) {
    validate(config);
    this.id = config.id;
    this.electionTimeout = config.electionTick;
    this.heartbeatTimeout = config.heartbeatTick;
    this.preVote = config.preVote ?? false;
    this.checkQuorum = config.checkQuorum ?? false;
    if (config.startInLease === true) this.startupLeaseTicks = config.electionTick;
    this.maxSizePerMsgBytes = config.maxSizePerMsgBytes ?? DEFAULT_MAX_SIZE_PER_MSG_BYTES;
    this.random = config.random ?? mulberry32(config.id);
    this.log = new RaftLog(config.storage);
    this.tracker = new ProgressTracker(config.maxInflightMsgs ?? DEFAULT_MAX_INFLIGHT_MSGS);
    const { hardState, confState } = config.storage.initialState();
    const peers = config.peers !== undefined && config.peers.length > 0 ? config.peers : confState.nodes;
    for (const p of peers) this.tracker.add(p, 0, this.log.lastIndex() + 1);
    if (!isEmptyHardState(hardState)) this.loadState(hardState);
    if (config.applied !== undefined && config.applied > 0) this.log.appliedTo(config.applied);
    this.becomeFollower(this.term, NONE);
  }

  private loadState(hs: HardState): void {
    invariantLazy(
      hs.commit >= this.log.committed && hs.commit <= this.log.lastIndex(),
      () => `hard state commit ${hs.commit} out of range [${this.log.committed}, ${this.log.lastIndex()}]`,
    );
    this.log.committed = hs.commit;
    this.term = hs.term;
    this.vote = hs.vote;
  }

  softState(): { lead: number; raftState: StateType } {
    return { lead: this.lead, raftState: this.state };
  }

  hardState(): HardState {
    return { term: this.term, vote: this.vote, commit: this.log.committed };
  }

  /** True if this node is a voter of its own configuration. */
  promotable(): boolean {
    return this.tracker.has(this.id);
  }

  // ---------------------------------------------------------------- sending

  private send(m: Message): void {
    m.from = this.id;
    if (m.msgType !== MessageType.MsgRequestVote && m.msgType !== MessageType.MsgRequestVoteResponse) {
      invariant(m.term === 0, 'non-vote message must not carry a term before send');
      m.term = this.term;
    } else {
      invariant(m.term !== 0, 'vote message must carry a term');
    }
    this.msgs.push(m);
  }

  private reply(msgType: MessageType, to: number): Message {
    const m = newMessage(msgType, to, this.id, 0);
    return m;
  }

  /**
   * Sends a MsgAppend (or a MsgSnapshot if the needed entries are compacted).
   * Returns true if a message was sent.
   */
  sendAppend(to: number, sendIfEmpty = true): boolean {
    const pr = this.tracker.get(to);
    if (pr === undefined || pr.isPaused()) return false;
    const prevIndex = pr.next - 1;
    invariantLazy(prevIndex <= this.log.lastIndex(), () => `progress next ${pr.next} past last ${this.log.lastIndex()}`);
    const prevTerm = this.log.termOrUndefined(prevIndex);
    const entries = prevTerm === undefined ? undefined : this.log.entriesFrom(pr.next, this.maxSizePerMsgBytes);
    if (prevTerm === undefined || entries === undefined) return this.sendSnapshot(to, pr);
    if (entries.length === 0 && !sendIfEmpty) return false;
    const m = this.reply(MessageType.MsgAppend, to);
    m.index = prevIndex;
    m.logTerm = prevTerm;
    m.entries = entries;
    m.commit = this.log.committed;
    this.send(m);
    if (entries.length > 0) pr.sentEntries(entries.length, defined(entries[entries.length - 1], 'entries[entries.length - 1]').index);
    return true;
  }

  private sendSnapshot(to: number, pr: Progress): boolean {
    let snap: Snapshot;
    try {
      snap = this.log.snapshot();
    } catch (err) {
      if (err instanceof ErrSnapshotTemporarilyUnavailable) return false;
      throw err;
    }
    invariant(!isEmptySnapshot(snap), 'need a non-empty snapshot to send');
    pr.becomeSnapshot(snapshotIndex(snap), this.leaderTicks);
    const m = this.reply(MessageType.MsgSnapshot, to);
    m.snapshot = snap;
    this.send(m);
    return true;
  }

  private sendHeartbeat(to: number, pr: Progress): void {
    const m = this.reply(MessageType.MsgHeartbeat, to);
    m.commit = Math.min(pr.match, this.log.committed);
    m.index = this.readOnly.latestSeq();
    this.send(m);
  }

  private bcastHeartbeat(): void {
    this.tracker.forEachPeer(this.id, (id, pr) => this.sendHeartbeat(id, pr));
  }

  /** Sends what the leader deferred: one MsgAppend per follower, heartbeats for reads. */
  flushPending(): void {
    if (this.state !== 'Leader') {
      this.pendingBroadcast = false;
      this.pendingHeartbeat = false;
      return;
    }
    if (this.pendingBroadcast) {
      this.pendingBroadcast = false;
      this.tracker.forEachPeer(this.id, (id) => this.sendAppend(id, true));
    }
    if (this.pendingHeartbeat) {
      this.pendingHeartbeat = false;
      this.bcastHeartbeat();
    }
  }

  /** Flushes and drains the outgoing messages (tests use this directly). */
  readMessages(): Message[] {
    this.flushPending();
    const msgs = this.msgs;
    this.msgs = [];
    return msgs;
  }

  // ------------------------------------------------------- state transitions

  private reset(term: number): void {
    invariantLazy(term >= this.term, () => `term goes back from ${this.term} to ${term}`);
    if (this.term !== term) {
      this.term = term;
      this.vote = NONE;
    }
    this.lead = NONE;
    this.electionElapsed = 0;
    this.heartbeatElapsed = 0;
    this.leaderTicks = 0;
    this.resetRandomizedElectionTimeout();
    this.leadTransferee = NONE;
    this.tracker.resetVotes();
    const last = this.log.lastIndex();
    for (const [id, pr] of this.tracker.entries()) {
      pr.match = id === this.id ? last : 0;
      pr.next = last + 1;
      pr.becomeProbe();
      pr.next = last + 1;
      pr.recentActive = id === this.id;
    }
    this.pendingConfIndex = 0;
    this.readOnly.reset();
    this.pendingBroadcast = false;
    this.pendingHeartbeat = false;
  }

  resetRandomizedElectionTimeout(): void {
    this.randomizedElectionTimeout = this.electionTimeout + Math.floor(this.random() * this.electionTimeout);
  }

  becomeFollower(term: number, lead: number): void {
    this.reset(term);
    this.lead = lead;
    this.state = 'Follower';
  }

  becomeCandidate(): void {
    invariant(this.state !== 'Leader', 'invalid transition [leader -> candidate]');
    this.reset(this.term + 1);
    this.vote = this.id;
    this.state = 'Candidate';
  }

  becomePreCandidate(): void {
    invariant(this.state !== 'Leader', 'invalid transition [leader -> pre-candidate]');
    // Term and vote are unchanged: a pre-vote round must not disturb anyone.
    this.tracker.resetVotes();
    this.lead = NONE;
    this.state = 'PreCandidate';
  }

  becomeLeader(): void {
    invariant(this.state !== 'Follower', 'invalid transition [follower -> leader]');
    this.reset(this.term);
    this.lead = this.id;
    this.state = 'Leader';
    this.leaderQuorumActive = true;
    const self = this.tracker.get(this.id);
    if (self !== undefined) self.becomeReplicate();
    // Conservatively, any conf change in the unapplied log may still be pending.
    this.pendingConfIndex = this.log.lastIndex();
    this.appendEntries([{ entryType: EntryType.EntryNormal, term: 0, index: 0, data: EMPTY_DATA }]);
  }

  // -------------------------------------------------------------------- tick

  tick(): void {
    if (this.startupLeaseTicks > 0) this.startupLeaseTicks--;
    if (this.state === 'Leader') this.tickHeartbeat();
    else this.tickElection();
  }

  private tickElection(): void {
    this.electionElapsed++;
    if (this.promotable() && this.electionElapsed >= this.randomizedElectionTimeout) {
      this.electionElapsed = 0;
      this.step(newMessage(MessageType.MsgHup, this.id, this.id, 0));
    }
  }

  private tickHeartbeat(): void {
    this.heartbeatElapsed++;
    this.electionElapsed++;
    this.leaderTicks++;
    if (this.electionElapsed >= this.electionTimeout) {
      this.electionElapsed = 0;
      if (!this.checkQuorumActive()) return;
      if (this.leadTransferee !== NONE) this.abortLeaderTransfer();
    }
    if (this.heartbeatElapsed >= this.heartbeatTimeout) {
      this.heartbeatElapsed = 0;
      this.step(newMessage(MessageType.MsgBeat, this.id, this.id, 0));
    }
  }

  /** CheckQuorum round; steps down and returns false if the quorum is gone. */
  private checkQuorumActive(): boolean {
    const active = this.tracker.quorumActive(this.id);
    for (const [id, pr] of this.tracker.entries()) {
      if (id !== this.id) pr.recentActive = false;
    }
    this.leaderQuorumActive = active;
    if (!active && this.checkQuorum) this.becomeFollower(this.term, NONE);
    return active || !this.checkQuorum;
  }

  // -------------------------------------------------------------------- step

  /** Processes one message. Throws ErrProposalDropped for refused proposals. */
  step(m: Message): void {
    if (m.term > this.term) {
      if (!this.stepHigherTerm(m)) return;
    } else if (m.term !== 0 && m.term < this.term) {
      this.stepLowerTerm(m);
      return;
    }
    switch (m.msgType) {
      case MessageType.MsgHup:
        this.hup(false);
        return;
      case MessageType.MsgRequestVote:
        this.handleVoteRequest(m);
        return;
      default:
        break;
    }
    switch (this.state) {
      case 'Leader':
        this.stepLeader(m);
        return;
      case 'Candidate':
      case 'PreCandidate':
        this.stepCandidate(m);
        return;
      case 'Follower':
        this.stepFollower(m);
        return;
    }
  }

  /**
   * Within a leader lease: we heard from a leader less than an election timeout ago, or we
   * restarted less than one ago (startInLease).
   */
  private inLease(): boolean {
    return (this.lead !== NONE && this.electionElapsed < this.electionTimeout) || this.startupLeaseTicks > 0;
  }

  /** Refuse pre-votes: we follow a live leader, or we are a leader backed by a quorum. */
  private refusesPreVote(): boolean {
    if (this.state === 'Leader') return this.leaderQuorumActive;
    return this.inLease();
  }

  /** Returns false if the message must be dropped. */
  private stepHigherTerm(m: Message): boolean {
    if (m.msgType === MessageType.MsgRequestVote) {
      if (m.commit === CampaignKind.PreVote) return true;
      if (this.checkQuorum && m.commit !== CampaignKind.Transfer && this.inLease()) return false;
      this.becomeFollower(m.term, NONE);
      return true;
    }
    if (m.msgType === MessageType.MsgRequestVoteResponse && m.commit === CampaignKind.PreVote && !m.reject) {
      // A granted pre-vote carries the future term; it changes nothing by itself.
      return true;
    }
    const fromLeader = m.msgType === MessageType.MsgAppend || m.msgType === MessageType.MsgHeartbeat || m.msgType === MessageType.MsgSnapshot;
    this.becomeFollower(m.term, fromLeader ? m.from : NONE);
    return true;
  }

  /** A message from an older term: tell its sender our term where that helps it catch up. */
  private stepLowerTerm(m: Message): void {
    switch (m.msgType) {
      case MessageType.MsgHeartbeat:
        this.send(this.reply(MessageType.MsgHeartbeatResponse, m.from));
        return;
      case MessageType.MsgAppend:
        this.send(this.reply(MessageType.MsgAppendResponse, m.from));
        return;
      case MessageType.MsgRequestVote: {
        const r = this.reply(MessageType.MsgRequestVoteResponse, m.from);
        r.term = this.term;
        r.reject = true;
        if (m.commit === CampaignKind.PreVote) r.commit = CampaignKind.PreVote;
        this.send(r);
        return;
      }
      default:
        return;
    }
  }

  private handleVoteRequest(m: Message): void {
    const pre = m.commit === CampaignKind.PreVote;
    const free = this.vote === m.from || (this.vote === NONE && this.lead === NONE);
    const canVote = pre ? !this.refusesPreVote() && (m.term > this.term || free) : free;
    const granted = canVote && this.log.isUpToDate(m.index, m.logTerm);
    if (granted && !pre) {
      this.electionElapsed = 0;
      this.vote = m.from;
    }
    const r = this.reply(MessageType.MsgRequestVoteResponse, m.from);
    r.term = pre && granted ? m.term : this.term;
    r.reject = !granted;
    if (pre) r.commit = CampaignKind.PreVote;
    this.send(r);
  }

  // ---------------------------------------------------------------- campaign

  private hup(transfer: boolean): void {
    if (this.state === 'Leader') return;
    if (!this.promotable()) return;
    if (this.log.hasUnappliedConfChange()) return;
    if (transfer) this.campaign(CampaignKind.Transfer);
    else this.campaign(this.preVote ? CampaignKind.PreVote : CampaignKind.Election);
  }

  private campaign(kind: CampaignKindValue): void {
    if (kind === CampaignKind.PreVote) this.becomePreCandidate();
    else this.becomeCandidate();
    this.tracker.recordVote(this.id, true);
    if (this.tracker.tallyVotes().result === 'Won') {
      if (kind === CampaignKind.PreVote) this.campaign(CampaignKind.Election);
      else this.becomeLeader();
      return;
    }
    const lastIndex = this.log.lastIndex();
    const lastTerm = this.log.lastTerm();
    const term = kind === CampaignKind.PreVote ? this.term + 1 : this.term;
    this.tracker.forEachPeer(this.id, (id) => {
      const m = this.reply(MessageType.MsgRequestVote, id);
      m.term = term;
      m.index = lastIndex;
      m.logTerm = lastTerm;
      m.commit = kind;
      this.send(m);
    });
  }

  private handleVoteResponse(m: Message): void {
    const pre = m.commit === CampaignKind.PreVote;
    if (this.state === 'Candidate' && pre) return; // a late pre-vote answer is not a vote
    if (this.state === 'PreCandidate') {
      // Grants carry our term + 1, rejections our term; unmarked answers at our
      // term (TinyKV peers, or late votes of our last election) count as well.
      const valid = pre && !m.reject ? m.term === this.term + 1 : m.term === this.term;
      if (!valid) return;
    }
    this.tracker.recordVote(m.from, !m.reject);
    const { result } = this.tracker.tallyVotes();
    if (result === 'Won') {
      if (this.state === 'PreCandidate') this.campaign(CampaignKind.Election);
      else this.becomeLeader();
    } else if (result === 'Lost') {
      this.becomeFollower(this.term, NONE);
    }
  }

  // --------------------------------------------------------- per-state steps

  private stepFollower(m: Message): void {
    switch (m.msgType) {
      case MessageType.MsgPropose:
        throw new ErrProposalDropped(`not leader (leader is ${this.lead})`);
      case MessageType.MsgAppend:
        this.electionElapsed = 0;
        this.lead = m.from;
        this.handleAppendEntries(m);
        return;
      case MessageType.MsgHeartbeat:
        this.electionElapsed = 0;
        this.lead = m.from;
        this.handleHeartbeat(m);
        return;
      case MessageType.MsgSnapshot:
        this.electionElapsed = 0;
        this.lead = m.from;
        this.handleSnapshot(m);
        return;
      case MessageType.MsgTransferLeader:
        this.forwardTransferLeader(m);
        return;
      case MessageType.MsgTimeoutNow:
        this.hup(true);
        return;
      default:
        return;
    }
  }

  private forwardTransferLeader(m: Message): void {
    if (this.lead === NONE) return;
    const fwd = newMessage(MessageType.MsgTransferLeader, this.lead, m.from, this.term);
    this.msgs.push(fwd);
  }

  private stepCandidate(m: Message): void {
    switch (m.msgType) {
      case MessageType.MsgPropose:
        throw new ErrProposalDropped('no leader (campaigning)');
      case MessageType.MsgAppend:
        this.becomeFollower(m.term, m.from);
        this.handleAppendEntries(m);
        return;
      case MessageType.MsgHeartbeat:
        this.becomeFollower(m.term, m.from);
        this.handleHeartbeat(m);
        return;
      case MessageType.MsgSnapshot:
        this.becomeFollower(m.term, m.from);
        this.handleSnapshot(m);
        return;
      case MessageType.MsgRequestVoteResponse:
        this.handleVoteResponse(m);
        return;
      default:
        return;
    }
  }

  private stepLeader(m: Message): void {
    switch (m.msgType) {
      case MessageType.MsgBeat:
        this.bcastHeartbeat();
        return;
      case MessageType.MsgPropose:
        this.handlePropose(m);
        return;
      case MessageType.MsgTransferLeader:
        this.handleTransferLeader(m);
        return;
      default:
        break;
    }
    const pr = this.tracker.get(m.from);
    if (pr === undefined) return;
    switch (m.msgType) {
      case MessageType.MsgAppendResponse:
        this.handleAppendResponse(m, pr);
        return;
      case MessageType.MsgHeartbeatResponse:
        this.handleHeartbeatResponse(m, pr);
        return;
      default:
        return;
    }
  }

  // ----------------------------------------------------------- leader side

  /** Assigns term and index, appends to the leader's log, and schedules replication. */
  private appendEntries(entries: readonly Entry[]): void {
    let index = this.log.lastIndex();
    const stamped: Entry[] = new Array<Entry>(entries.length);
    for (let k = 0; k < entries.length; k++) {
      const e = defined(entries[k], 'entries[k]');
      stamped[k] = { entryType: e.entryType, term: this.term, index: ++index, data: e.data };
    }
    const last = this.log.append(stamped);
    this.tracker.get(this.id)?.maybeUpdate(last);
    this.maybeCommit();
    this.pendingBroadcast = true;
  }

  private handlePropose(m: Message): void {
    invariant(m.entries.length > 0, 'stepped empty MsgPropose');
    if (!this.promotable()) throw new ErrProposalDropped('leader is not in the configuration');
    if (this.leadTransferee !== NONE) {
      throw new ErrProposalDropped(`leader transfer to ${this.leadTransferee} in progress`);
    }
    let confChanges = 0;
    for (const e of m.entries) if (e.entryType === EntryType.EntryConfChange) confChanges++;
    if (confChanges > 0) {
      if (confChanges > 1 || this.pendingConfIndex > this.log.applied) {
        throw new ErrProposalDropped('a conf change is already pending');
      }
    }
    const first = this.log.lastIndex() + 1;
    this.appendEntries(m.entries);
    if (confChanges > 0) {
      const k = m.entries.findIndex((e) => e.entryType === EntryType.EntryConfChange);
      this.pendingConfIndex = first + k;
    }
  }

  /** Advances commit to the quorum index if it is in the current term. */
  maybeCommit(): boolean {
    const index = this.tracker.committedIndex();
    if (index <= this.log.committed) return false;
    if (this.log.termOrUndefined(index) !== this.term) return false;
    this.log.commitTo(index);
    const moved = this.readOnly.promoteWaiting(index);
    if (moved > 0) {
      this.pendingHeartbeat = true;
      this.releaseReads();
    }
    return true;
  }

  private handleAppendResponse(m: Message, pr: Progress): void {
    pr.recentActive = true;
    if (m.reject) {
      this.handleAppendRejection(m, pr);
      return;
    }
    const wasPaused = pr.isPaused();
    const updated = pr.maybeUpdate(m.index);
    // A probe acknowledged at the current match also proves the logs agree.
    if (!updated && !(pr.state === 'Probe' && pr.match === m.index)) return;
    if (pr.state === 'Probe') pr.becomeReplicate();
    else if (pr.state === 'Snapshot' && pr.match >= pr.pendingSnapshot) pr.becomeReplicate();
    else if (pr.state === 'Replicate') pr.inflights.freeLE(m.index);
    if (this.maybeCommit()) this.pendingBroadcast = true;
    else if (wasPaused) this.sendAppend(m.from, false);
    while (this.sendAppend(m.from, false)) {
      /* send while the window allows */
    }
    if (m.from === this.leadTransferee && pr.match === this.log.lastIndex()) this.sendTimeoutNow(m.from);
  }

  private handleAppendRejection(m: Message, pr: Progress): void {
    let hint = m.commit;
    if (m.logTerm > 0) hint = this.log.findConflictByTerm(Math.min(hint, this.log.lastIndex()), m.logTerm)[0];
    if (!pr.maybeDecrTo(m.index, hint)) return;
    this.sendAppend(m.from);
  }

  private handleHeartbeatResponse(m: Message, pr: Progress): void {
    pr.recentActive = true;
    pr.probeSent = false;
    if (pr.state === 'Replicate' && pr.inflights.full()) pr.inflights.freeFirstOne();
    if (pr.state === 'Snapshot' && this.leaderTicks - pr.snapshotSentAtTick >= this.electionTimeout) {
      // The snapshot (or its acknowledgement) was probably lost: probe again.
      pr.becomeProbe();
    }
    if (pr.match < this.log.lastIndex()) this.sendAppend(m.from);
    if (m.index > 0) {
      this.readOnly.recvAck(m.from, m.index);
      this.releaseReads();
    }
  }

  private releaseReads(): void {
    if (this.readOnly.pendingCount() === 0) return;
    const latest = this.readOnly.latestSeq();
    const confirmed = this.tracker.quorumValue((_pr, id) => (id === this.id ? latest : this.readOnly.ackOf(id)));
    for (const rs of this.readOnly.release(confirmed)) this.readStates.push(rs);
  }

  /** Leader-side ReadIndex. Throws ErrProposalDropped when not leader or overloaded. */
  readIndex(requestCtx: Uint8Array): void {
    if (this.state !== 'Leader') throw new ErrProposalDropped(`not leader (leader is ${this.lead})`);
    if (this.log.termOrUndefined(this.log.committed) !== this.term) {
      if (!this.readOnly.defer(requestCtx)) throw new ErrProposalDropped('too many pending reads');
      return;
    }
    if (this.readOnly.add(this.log.committed, requestCtx) === 0) {
      throw new ErrProposalDropped('too many pending reads');
    }
    this.pendingHeartbeat = true;
    this.releaseReads();
  }

  private handleTransferLeader(m: Message): void {
    const transferee = m.from;
    const pr = this.tracker.get(transferee);
    if (pr === undefined) return;
    if (this.leadTransferee !== NONE) {
      if (this.leadTransferee === transferee) return;
      this.abortLeaderTransfer();
    }
    if (transferee === this.id) return;
    this.electionElapsed = 0;
    this.leadTransferee = transferee;
    if (pr.match === this.log.lastIndex()) this.sendTimeoutNow(transferee);
    else this.sendAppend(transferee);
  }

  private sendTimeoutNow(to: number): void {
    this.send(this.reply(MessageType.MsgTimeoutNow, to));
  }

  abortLeaderTransfer(): void {
    this.leadTransferee = NONE;
  }

  // ---------------------------------------------------------- follower side

  private handleAppendEntries(m: Message): void {
    const r = this.reply(MessageType.MsgAppendResponse, m.from);
    if (m.index < this.log.committed) {
      r.index = this.log.committed;
      this.send(r);
      return;
    }
    const lastNew = this.log.maybeAppend(m.index, m.logTerm, m.commit, m.entries);
    if (lastNew !== undefined) {
      r.index = lastNew;
      this.send(r);
      return;
    }
    const [hintIndex, hintTerm] = this.log.findConflictByTerm(Math.min(m.index, this.log.lastIndex()), m.logTerm);
    r.index = m.index;
    r.reject = true;
    r.logTerm = hintTerm;
    r.commit = hintIndex;
    this.send(r);
  }

  private handleHeartbeat(m: Message): void {
    this.log.commitTo(Math.min(m.commit, this.log.lastIndex()));
    const r = this.reply(MessageType.MsgHeartbeatResponse, m.from);
    r.index = m.index;
    this.send(r);
  }

  private handleSnapshot(m: Message): void {
    const r = this.reply(MessageType.MsgAppendResponse, m.from);
    if (m.snapshot !== undefined && this.restore(m.snapshot)) r.index = this.log.lastIndex();
    else r.index = this.log.committed;
    this.send(r);
  }

  /** Installs a snapshot; returns false if it is stale or already covered by our log. */
  restore(snap: Snapshot): boolean {
    const index = snapshotIndex(snap);
    if (index <= this.log.committed) return false;
    const nodes = snap.metadata?.confState?.nodes ?? [];
    if (nodes.length > 0 && !nodes.includes(this.id)) return false;
    if (this.log.matchTerm(index, snapshotTerm(snap))) {
      this.log.commitTo(index);
      return false;
    }
    this.log.restore(snap);
    for (const id of [...this.tracker.ids()]) this.tracker.remove(id);
    const last = this.log.lastIndex();
    for (const id of nodes) this.tracker.add(id, id === this.id ? last : 0, last + 1);
    this.pendingConfIndex = 0;
    return true;
  }

  // ----------------------------------------------------------- conf change

  /** Applies a committed conf change and returns the new configuration. */
  applyConfChange(cc: ConfChange): ConfState {
    if (cc.nodeId !== NONE) {
      if (cc.changeType === ConfChangeType.AddNode) this.addNode(cc.nodeId);
      else if (cc.changeType === ConfChangeType.RemoveNode) this.removeNode(cc.nodeId);
    }
    return { nodes: [...this.tracker.ids()] };
  }

  addNode(id: number): void {
    this.tracker.add(id, 0, this.log.lastIndex() + 1);
  }

  removeNode(id: number): void {
    if (!this.tracker.remove(id)) return;
    if (this.state !== 'Leader') return;
    if (id === this.id) {
      this.becomeFollower(this.term, NONE);
      return;
    }
    if (this.leadTransferee === id) this.abortLeaderTransfer();
    if (this.maybeCommit()) this.pendingBroadcast = true;
    this.releaseReads();
  }

  // -------------------------------------------------------- flow feedback

  /** The transport could not deliver to `id`: stop pipelining to it. */
  reportUnreachable(id: number): void {
    const pr = this.tracker.get(id);
    if (this.state === 'Leader' && pr !== undefined && pr.state === 'Replicate') pr.becomeProbe();
  }

  /** Outcome of sending a snapshot to `id`. */
  reportSnapshot(id: number, failed: boolean): void {
    const pr = this.tracker.get(id);
    if (this.state !== 'Leader' || pr === undefined || pr.state !== 'Snapshot') return;
    if (failed) pr.pendingSnapshot = 0;
    pr.becomeProbe();
    pr.probeSent = true;
  }
}

const EMPTY_DATA = Buffer.alloc(0);

export function isEmptyHardState(hs: HardState): boolean {
  return hs.term === 0 && hs.vote === 0 && hs.commit === 0;
}

export function hardStateEqual(a: HardState, b: HardState): boolean {
  return a.term === b.term && a.vote === b.vote && a.commit === b.commit;
}
