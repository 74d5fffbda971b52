/**
 * One region peer: a RawNode over PeerStorage, the proposals waiting for their entries, and the
 * reads waiting for their ReadIndex. The store drives it in rounds (see store.ts):
 *   takeReady → (store persists every peer's writes in one batch) → onPersisted → handOff → advance;
 * the apply system (apply.ts) applies what was handed off, answers, and reports back (onApplied).
 *
 * Reads are linearizable through ReadIndex: the leader confirms with a quorum heartbeat round that
 * it is still leader, then serves from the kv engine once its applied index reaches the read
 * index. A deposed leader cannot complete that round, so it never serves a stale read.
 */
import type { Logger } from 'pino';
import type { EngineSnapshot } from '../../engine/engine.js';
import { MessageType, type Entry, type Message } from '../../proto/eraftpb.js';
import type { Peer as PeerMeta, Region } from '../../proto/metapb.js';
import { AdminCmdType, CmdType, RaftCmdRequest, type RaftCmdResponse, type Request } from '../../proto/raft_cmdpb.js';
import type { RaftApplyState, RaftMessage } from '../../proto/raft_serverpb.js';
import { RawNode, ErrProposalDropped, RaftError, RaftInvariantError, type RandomSource, type Ready } from '../../raft/index.js';
import { assert } from '../../util/assert.js';
import type { ApplyRead, ApplyReply, ApplyTask, ReplyAddress } from '../apply/applier.js';
import type { RaftstoreConfig } from '../config.js';
import { errorResponse, isReadOnly } from '../operation/command.js';
import { epochNotMatch, keyNotInRegion, notLeader, RegionError, staleCommand, storeNotMatch } from '../router/errors.js';
import { PeerStorage, type PeerEngines, type ReadyWrites } from './peer-storage.js';
import type { SnapshotSource } from '../snapshot/snapshot-source.js';
import { epochOf, findPeerById, keyInRegion } from '../region.js';

export interface CommandResult {
  readonly response: RaftCmdResponse;
  /** For Snap: a kv snapshot at the read point, owned by the receiver (close it). */
  readonly snapshot?: EngineSnapshot;
}

export type CommandCallback = (result: CommandResult) => void;

/** What a peer needs from the store that hosts it. */
export interface PeerHost {
  readonly storeId: number;
  readonly engines: PeerEngines;
  readonly snapshots: SnapshotSource;
  readonly config: RaftstoreConfig;
  readonly random: RandomSource;
  readonly logger: Logger;
  send(message: RaftMessage): void;
}

interface Proposal {
  readonly index: number;
  readonly term: number;
  readonly callback: CommandCallback;
  /** Where the apply system answers, when not through `callback` (a command from another thread). */
  readonly replyTo: ReplyAddress | undefined;
}

interface PendingRead {
  readonly request: RaftCmdRequest;
  readonly callback: CommandCallback;
  readonly replyTo: ReplyAddress | undefined;
}

export interface PendingReady {
  readonly ready: Ready;
  readonly writes: ReadyWrites;
  /** Messages already sent before the writes were durable (a leader's appends and heartbeats). */
  sentEarly?: Set<Message>;
}

export class Peer {
  readonly regionId: number;
  private readonly node: RawNode;
  private readonly proposals: Proposal[] = [];
  /**
   * Reads of this round, not yet asked for: one ReadIndex serves them all (as etcd and TiKV batch
   * reads), instead of a quorum heartbeat round per read.
   */
  private readBatch: PendingRead[] = [];
  /** Batches waiting for the leader to confirm it still leads (ReadIndex), by request context. */
  private readonly pendingReads = new Map<string, PendingRead[]>();
  private pendingReadCount = 0;
  /** Confirmed reads, handed to the apply system with the next hand-over. */
  private readonly confirmedReads: ApplyRead[] = [];
  private nextReadId = 1;
  private ticksSinceLogGc = 0;
  private logGcPending = false;

  private constructor(
    private readonly host: PeerHost,
    readonly meta: PeerMeta,
    readonly storage: PeerStorage,
  ) {
    this.regionId = storage.regionId;
    const { config } = host;
    this.node = new RawNode({
      id: meta.id,
      electionTick: config.raftElectionTimeoutTicks,
      heartbeatTick: config.raftHeartbeatTicks,
      storage,
      applied: storage.appliedIndex,
      random: host.random,
      preVote: true,
      checkQuorum: true,
      maxSizePerMsgBytes: config.maxSizePerMsgBytes,
      maxInflightMsgs: config.maxInflightMsgs,
    });
  }

