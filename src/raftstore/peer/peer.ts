/**
 * One region peer: a RawNode over PeerStorage, driven by its store in rounds (see batch/store.ts):
 *   takeReady → (store persists every peer's writes in one batch) → onPersisted → handOff → advance;
 * the apply system (apply/applier.ts) applies what was handed off, answers, and reports back
 * (onApplied).
 *
 * The peer drives Raft and dispatches commands; what it does for each kind of command lives in
 * ../operation/: writes wait for their entries (WriteProposals), reads for their ReadIndex
 * (ReadIndexReads), log compaction is proposed on ticks (LogCompaction), and a leader transfer is
 * asked of Raft and answered at once (transferLeader).
 */
import type { Logger } from 'pino';
import { ConfChange, MessageType, type Entry, type Message } from '../../proto/eraftpb.js';
import type { Peer as PeerMeta, Region } from '../../proto/metapb.js';
import { AdminCmdType, type RaftCmdRequest } from '../../proto/raft_cmdpb.js';
import type { RaftMessage } from '../../proto/raft_serverpb.js';
import { NONE, RawNode, RaftError, RaftInvariantError, type RandomSource, type Ready, type StateType } from '../../raft/index.js';
import { assert } from '../../util/assert.js';
import type { ApplyResult, ApplyTask } from '../apply/applier.js';
import type { ReplyAddress } from '../router/command-callback.js';
import { leaderLeaseMsOf, type RaftstoreConfig } from '../config.js';
import { checkCommand, errorResponse, isReadOnly, type ProposingPeer } from '../operation/command.js';
import { ConfChangeProposals } from '../operation/conf-change.js';
import { checkSplit, isSplit } from '../operation/split.js';
import { adoptApplyState, LogCompaction, type RaftLogRange } from '../operation/compact-log.js';
import { ReadIndexReads } from '../operation/read.js';
import { isTransferLeader, transferLeader } from '../operation/transfer-leader.js';
import { WriteProposals } from '../operation/write.js';
import type { CommandCallback } from '../router/command-callback.js';
import { RegionError, staleCommand } from '../router/errors.js';
import { PeerStorage, type PeerEngines, type ReadyWrites } from './peer-storage.js';
import { PeerLiveness, type SilentPeer } from './peer-liveness.js';
import type { SnapshotSource } from '../snapshot/snapshot-source.js';
import { epochOf, findPeerById } from '../region.js';
import type { RaftstoreMetrics } from '../../metrics/thread-recorder.js';
import type { RoleLog } from './role-log.js';
import type { MonotonicClock } from '../../env/clock.js';
import type { LeasePublisher } from '../batch/lease-table.js';
import { LeaderLease } from './leader-lease.js';

/** Senders a peer remembers beyond its region's members (a region has a handful of peers). */
const MAX_PEER_CACHE = 64;

/** What a peer needs from the store that hosts it. */
export interface PeerHost {
  readonly storeId: number;
  readonly engines: PeerEngines;
  readonly snapshots: SnapshotSource;
  readonly config: RaftstoreConfig;
  readonly random: RandomSource;
  readonly logger: Logger;
  /** The store's metrics recorder (one per store thread). */
  readonly metrics: RaftstoreMetrics;
  /** Where the peer's changes to and from leader are logged; none logs nothing. */
  readonly roleLog?: RoleLog;
  /** What leader leases are measured on. */
  readonly clock: MonotonicClock;
  /** Where a leader's lease is published for another thread's reads (batch/lease-table.ts). */
  readonly leases: LeasePublisher;
  send(message: RaftMessage): void;
  /** The store's live region right of `region` (starting at its end), if any. */
  siblingOf(region: Region): Region | undefined;
}

export interface PendingReady {
  readonly ready: Ready;
  readonly writes: ReadyWrites;
  /** Messages already sent before the writes were durable (a leader's appends and heartbeats). */
  sentEarly?: Set<Message>;
}

export class Peer implements ProposingPeer {
  readonly regionId: number;
  private readonly node: RawNode;
  private readonly writes: WriteProposals;
  private readonly reads: ReadIndexReads;
  private readonly logCompaction: LogCompaction;
  private readonly confChanges: ConfChangeProposals;
  /**
   * Peers this peer heard from, for addressing its answers to peers its region does not list (yet):
   * an uninitialized peer knows no members before its snapshot. Bounded by MAX_PEER_CACHE.
   */
  private readonly peerCache = new Map<number, PeerMeta>();
  private readonly liveness = new PeerLiveness();
  /** The role last reported by Raft's soft state, for logging changes to and from leader. */
  private role: StateType;
  private readonly lease: LeaderLease;
  /** When this leader last asked for a round only to renew its lease (monotonic ms). */
  private renewalAskedAtMs = -Infinity;

