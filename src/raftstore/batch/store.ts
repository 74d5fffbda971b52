/**
 * A store: the peers of every region replicated on this node, driven in poll rounds.
 *
 * Each round takes the Ready of every peer that has one, writes all their raft-log appends and
 * hard states in ONE raft-engine batch (group commit, one fsync for the round), then sends, hands
 * committed entries to the apply system (apply/applier.ts) and advances; it never waits for an apply.
 * Rounds never overlap. The store owns no timers or sockets: ticks, messages and the
 * transport come from outside, so a whole cluster can run in one thread from a seed (see
 * test/raftstore) or behind gRPC in a server.
 */
import type { Logger } from 'pino';
import type { Region } from '../../proto/metapb.js';
import type { RaftCmdRequest } from '../../proto/raft_cmdpb.js';
import { MessageType, type Snapshot } from '../../proto/eraftpb.js';
import { PeerState, RaftMessage, RaftSnapshotData, RegionLocalState } from '../../proto/raft_serverpb.js';
import type { RandomSource } from '../../raft/index.js';
import { assert, defined } from '../../util/assert.js';
import { RateLimitedLog } from '../../util/rate-limited-log.js';
import type { FatalHandler } from '../../util/fail-stop.js';
import type { RaftstoreConfig } from '../config.js';
import { errorResponse } from '../operation/command.js';
import { gcRaftLog, type RaftLogRange } from '../operation/compact-log.js';
import { regionNotFound } from '../router/errors.js';
import { REGION_META_MAX_KEY, REGION_META_MIN_KEY, regionStateKey } from '../keys.js';
import { Peer, type PeerHost, type PendingReady } from '../peer/peer.js';
import { RoleLog } from '../peer/role-log.js';
import type { CommandCallback } from '../router/command-callback.js';
import { PeerStorage, type PeerEngines } from '../peer/peer-storage.js';
import { Applier, type ApplyResult, type ApplyRouter } from '../apply/applier.js';
import type { ReplyAddress } from '../router/command-callback.js';
import { InlineSnapshotSource, type SnapshotSource } from '../snapshot/snapshot-source.js';
import { findPeerById, findPeerOnStore, keyInRegion } from '../region.js';
import { liveRegionsOnDisk, siblingOnDisk } from './live-regions.js';
import {
  isSuperseded,
  mayCreatePeer,
  snapshotOverlap,
  staleSenderReply,
  tombstoneAllowsCreation,
  tombstoneRemoves,
  tombstoneStaleReply,
} from './membership-check.js';
import { checkRaftMessage, DroppedMessageCounts, type DropReason } from './message-check.js';
import { checkSnapshot } from '../snapshot/snapshot-check.js';
import { NOTHING_TO_CANCEL, type CancelCommand, type LeaderRegion, type RaftRouter } from '../router/router.js';
import type { Transport } from '../transport.js';
import { HISTOGRAM_NAMES, RaftstoreMetrics } from '../../metrics/thread-recorder.js';
import type { ThreadSnapshot } from '../../metrics/thread-metrics.js';
import { monotonicClock, type MonotonicClock } from '../../env/clock.js';
import { NO_LEASE_PUBLISHER, type LeasePublisher } from './lease-table.js';