  static create(host: PeerHost, region: Region, peerId: number): Peer {
    const meta = findPeerById(region, peerId);
    assert(meta !== undefined && meta.storeId === host.storeId, `peer ${peerId} of region ${region.id} is not on store ${host.storeId}`);
    const peer = new Peer(host, meta, PeerStorage.load(region.id, host, region));
    // A single-peer region elects itself at once instead of waiting out an election timeout.
    if (region.peers.length === 1) peer.node.campaign();
    return peer;
  }

  get region(): Region {
    return this.storage.region;
  }

  isLeader(): boolean {
    return this.node.raft.state === 'Leader';
  }

  leaderId(): number {
    return this.node.raft.lead;
  }

  term(): number {
    return this.node.raft.term;
  }

  status() {
    return this.node.status();
  }

  // --- input ---

  tick(): void {
    this.node.tick();
    if (++this.ticksSinceLogGc >= this.host.config.raftLogGcTickInterval) {
      this.ticksSinceLogGc = 0;
      this.maybeProposeLogGc();
    }
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
    try {
      this.node.step(raftMessage);
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
      this.checkRequest(request);
      const waiting = this.proposals.length + this.readBatch.length + this.pendingReadCount + this.confirmedReads.length;
      if (waiting >= this.host.config.maxPendingProposals) {
        throw new RegionError({ ...staleCommand().regionError, message: `region ${this.regionId} has too many pending proposals` });
      }
      if (isReadOnly(request)) this.proposeRead(request, callback, replyTo);
      else this.proposeWrite(request, callback, encoded, replyTo);
    } catch (err) {
      if (err instanceof RegionError) callback({ response: errorResponse(err.regionError, this.term()) });
      else throw err;
    }
  }

  private proposeRead(request: RaftCmdRequest, callback: CommandCallback, replyTo: ReplyAddress | undefined): void {
    this.readBatch.push({ request, callback, replyTo });
  }

  /** Asks Raft for one ReadIndex covering every read of this round. */
  private askReadIndex(): void {
    if (this.readBatch.length === 0) return;
    const batch = this.readBatch;
    this.readBatch = [];
    if (!this.isLeader()) {
      // Stepped down since these reads were accepted: only a leader can confirm them.
      const error = notLeader(this.regionId, this.leaderPeer()).regionError;
      for (const read of batch) read.callback({ response: errorResponse(error, this.term()) });
      return;
    }
    const ctx = Buffer.alloc(8);
    ctx.writeBigUInt64BE(BigInt(this.nextReadId++));
    this.pendingReads.set(ctx.toString('hex'), batch);
    this.pendingReadCount += batch.length;
    this.node.readIndex(ctx);
  }

  private proposeWrite(request: RaftCmdRequest, callback: CommandCallback, encoded?: Uint8Array, replyTo?: ReplyAddress): void {
    try {
      this.node.propose(encoded ?? RaftCmdRequest.encode(request).finish());
    } catch (err) {
      if (err instanceof ErrProposalDropped) throw notLeader(this.regionId, this.leaderPeer());
      throw err;
    }
    this.proposals.push({ index: this.node.raft.log.lastIndex(), term: this.term(), callback, replyTo });
  }

  private checkRequest(request: RaftCmdRequest): void {
    const header = request.header;
    const storeId = header?.peer?.storeId ?? 0;
    if (storeId !== 0 && storeId !== this.host.storeId) throw storeNotMatch(storeId, this.host.storeId);
    if (!this.isLeader()) throw notLeader(this.regionId, this.leaderPeer());
    const headerTerm = header?.term ?? 0;
    if (headerTerm !== 0 && this.term() > headerTerm + 1) throw staleCommand();
    const epoch = header?.regionEpoch;
    const current = epochOf(this.region);
    const admin = request.adminRequest;
    // Data commands race with splits (version); membership commands with conf changes (conf_ver).
    const checkVersion = !admin || admin.cmdType === AdminCmdType.Split || admin.cmdType === AdminCmdType.TransferLeader;
    const checkConfVer = admin !== undefined && admin.cmdType !== AdminCmdType.CompactLog;
    if (epoch && ((checkVersion && epoch.version !== current.version) || (checkConfVer && epoch.confVer !== current.confVer))) {
      throw epochNotMatch(`epoch of region ${this.regionId} changed`, [this.region]);
    }
    for (const r of request.requests) {
      const key = keyOf(r);
      if (key && !keyInRegion(key, this.region)) throw keyNotInRegion(key, this.region);
    }
  }

  private leaderPeer(): PeerMeta | undefined {
    const lead = this.leaderId();
    return lead === 0 ? undefined : findPeerById(this.region, lead);
  }