  private constructor(
    private readonly host: PeerHost,
    readonly meta: PeerMeta,
    readonly storage: PeerStorage,
    restarted = false,
  ) {
    this.regionId = storage.regionId;
    const { config } = host;
    this.lease = new LeaderLease(leaderLeaseMsOf(config));
    this.node = new RawNode({
      id: meta.id,
      electionTick: config.raftElectionTimeoutTicks,
      heartbeatTick: config.raftHeartbeatTicks,
      storage,
      applied: storage.appliedIndex,
      random: host.random,
      preVote: true,
      checkQuorum: true,
      // Leaders serve lease reads on this store's promise not to vote: it keeps it across a restart,
      // whatever its own lease setting (another store's leader may be using one).
      startInLease: restarted,
      maxSizePerMsgBytes: config.maxSizePerMsgBytes,
      maxInflightMsgs: config.maxInflightMsgs,
    });
    this.writes = new WriteProposals(this, this.node, host.metrics);
    this.reads = new ReadIndexReads(this, this.node, host.metrics, {
      nowMs: () => host.clock.nowMs(),
      leaseReadIndex: (nowMs) => (this.lease.covers(nowMs, this.appliedIndex, this.transferring()) ? this.node.raft.log.committed : undefined),
      onConfirmed: (term, askedAtMs) => {
        this.lease.renew(term, askedAtMs, this.appliedIndex, this.transferring());
        this.publishLease();
      },
    });
    this.logCompaction = new LogCompaction(this, this.writes, config);
    this.confChanges = new ConfChangeProposals(this, this.node, this.writes);
    this.role = this.node.raft.state;
  }

  /** `restarted`: a peer this store ran before it stopped (loaded from disk at start). */
  static create(host: PeerHost, region: Region, peerId: number, restarted = false): Peer {
    const meta = findPeerById(region, peerId);
    assert(meta !== undefined && meta.storeId === host.storeId, `peer ${peerId} of region ${region.id} is not on store ${host.storeId}`);
    const peer = new Peer(host, meta, PeerStorage.load(region.id, host, region), restarted);
    // A single-peer region elects itself at once instead of waiting out an election timeout.
    if (region.peers.length === 1) peer.node.campaign();
    return peer;
  }

  /**
   * A peer created by a Raft message for a region this store did not host (TinyKV's
   * maybeCreatePeer): it knows neither range nor members, and its leader catches it up by snapshot.
   */
  static createUninitialized(host: PeerHost, regionId: number, meta: PeerMeta): Peer {
    assert(meta.storeId === host.storeId, `peer ${meta.id} of region ${regionId} is not on store ${host.storeId}`);
    const region: Region = { id: regionId, startKey: Buffer.alloc(0), endKey: Buffer.alloc(0), regionEpoch: { confVer: 0, version: 0 }, peers: [] };
    return new Peer(host, { id: meta.id, storeId: meta.storeId }, PeerStorage.load(regionId, host, region));
  }

  get region(): Region {
    return this.storage.region;
  }

  isInitialized(): boolean {
    return this.storage.isInitialized();
  }

  get appliedIndex(): number {
    return this.storage.appliedIndex;
  }

  get storeId(): number {
    return this.host.storeId;
  }

  isLeader(): boolean {
    return this.node.raft.state === 'Leader';
  }

  leaderId(): number {
    return this.node.raft.lead;
  }

  leaderPeer(): PeerMeta | undefined {
    const lead = this.leaderId();
    return lead === 0 ? undefined : findPeerById(this.region, lead);
  }

  term(): number {
    return this.node.raft.term;
  }

  status() {
    return this.node.status();
  }

  /**
   * Leader only: followers whose log match is below the truncated index, so only a snapshot can
   * catch them up (TinyKV's CollectPendingPeers), in id order.
   */
  pendingPeers(): PeerMeta[] {
    if (!this.isLeader()) return [];
    const truncatedIndex = this.storage.truncatedIndex;
    const out: PeerMeta[] = [];
    for (const [id, progress] of this.node.getProgress()) {
      const peer = id === this.meta.id || progress.match >= truncatedIndex ? undefined : findPeerById(this.region, id);
      if (peer) out.push(peer);
    }
    return out.sort((a, b) => a.id - b.id);
  }

  /** Leader only: followers it has not heard from for raftstore.max-peer-down-duration, in id order. */
  downPeers(): SilentPeer[] {
    return this.isLeader() ? this.liveness.down(this.host.config.maxPeerDownTicks) : [];
  }

  // --- input ---

  tick(): void {
    this.node.tick();
    this.logCompaction.onTick();
    const leading = this.isLeader();
    this.liveness.onTick(leading, leading ? this.followerIds() : []);
    if (leading) this.maybeRenewLease();
    this.publishLease();
  }