export interface StoreOptions {
  readonly storeId: number;
  readonly engines: PeerEngines;
  /** Defaults to building snapshots inline (the single-thread mode). */
  readonly snapshots?: SnapshotSource;
  readonly config: RaftstoreConfig;
  readonly transport: Transport;
  readonly random: RandomSource;
  readonly logger: Logger;
  /**
   * Deletes compacted raft-log entries [fromIndex, toIndex) of a region. Defaults to a raft-engine
   * write from this thread; a server hands it to the raft-log GC thread (workers/raftlog-gc.ts).
   */
  readonly collectRaftLog?: (regionId: number, fromIndex: number, toIndex: number) => Promise<void>;
  /**
   * Connects the store to its apply system, which reports to `onResult`. Defaults to an Applier
   * on this thread; a raft poller uses the apply threads (workers/apply.ts).
   */
  readonly applier?: (onResult: (result: ApplyResult) => void) => ApplyRouter;
  /** Wall clock for rate-limiting warnings about dropped messages (defaults to Date.now). */
  readonly nowMs?: () => number;
  /**
   * Called on an internal failure (a raft-log write that failed, a broken invariant): the store
   * halts and the process is expected to fail-stop (src/util/fail-stop.ts). Without it the
   * failure surfaces as a rejected poll (tests driving a store directly).
   */
  readonly onFatal?: FatalHandler;
  /**
   * Where a region a split created goes when this store does not host it (another raft poller):
   * without it, every region is this store's. `campaign` when the split region's peer here led.
   */
  readonly routeCreated?: (regionId: number) => ((campaign: boolean) => void) | undefined;
  /** Where this store counts (src/metrics/thread-recorder.ts); default a recorder of its own. */
  readonly metrics?: RaftstoreMetrics;
  /** What leader leases are measured on; default the process's monotonic clock. */
  readonly monotonicClock?: MonotonicClock;
  /** Where leaders publish their leases for the main thread's reads; default nowhere. */
  readonly leases?: LeasePublisher;
}

/** Warnings about dropped messages go out at most this often per reason (each carries the counts so far). */
const DROP_WARN_INTERVAL_MS = 10_000;

/** Drops that happen in normal operation (a store starting, a region not created yet): not warned about. */
const QUIET_DROPS: ReadonlySet<DropReason> = new Set(['region-not-found', 'wrong-to-peer', 'tombstoned-region', 'stale-sender']);

/** Peers created by messages and still waiting for their snapshot, at most (a store adds a few at a time). */
const MAX_UNINITIALIZED_PEERS = 1024;

export class Store implements RaftRouter {
  readonly storeId: number;
  private readonly peers = new Map<number, Peer>();
  /** Regions whose initial state is being written. */
  private readonly creating = new Set<number>();
  /** Regions whose peer is to be destroyed at the next round boundary, and why. */
  private readonly toDestroy = new Map<number, string>();
  /** Regions whose peer is being destroyed: no peer of theirs may be created meanwhile. */
  private readonly destroying = new Set<number>();
  /** Regions on disk whose records no longer list this store (a crash interrupted their destroy). */
  private readonly removedOnDisk: Region[] = [];
  /** Regions a split created here, whose peers start at the next round boundary (true: campaign at once). */
  private readonly toInitialize = new Map<number, boolean>();
  /** Regions whose peer was created by a message and may not have its snapshot yet (bounded). */
  private readonly uninitialized = new Set<number>();
  private readonly host: PeerHost;
  private readonly applier: ApplyRouter;
  private polling: Promise<void> | undefined;
  private pollAgain = false;
  private stopped = false;
  /** Raft messages from the network dropped before reaching a peer, per reason. */
  readonly droppedMessages = new DroppedMessageCounts();
  /** One rate limit per reason, so a flood of one kind of bad message hides no other kind. */
  private readonly dropWarnings = new Map<DropReason, RateLimitedLog>();
  private halted = false;
  readonly metrics: RaftstoreMetrics;

  constructor(private readonly options: StoreOptions) {
    this.storeId = options.storeId;
    const metrics = (this.metrics = options.metrics ?? new RaftstoreMetrics());
    this.host = {
      storeId: options.storeId,
      engines: options.engines,
      snapshots: options.snapshots ?? new InlineSnapshotSource(options.engines.kv),
      config: options.config,
      random: options.random,
      logger: options.logger,
      metrics,
      roleLog: new RoleLog(options.logger),
      clock: options.monotonicClock ?? monotonicClock,
      leases: options.leases ?? NO_LEASE_PUBLISHER,
      send: (message) => {
        // Sent as far as this thread sees it: handed to the transport, which streams it in chunks.
        if (message.message?.msgType === MessageType.MsgSnapshot) metrics.snapshot('sent', 'ok');
        options.transport.send(message);
      },
      siblingOf: (region) => siblingOnDisk(options.engines.kv, region),
    };
    const onResult = (result: ApplyResult) => this.onApplied(result);
    this.applier = options.applier ? options.applier(onResult) : new Applier(options.engines.kv, options.logger, onResult, options.onFatal, metrics);
  }