  private maybeProposeLogGc(): void {
    if (!this.isLeader() || this.logGcPending) return;
    const applied = this.storage.appliedIndex;
    const first = this.storage.firstIndex();
    if (applied <= first || applied - first < this.host.config.raftLogGcCountLimit) return;
    const request = RaftCmdRequest.fromPartial({
      header: { regionId: this.regionId, peer: this.meta, regionEpoch: epochOf(this.region) },
      adminRequest: { cmdType: AdminCmdType.CompactLog, compactLog: { compactIndex: applied, compactTerm: this.storage.term(applied) } },
    });
    this.logGcPending = true;
    this.proposeWrite(request, () => (this.logGcPending = false));
  }

  // --- the ready cycle ---

  hasReady(): boolean {
    return this.readBatch.length > 0 || this.node.hasReady();
  }

  takeReady(): PendingReady | undefined {
    this.askReadIndex();
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
    for (const state of pending.ready.readStates) {
      const key = Buffer.from(state.requestCtx).toString('hex');
      const batch = this.pendingReads.get(key);
      if (!batch) continue;
      this.pendingReads.delete(key);
      this.pendingReadCount -= batch.length;
      for (const read of batch) this.confirmedReads.push({ index: state.index, request: read.request, callback: read.callback, replyTo: read.replyTo });
    }
    if (pending.ready.softState && pending.ready.softState.raftState !== 'Leader') this.failReads();
  }

  /**
   * Hands newly committed entries to the apply system with the proposals they answer and the reads
   * confirmed since the last hand-over. A proposal whose index was taken by another leader's entry
   * will never apply: it is answered StaleCommand here.
   */
  handOff(entries: readonly Entry[]): ApplyTask | undefined {
    const replies: ApplyReply[] = [];
    for (const entry of entries) {
      while (this.proposals.length > 0 && this.proposals[0]!.index <= entry.index) {
        const head = this.proposals.shift()!;
        if (head.index === entry.index && head.term === entry.term) replies.push({ index: entry.index, callback: head.callback, replyTo: head.replyTo });
        else head.callback({ response: errorResponse(staleCommand().regionError, this.term()) });
      }
    }
    const reads = this.confirmedReads.splice(0);
    if (entries.length === 0 && reads.length === 0) return undefined;
    return { regionId: this.regionId, entries, replies, reads };
  }

  /** The apply system applied up to a new state; returns the raft-log range it made collectable. */
  onApplied(applyState: RaftApplyState): { gcFrom: number; gcTo: number } | undefined {
    // A snapshot adopted since may already be ahead of this report.
    if (applyState.appliedIndex <= this.storage.appliedIndex) return undefined;
    const before = this.storage.truncatedIndex;
    this.storage.setApplyState(applyState);
    const after = this.storage.truncatedIndex;
    return after > before ? { gcFrom: before + 1, gcTo: after + 1 } : undefined;
  }

  advance(pending: PendingReady): void {
    this.node.advance(pending.ready);
  }

  /** Reads not yet confirmed cannot be served by a peer that stopped being leader. */
  private failReads(): void {
    const error = notLeader(this.regionId, this.leaderPeer()).regionError;
    for (const read of this.takeUnconfirmedReads()) read.callback({ response: errorResponse(error, this.term()) });
  }

  private takeUnconfirmedReads(): PendingRead[] {
    const reads = this.readBatch.splice(0);
    for (const batch of this.pendingReads.values()) reads.push(...batch);
    this.pendingReads.clear();
    this.pendingReadCount = 0;
    return reads;
  }

  /** Fails every waiting command (the peer is going away). */
  failAll(error: RegionError): void {
    for (const proposal of this.proposals.splice(0)) proposal.callback({ response: errorResponse(error.regionError) });
    for (const read of this.confirmedReads.splice(0)) read.callback({ response: errorResponse(error.regionError) });
    for (const read of this.takeUnconfirmedReads()) read.callback({ response: errorResponse(error.regionError) });
  }

  private wrap(message: Message): RaftMessage {
    const to = findPeerById(this.region, message.to);
    const region = this.region;
    const initial =
      message.msgType === MessageType.MsgRequestVote || (message.msgType === MessageType.MsgHeartbeat && message.commit === 0);
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

function keyOf(request: Request): Buffer | undefined {
  switch (request.cmdType) {
    case CmdType.Get:
      return request.get?.key;
    case CmdType.Put:
      return request.put?.key;
    case CmdType.Delete:
      return request.delete?.key;
    default:
      return undefined;
  }
}