  /**
   * A leader whose reads all come from its lease asks for no quorum rounds of its own, so it asks
   * for one when half the lease is gone (at most once per quarter lease while one is unanswered).
   */
  private maybeRenewLease(): void {
    const nowMs = this.host.clock.nowMs();
    if (!this.lease.wantsRenewal(nowMs) || nowMs - this.renewalAskedAtMs < this.lease.maxLeaseMs / 4) return;
    this.renewalAskedAtMs = nowMs;
    this.reads.askRenewal();
  }

  private transferring(): boolean {
    return this.node.raft.leadTransferee !== NONE;
  }

  /**
   * Writes this peer's lease where the main thread reads it (or ends it there). Called wherever
   * the lease, the leadership, the region or the applied index may have changed; a leader transfer
   * ends the lease before its TimeoutNow can be sent.
   */
  private publishLease(): void {
    const transferring = this.transferring();
    if (transferring) this.lease.expire();
    // A leader whose own removal applied serves nothing more here (its peer is about to go).
    const serving = this.isLeader() && this.isInitialized() && !this.isRemoved();
    const untilMs = serving ? this.lease.publishableUntilMs(this.appliedIndex, transferring) : 0;
    if (untilMs > 0) this.host.leases.publish(this.regionId, this.term(), epochOf(this.region), untilMs);
    else this.host.leases.revoke(this.regionId);
  }

  private followerIds(): number[] {
    const ids: number[] = [];
    for (const peer of this.region.peers) if (peer.id !== this.meta.id) ids.push(peer.id);
    return ids;
  }

  campaign(): void {
    this.node.campaign();
  }

  /** The last index of this peer's Raft log (stable or not yet persisted). */
  lastIndex(): number {
    return this.node.raft.log.lastIndex();
  }

  step(message: RaftMessage): void {
    const raftMessage = message.message;
    if (!raftMessage) return;
    const from = message.fromPeer;
    if (from) this.liveness.heard(from.id);
    if (from && !this.peerCache.has(from.id)) {
      if (this.peerCache.size >= MAX_PEER_CACHE) this.peerCache.clear();
      this.peerCache.set(from.id, { id: from.id, storeId: from.storeId });
    }
    try {
      this.node.step(raftMessage);
      // A follower's MsgTransferLeader starts a transfer here: the lease ends before the TimeoutNow goes.
      if (this.transferring()) this.publishLease();
    } catch (err) {
      // An internal failure (a corrupted log entry, a broken invariant: a committed entry
      // overwritten, a commit past the log) is not a bad message: it must reach the store's
      // fail-stop, not be dropped with the message.
      if (!(err instanceof RaftError) || err instanceof RaftInvariantError) throw err;
      // A response from a peer this node does not know (e.g. removed) is dropped, as etcd does.
      this.host.logger.debug({ err, regionId: this.regionId }, 'raft message dropped');
    }
  }

  /**
   * Checks and proposes a command; the callback answers it, with a region error if need be.
   * `encoded`, when given, is the request's encoding (the log entry takes it as is). `replyTo`, when
   * given, is where the apply system sends the answer instead of calling `callback` (which still
   * answers refusals here).
   */
  propose(request: RaftCmdRequest, callback: CommandCallback, encoded?: Uint8Array, replyTo?: ReplyAddress): void {
    try {
      if (request.adminRequest?.cmdType === AdminCmdType.ChangePeer && this.confChanges.answerIfInEffect(request, callback)) return;
      checkCommand(request, this);
      // Never enters the log, so it neither waits nor counts as pending.
      if (isTransferLeader(request)) {
        this.host.metrics.proposal('transfer_leader');
        callback({ response: transferLeader(request, this, this.node) });
        this.publishLease();
        return;
      }
      const waiting = this.writes.length + this.reads.length;
      if (waiting >= this.host.config.maxPendingProposals) {
        throw new RegionError({ ...staleCommand().regionError, message: `region ${this.regionId} has too many pending proposals` });
      }
      if (isReadOnly(request)) {
        this.reads.propose(request, callback, replyTo);
        this.host.metrics.proposal('read');
      } else if (request.adminRequest?.cmdType === AdminCmdType.ChangePeer) {
        this.confChanges.propose(request, callback, replyTo);
        this.lease.hold(this.lastIndex());
        this.host.metrics.proposal('conf_change');
      } else {
        // A split is a normal entry; its request is checked here and again at apply.
        const split = isSplit(request);
        if (split) checkSplit(request, this.region);
        this.writes.propose(request, callback, encoded, replyTo);
        if (split) this.lease.hold(this.lastIndex());
        this.host.metrics.proposal(split ? 'split' : 'normal');
      }
    } catch (err) {
      if (!(err instanceof RegionError)) throw err;
      const stale = err.regionError.epochNotMatch;
      // After a split the client's key may be in the new region, which it may not know yet.
      const sibling = stale && this.host.siblingOf(this.region);
      if (stale && sibling) stale.currentRegions.push(sibling);
      callback({ response: errorResponse(err.regionError, this.term()) });
    }
  }