  /**
   * Creates peers for the regions this store holds on disk (those `accept` picks, when given). A
   * region whose record no longer lists this store was left by a crash between applying this
   * peer's removal and destroying it: the destroy is finished at the first round instead.
   */
  loadPeers(accept: (regionId: number) => boolean = () => true): void {
    const view = this.options.engines.kv.snapshot();
    try {
      for (const { value } of view.scan('meta', { start: REGION_META_MIN_KEY, end: REGION_META_MAX_KEY })) {
        const state = RegionLocalState.decode(value);
        if (state.state !== PeerState.Normal || !state.region || !accept(state.region.id)) continue;
        // Every region has a peer (Raft cannot remove its last voter): a record with none is damage.
        assert(state.region.peers.length > 0, `region ${state.region.id} has no peers`);
        if (!findPeerOnStore(state.region, this.storeId)) {
          this.removedOnDisk.push(state.region);
          continue;
        }
        this.addPeer(state.region, true);
        // Compacted entries whose deletion was still queued when the store stopped are collected
        // now: later compactions only delete from the truncated index they start at.
        const truncated = defined(this.peers.get(state.region.id), 'loaded peer').storage.truncatedIndex;
        if (truncated > 0) void this.collectRaftLog(state.region.id, { gcFrom: 0, gcTo: truncated + 1 });
      }
    } finally {
      view.close();
    }
    if (this.removedOnDisk.length > 0) this.schedulePoll();
  }

  /** Finishes the destroys a crash interrupted (see loadPeers), before the first round. */
  private async destroyRemovedOnDisk(): Promise<void> {
    for (const region of this.removedOnDisk.splice(0)) {
      this.options.logger.info({ regionId: region.id }, 'finishing the destroy of a removed peer');
      this.destroying.add(region.id);
      try {
        await this.applier.destroy(region);
        await this.options.engines.raft.write(PeerStorage.destroyRaftOps(region.id));
      } finally {
        this.destroying.delete(region.id);
      }
    }
  }

  /**
   * Writes the initial state of a region this store was told to host (bootstrap), then starts its
   * peer. Idempotent: a region being created, or already on disk, is never initialized again
   * (that would rewind its log under a running peer).
   */
  async createRegion(region: Region): Promise<void> {
    if (this.peers.has(region.id) || this.creating.has(region.id)) return;
    this.creating.add(region.id);
    try {
      const onDisk = this.options.engines.kv.getLatest('meta', regionStateKey(region.id));
      if (onDisk) {
        const state = RegionLocalState.decode(onDisk);
        if (state.state === PeerState.Normal && state.region) this.addPeer(state.region);
      } else {
        const writes = PeerStorage.initialWrites(region);
        await this.options.engines.kv.write(writes.kvOps);
        await this.options.engines.raft.write(writes.raftOps);
        this.addPeer(region);
      }
    } finally {
      this.creating.delete(region.id);
    }
    this.schedulePoll();
  }

  /** `restarted`: the peer ran on this store before it stopped (loaded from disk). */
  private addPeer(region: Region, restarted = false): void {
    const meta = findPeerOnStore(region, this.storeId);
    assert(meta !== undefined, `region ${region.id} has no peer on store ${this.storeId}`);
    this.peers.set(region.id, Peer.create(this.host, region, meta.id, restarted));
  }

  peer(regionId: number): Peer | undefined {
    return this.peers.get(regionId);
  }

  /** The regions of this store's initialized peers (an uninitialized peer knows no range yet). */
  regions(): Region[] {
    return [...this.peers.values()].filter((peer) => peer.isInitialized()).map((peer) => peer.region);
  }

  /** Down seconds are the follower's silent raft ticks in wall time (ticks of raftBaseTickMs each). */
  leaderRegions(): LeaderRegion[] {
    const out: LeaderRegion[] = [];
    const tickMs = this.options.config.raftBaseTickMs;
    for (const peer of this.peers.values()) {
      if (!peer.isLeader()) continue;
      const downPeers = peer.downPeers().flatMap(({ peerId, silentTicks }) => {
        const meta = findPeerById(peer.region, peerId);
        return meta ? [{ peer: meta, downSeconds: Math.floor((silentTicks * tickMs) / 1000) }] : [];
      });
      out.push({ region: peer.region, leader: peer.meta, pendingPeers: peer.pendingPeers(), downPeers });
    }
    return out;
  }