  // --- the ready cycle ---

  hasReady(): boolean {
    return this.reads.hasBatch() || this.node.hasReady();
  }

  takeReady(): PendingReady | undefined {
    this.reads.askReadIndex();
    // Before this round's messages go: a transfer's TimeoutNow must not leave while the lease holds.
    this.publishLease();
    if (!this.node.hasReady()) return undefined;
    const ready = this.node.ready();
    return { ready, writes: this.storage.prepareReady(ready) };
  }

  /**
   * A leader sends its appends and heartbeats before its own log write is durable, so followers
   * persist in parallel with it (etcd's and TiKV's "parallel append"). This is safe here: the
   * leader counts its own entries toward a commit, but nothing built on that commit (applying,
   * answering clients, telling followers the commit index) happens before this round's writes are
   * durable, because rounds never overlap. Everything else (votes, acknowledgements) waits.
   */
  sendEarly(pending: PendingReady): void {
    if (!this.isLeader()) return;
    const early = new Set<Message>();
    for (const message of pending.ready.messages) {
      if (message.msgType === MessageType.MsgAppend || message.msgType === MessageType.MsgHeartbeat) {
        this.host.send(this.wrap(message));
        early.add(message);
      }
    }
    pending.sentEarly = early;
  }

  /** After the Ready's writes are durable: adopt the new state and send the remaining messages. */
  onPersisted(pending: PendingReady): void {
    this.storage.commitReady(pending.writes);
    for (const message of pending.ready.messages) if (!pending.sentEarly?.has(message)) this.host.send(this.wrap(message));
    this.reads.onReadStates(pending.ready.readStates);
    // A soft state comes only when it changed: a Leader in it is a peer that just took the lead.
    const softState = pending.ready.softState;
    if (softState?.raftState === 'Leader') {
      this.host.metrics.leaderChange();
      this.lease.onLeader(this.node.raft.term, this.lastIndex());
    } else if (softState) {
      this.lease.onStepDown();
      this.reads.failUnconfirmed();
    }
    if (softState) this.publishLease();
    if (softState) {
      const term = pending.ready.hardState?.term ?? this.node.raft.term;
      this.host.roleLog?.note({ regionId: this.regionId, peerId: this.meta.id, term, before: this.role, after: softState });
      this.role = softState.raftState;
    }
  }

  /**
   * Hands newly committed entries to the apply system with the proposals they answer and the reads
   * confirmed since the last hand-over. A proposal whose index was taken by another leader's entry
   * will never apply: it is answered StaleCommand here.
   */
  handOff(entries: readonly Entry[]): ApplyTask | undefined {
    const replies = this.writes.takeAnswered(entries);
    const reads = this.reads.takeConfirmed();
    if (entries.length === 0 && reads.length === 0) return undefined;
    return { regionId: this.regionId, entries, replies, reads };
  }

  /**
   * The apply system applied up to a new state: Raft and the region take the conf changes it
   * applied. Returns the raft-log range it made collectable.
   */
  onApplied(result: Pick<ApplyResult, 'applyState' | 'confChanges' | 'region'>): RaftLogRange | undefined {
    // A snapshot adopted since may already be ahead of this report (its region has the changes).
    if (result.applyState.appliedIndex <= this.storage.appliedIndex) return undefined;
    for (const change of result.confChanges) {
      this.node.applyConfChange(ConfChange.fromPartial({ changeType: change.changeType, nodeId: change.peer.id }));
    }
    if (result.region) this.storage.setRegion(result.region);
    const range = adoptApplyState(this.storage, result.applyState);
    this.publishLease();
    return range;
  }

  /** Whether this peer is no longer a member of its region (its removal applied). */
  isRemoved(): boolean {
    return this.storage.isInitialized() && findPeerById(this.region, this.meta.id) === undefined;
  }

  advance(pending: PendingReady): void {
    this.node.advance(pending.ready);
  }

  /** Fails every waiting command (the peer is going away). */
  failAll(error: RegionError): void {
    this.writes.failAll(error);
    this.reads.failAll(error);
  }

  private wrap(message: Message): RaftMessage {
    const to = findPeerById(this.region, message.to) ?? this.peerCache.get(message.to);
    const region = this.region;
    const initial = message.msgType === MessageType.MsgRequestVote || (message.msgType === MessageType.MsgHeartbeat && message.commit === 0);
    return {
      regionId: this.regionId,
      fromPeer: this.meta,
      toPeer: to ?? { id: message.to, storeId: 0 },
      message,
      regionEpoch: epochOf(region),
      isTombstone: false,
      startKey: initial ? region.startKey : Buffer.alloc(0),
      endKey: initial ? region.endKey : Buffer.alloc(0),
    };
  }
}