  /** This store's metrics, as the main thread's registry pulls them when the peers run on it (`--raft-pollers 0`). */
  async metricsSnapshots(): Promise<ThreadSnapshot[]> {
    return [{ thread: 'main', snapshot: this.metrics.takeSnapshot(), queueDepth: 0 }];
  }

  /** The region of this store that holds `key`, if any. */
  regionForKey(key: Uint8Array): Region | undefined {
    for (const peer of this.peers.values()) if (peer.isInitialized() && keyInRegion(key, peer.region)) return peer.region;
    return undefined;
  }

  // --- inputs; each schedules a poll round ---

  tick(): void {
    if (this.stopped) return;
    for (const peer of this.peers.values()) peer.tick();
    this.schedulePoll();
  }

  /** A Raft message from the network: stepped into its peer only if it passes the checks of message-check.ts. */
  onRaftMessage(message: RaftMessage): void {
    if (this.stopped) return;
    if (message.isTombstone) {
      this.onTombstoneMessage(message);
      return;
    }
    const peer = this.peers.get(message.regionId) ?? this.maybeCreatePeer(message);
    if (peer && this.handledAsMembership(message, peer)) return;
    const target = {
      storeId: this.storeId,
      peer: peer && { peerId: peer.meta.id, region: peer.region, lastIndex: peer.lastIndex(), term: peer.term() },
    };
    const reason = checkRaftMessage(message, target);
    if (reason) {
      this.dropMessage(reason, message);
      return;
    }
    // A snapshot is written over the region's state once Raft takes it: it must be sound first.
    const raft = message.message;
    if (raft?.msgType === MessageType.MsgSnapshot) {
      const problem = raft.snapshot
        ? (checkSnapshot(raft.snapshot, defined(target.peer, 'checked target peer')) ?? this.overlapOf(raft.snapshot))
        : 'MsgSnapshot without a snapshot';
      if (problem) {
        this.metrics.snapshot('received', 'failed');
        this.dropMessage('bad-snapshot', message, problem);
        return;
      }
      this.metrics.snapshot('received', 'ok');
    }
    try {
      defined(peer, 'checked target peer').step(message);
    } catch (err) {
      // Only an internal failure gets here (see Peer.step): fail-stop.
      if (!this.options.onFatal) throw err;
      this.fail(`region ${message.regionId}: raft message handling failed`, err);
      return;
    }
    this.schedulePoll();
  }

  /**
   * TinyKV's maybeCreatePeer: a message for a region this store does not host creates an
   * uninitialized peer when it is of a kind a leader or candidate sends to a new member and is not
   * stale against a tombstone of the region here. Anything else goes on to be dropped by the gate.
   */
  private maybeCreatePeer(message: RaftMessage): Peer | undefined {
    const regionId = message.regionId;
    const toPeer = message.toPeer;
    if (!toPeer || !mayCreatePeer(message) || this.creating.has(regionId) || this.destroying.has(regionId)) return undefined;
    if (checkRaftMessage(message, { storeId: this.storeId }) !== 'region-not-found') return undefined;
    if (!this.roomForUninitializedPeer()) return undefined;
    const onDisk = this.options.engines.kv.getLatest('meta', regionStateKey(regionId));
    const state = onDisk ? RegionLocalState.decode(onDisk) : undefined;
    if (state?.state === PeerState.Normal) {
      // A split here recorded the region and its peer starts at the next round boundary (or a
      // start of it was missed): never a second, uninitialized peer beside that record.
      this.initializeSplitRegion(regionId, false);
      return undefined;
    }
    if (state && !tombstoneAllowsCreation(message, state)) {
      this.dropMessage('tombstoned-region', message);
      const reply = tombstoneStaleReply(message, state, this.storeId);
      if (reply) this.host.send(reply);
      return undefined;
    }
    const peer = Peer.createUninitialized(this.host, regionId, toPeer);
    this.peers.set(regionId, peer);
    this.uninitialized.add(regionId);
    this.options.logger.info({ regionId, peerId: toPeer.id, from: message.fromPeer }, 'peer created by a raft message');
    return peer;
  }

  /**
   * Messages from the network may name any region id: the peers they create before a snapshot
   * arrives are bounded, so a flood of made-up regions cannot grow the store without limit.
   */
  private roomForUninitializedPeer(): boolean {
    if (this.uninitialized.size < MAX_UNINITIALIZED_PEERS) return true;
    for (const regionId of this.uninitialized) {
      if (this.peers.get(regionId)?.isInitialized() !== false) this.uninitialized.delete(regionId);
    }
    return this.uninitialized.size < MAX_UNINITIALIZED_PEERS;
  }

  /**
   * Acts on what the message says about membership (membership-check.ts): a removed sender is told
   * so; this store's peer, if the message shows it was replaced, goes. Returns whether the message
   * was consumed.
   */
  private handledAsMembership(message: RaftMessage, peer: Peer): boolean {
    const local = { storeId: this.storeId, peerId: peer.meta.id, region: peer.region, initialized: peer.isInitialized() };
    const reply = staleSenderReply(message, local);
    if (reply) {
      this.dropMessage('stale-sender', message);
      this.host.send(reply);
      return true;
    }
    if (isSuperseded(message, local)) {
      this.dropMessage('wrong-to-peer', message);
      this.scheduleDestroy(peer.regionId, `peer ${message.toPeer?.id} of a newer membership replaces it`);
      return true;
    }
    return false;
  }

  /** A member of a newer membership says this store's peer was removed: it is destroyed. */
  private onTombstoneMessage(message: RaftMessage): void {
    const peer = this.peers.get(message.regionId);
    if (!peer) return;
    const local = { storeId: this.storeId, peerId: peer.meta.id, region: peer.region, initialized: peer.isInitialized() };
    if (tombstoneRemoves(message, local)) this.scheduleDestroy(message.regionId, 'a newer membership says it was removed');
  }

  /** Why a snapshot must be refused because its range overlaps another live region here. */
  private overlapOf(snapshot: Snapshot): string | undefined {
    const region = RaftSnapshotData.decode(snapshot.data).region; // decoded by checkSnapshot already
    // Against every region of the store (other pollers' too) as its records on disk say now.
    return region && snapshotOverlap(region, liveRegionsOnDisk(this.options.engines.kv, region.id));
  }

  onRaftMessageBytes(bytes: Uint8Array): void {
    let message: RaftMessage;
    try {
      message = RaftMessage.decode(bytes);
    } catch (err) {
      this.dropMessage('undecodable', undefined, (err as Error).message);
      return;
    }
    this.onRaftMessage(message);
  }

  private dropMessage(reason: DropReason, message: RaftMessage | undefined, detail?: string): void {
    this.droppedMessages.add(reason);
    const fields = {
      reason,
      detail,
      regionId: message?.regionId,
      fromPeer: message?.fromPeer,
      msgType: message?.message?.msgType,
    };
    if (QUIET_DROPS.has(reason)) {
      this.options.logger.debug(fields, 'raft message dropped');
      return;
    }
    let warnings = this.dropWarnings.get(reason);
    if (!warnings) this.dropWarnings.set(reason, (warnings = new RateLimitedLog(DROP_WARN_INTERVAL_MS, this.options.nowMs)));
    warnings.run((suppressed) => this.options.logger.warn({ ...fields, suppressed, dropped: this.droppedMessages.toJSON() }, 'raft message dropped'));
  }

  /**
   * `encoded`, when given, is the request's encoding (saves encoding it again for the log);
   * `replyTo`, where the apply system answers a command that came from another thread.
   */
  propose(request: RaftCmdRequest, callback: CommandCallback, encoded?: Uint8Array, replyTo?: ReplyAddress): CancelCommand {
    const regionId = request.header?.regionId ?? 0;
    const peer = this.peers.get(regionId);
    if (this.stopped || !peer) {
      callback({ response: errorResponse(regionNotFound(regionId).regionError) });
      return NOTHING_TO_CANCEL;
    }
    peer.propose(request, callback, encoded, replyTo);
    this.schedulePoll();
    // The peer answers or fails every proposal it holds (at the latest when the store stops).
    return NOTHING_TO_CANCEL;
  }

  /** Resolves once no peer has pending work and everything handed off is applied (tests, shutdown). */
  async settle(): Promise<void> {
    for (;;) {
      // A round that failed was reported through onFatal already; settling goes on without it.
      if (this.polling)
        await this.polling.catch((err: unknown) => {
          if (!this.halted) throw err;
        });
      await this.applier.settle();
      if (!this.polling) return;
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.settle();
    for (const peer of this.peers.values()) peer.failAll(regionNotFound(peer.regionId));
  }

  private schedulePoll(): void {
    if (this.polling) {
      this.pollAgain = true;
      return;
    }
    const polling = this.pollLoop();
    this.polling = polling;
    // A round that throws left its raft state unwritten or half handed on: nothing about this
    // store can be trusted any more, so it halts and the process fail-stops.
    if (this.options.onFatal) polling.catch((err: unknown) => this.fail('raft poll round failed', err));
  }

  /** Halts the store on an internal failure and reports it once. */
  private fail(reason: string, err: unknown): void {
    if (this.halted) return;
    this.halted = true;
    this.stopped = true;
    this.options.onFatal?.(reason, err);
  }

  private async pollLoop(): Promise<void> {
    try {
      // Let the inputs of this event-loop turn gather, so one round serves them all.
      await Promise.resolve();
      do {
        this.pollAgain = false;
        await this.destroyRemovedOnDisk();
        await this.destroyScheduled();
        this.initializeScheduled();
        await this.pollRound();
      } while (this.pollAgain || this.anyReady());
    } finally {
      // Cleared in the same turn as the last check, so an input arriving later starts a new loop.
      this.polling = undefined;
    }
  }

  /** The apply system applied a batch of a region: adopt its state, collect the log it compacted. */
  private onApplied(result: ApplyResult): void {
    const peer = this.peers.get(result.regionId);
    const compacted = peer?.onApplied(result);
    if (compacted) void this.collectRaftLog(result.regionId, compacted);
    if (peer?.isRemoved()) this.scheduleDestroy(result.regionId, 'its removal applied');
    // The new region's leader is wanted at once: the split region's leader here campaigns for it.
    const campaign = peer?.isLeader() ?? false;
    for (const regionId of result.created ?? []) {
      const elsewhere = this.options.routeCreated?.(regionId);
      if (elsewhere) elsewhere(campaign);
      else this.initializeSplitRegion(regionId, campaign);
    }
  }

  /**
   * Starts the peer of a region a split created on this store (its states are on disk), at the
   * next round boundary. An uninitialized peer of it (created by a message from a store that split
   * first) is replaced; one that is initialized already (caught up by a snapshot) stays.
   */
  initializeSplitRegion(regionId: number, campaign: boolean): void {
    if (this.stopped) return;
    this.toInitialize.set(regionId, campaign || (this.toInitialize.get(regionId) ?? false));
    this.schedulePoll();
  }

  private initializeScheduled(): void {
    for (const [regionId, campaign] of this.toInitialize) {
      this.toInitialize.delete(regionId);
      const existing = this.peers.get(regionId);
      if (existing?.isInitialized() || this.destroying.has(regionId) || this.toDestroy.has(regionId)) continue;
      const bytes = this.options.engines.kv.getLatest('meta', regionStateKey(regionId));
      if (!bytes) {
        // The apply thread records a split's new region before it reports the split.
        this.options.logger.error({ regionId }, 'a split region has no state on disk: its peer is not started');
        continue;
      }
      const state = RegionLocalState.decode(bytes);
      const meta = state.state === PeerState.Normal && state.region ? findPeerOnStore(state.region, this.storeId) : undefined;
      // A peer of a newer membership of the region already waits here for its snapshot: it stays.
      if (!state.region || !meta || (existing && existing.meta.id !== meta.id)) continue;
      existing?.failAll(regionNotFound(regionId));
      const peer = Peer.create(this.host, state.region, meta.id);
      this.peers.set(regionId, peer);
      this.uninitialized.delete(regionId);
      if (campaign) peer.campaign();
      this.options.logger.info({ regionId, peerId: meta.id, campaign }, 'peer of a split region started');
    }
  }

  /** The peer goes at the next round boundary, so no round writes its raft state after the destroy. */
  private scheduleDestroy(regionId: number, why: string): void {
    if (!this.peers.has(regionId) || this.toDestroy.has(regionId)) return;
    this.toDestroy.set(regionId, why);
    this.schedulePoll();
  }

  private async destroyScheduled(): Promise<void> {
    for (const [regionId, why] of this.toDestroy) {
      this.toDestroy.delete(regionId);
      const peer = this.peers.get(regionId);
      if (peer) await this.destroyPeer(peer, why);
    }
  }

  /**
   * Destroys a peer (peer/peer-destroy.ts): it stops and fails what it holds; the apply system
   * clears its data (keeping what other live regions own) and leaves a tombstone; then its raft
   * log and state go. Runs between rounds.
   */
  private async destroyPeer(peer: Peer, why: string): Promise<void> {
    const regionId = peer.regionId;
    this.options.logger.info({ regionId, peerId: peer.meta.id, why }, 'destroying peer');
    this.peers.delete(regionId);
    this.host.leases.release(regionId);
    this.destroying.add(regionId);
    try {
      peer.failAll(regionNotFound(regionId));
      // The apply system clears the data, once it has applied what it was handed before (a split
      // still queued there changes what this region owns).
      await this.applier.destroy(peer.region);
      await this.options.engines.raft.write(peer.storage.destroyRaftOps());
    } finally {
      this.destroying.delete(regionId);
    }
  }

  private anyReady(): boolean {
    if (this.stopped) return false;
    if (this.toDestroy.size > 0 || this.toInitialize.size > 0) return true;
    for (const peer of this.peers.values()) if (peer.hasReady()) return true;
    return false;
  }

  private async collectRaftLog(regionId: number, range: RaftLogRange): Promise<void> {
    // The entries are never read again, so deleting them can trail behind the poll rounds.
    // A failed delete on the raft engine is an I/O error there (fail-stop), unless the store is
    // stopping and the GC thread is being shut down under the task.
    gcRaftLog(this.options.engines.raft, regionId, range, this.options.collectRaftLog).catch((err: unknown) => {
      if (this.stopped || !this.options.onFatal) this.options.logger.warn({ err, regionId }, 'raft-log GC failed');
      else this.fail(`raft-log GC of region ${regionId} failed`, err);
    });
  }

  private async pollRound(): Promise<void> {
    const round: Array<[Peer, PendingReady]> = [];
    for (const peer of this.peers.values()) {
      const pending = peer.takeReady();
      if (pending) round.push([peer, pending]);
    }
    if (round.length === 0) return;
    const roundStartMs = this.metrics.nowMs();
    for (const [peer, pending] of round) peer.sendEarly(pending);
    // The log write below may block this thread for an fsync: the appends go out first.
    this.options.transport.flush?.();
    // Snapshot data first (the apply system writes it after what it was handed before): a crash
    // between that write and the raft write below is repaired on load (the log catches up).
    for (const [peer, pending] of round) {
      if (pending.writes.snapshot) await this.applier.restore(peer.regionId, pending.writes.snapshot);
    }
    const raftOps = round.flatMap(([, p]) => p.writes.raftOps);
    if (raftOps.length > 0) {
      const appendStartMs = this.metrics.nowMs();
      await this.options.engines.raft.write(raftOps);
      const appendMs = this.metrics.nowMs() - appendStartMs;
      this.metrics.observeMs(HISTOGRAM_NAMES.appendLog, appendMs);
      this.metrics.engineCommitMs('raft', appendMs);
    }
    for (const [peer, pending] of round) {
      peer.onPersisted(pending);
      const task = peer.handOff(pending.ready.committedEntries);
      if (task) this.applier.apply(task);
      peer.advance(pending);
    }
    this.metrics.since(HISTOGRAM_NAMES.pollRound, roundStartMs);
  }
}
