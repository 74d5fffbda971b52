/**
 * Reads (Get, Snap) through ReadIndex; they never enter the log. A read waits in this round's
 * batch; once per round the leader asks Raft for one ReadIndex covering the whole batch (as etcd
 * and TiKV batch reads), which a quorum heartbeat round confirms. A confirmed read goes to the
 * apply system with the next hand-over and is served from a kv snapshot once the region's applied
 * index reaches the read index. A deposed leader cannot confirm, so it never serves a stale read:
 * when it steps down its unconfirmed reads fail with NotLeader.
 */
import type { EngineSnapshot } from '../../engine/engine.js';
import type { Region } from '../../proto/metapb.js';
import { CmdType, RaftCmdResponse, Response, type RaftCmdRequest } from '../../proto/raft_cmdpb.js';
import { RaftError, RaftInvariantError, type RawNode, type ReadState } from '../../raft/index.js';
import { defined } from '../../util/assert.js';
import type { CommandCallback, CommandResult, ReplyAddress } from '../router/command-callback.js';
import { notLeader, type RegionError } from '../router/errors.js';
import { cloneRegion } from '../region.js';
import { dataFamily, errorResponse, refusedAtApply, type ProposingPeer } from './command.js';
import { HISTOGRAM_NAMES, type RaftstoreMetrics } from '../../metrics/thread-recorder.js';

/** A read ReadIndex confirmed at `index`, for the apply system: served once the region has applied that far. */
export interface ApplyRead {
  readonly index: number;
  readonly request: RaftCmdRequest;
  readonly callback: CommandCallback;
  /** Where the apply system answers, when not through `callback` (a command from another thread). */
  readonly replyTo?: ReplyAddress | undefined;
}

/** How a peer's lease (peer/leader-lease.ts) takes part in its reads. */
export interface ReadLease {
  /** The monotonic clock the lease is measured on. */
  nowMs(): number;
  /** The index a read asked at `nowMs` may be served at without a quorum round, if the lease covers it. */
  leaseReadIndex(nowMs: number): number | undefined;
  /** A quorum confirmed this peer led `term` at some moment after `askedAtMs`. */
  onConfirmed(term: number, askedAtMs: number): void;
}

interface PendingRead {
  readonly request: RaftCmdRequest;
  readonly callback: CommandCallback;
  readonly replyTo: ReplyAddress | undefined;
}

/** A peer's reads, from accepted to confirmed (then the apply system serves them). */
export class ReadIndexReads {
  /** Reads of this round, not yet asked for: one ReadIndex serves them all. */
  private batch: PendingRead[] = [];
  /** Batches waiting for the leader to confirm it still leads, by ReadIndex request context. */
  private readonly unconfirmed = new Map<
    string,
    { readonly reads: PendingRead[]; readonly askedAtMs: number; readonly metricsStartMs: number; readonly term: number }
  >();
  private unconfirmedCount = 0;
  /** Confirmed reads, handed to the apply system with the next hand-over. */
  private readonly confirmed: ApplyRead[] = [];
  private nextReadId = 1;

  constructor(
    private readonly peer: ProposingPeer,
    private readonly node: Pick<RawNode, 'readIndex'>,
    /** Where ReadIndex round trips are timed, when given. */
    private readonly metrics?: RaftstoreMetrics,
    /** The peer's lease, when it may serve reads without a quorum round. */
    private readonly lease?: ReadLease,
  ) {}

  /** Reads accepted and not yet handed to the apply system. */
  get length(): number {
    return this.batch.length + this.unconfirmedCount + this.confirmed.length;
  }

  /** Whether this round has reads to ask a ReadIndex for. */
  hasBatch(): boolean {
    return this.batch.length > 0;
  }

  /** Takes a checked read into this round's batch. */
  propose(request: RaftCmdRequest, callback: CommandCallback, replyTo?: ReplyAddress): void {
    this.batch.push({ request, callback, replyTo });
  }

  /** Asks Raft for one ReadIndex covering every read of this round. */
  askReadIndex(): void {
    if (this.batch.length === 0) return;
    const batch = this.batch;
    this.batch = [];
    if (!this.peer.isLeader()) {
      // Stepped down since these reads were accepted: only a leader can confirm them.
      const error = notLeader(this.peer.regionId, this.peer.leaderPeer()).regionError;
      for (const read of batch) read.callback({ response: errorResponse(error, this.peer.term()) });
      return;
    }
    const nowMs = this.lease?.nowMs() ?? 0;
    const leaseIndex = this.lease?.leaseReadIndex(nowMs);
    if (leaseIndex !== undefined) {
      // No other leader can exist yet, so everything acknowledged is at or below the commit index.
      for (const read of batch) this.confirmed.push({ index: leaseIndex, request: read.request, callback: read.callback, replyTo: read.replyTo });
      this.metrics?.leaseReads(batch.length);
      return;
    }
    this.ask(batch, nowMs);
  }

  /**
   * Asks Raft for a ReadIndex with no reads, only to renew the lease (a leader serving reads from
   * its lease asks for no other rounds). Dropped, not thrown, when Raft cannot take it now.
   */
  askRenewal(): void {
    this.ask([], this.lease?.nowMs() ?? 0);
  }

  private ask(reads: PendingRead[], askedAtMs: number): void {
    const ctx = Buffer.alloc(8);
    ctx.writeBigUInt64BE(BigInt(this.nextReadId++));
    const key = ctx.toString('hex');
    this.unconfirmed.set(key, { reads, askedAtMs, metricsStartMs: this.metrics?.nowMs() ?? 0, term: this.peer.term() });
    this.unconfirmedCount += reads.length;
    try {
      this.node.readIndex(ctx);
    } catch (err) {
      // Reads propagate Raft's refusal as before; a renewal that Raft cannot take now is dropped.
      if (reads.length > 0 || !(err instanceof RaftError) || err instanceof RaftInvariantError) throw err;
      this.unconfirmed.delete(key);
    }
  }

  /** Raft confirmed these ReadIndex requests (from a persisted Ready). */
  onReadStates(states: readonly ReadState[]): void {
    for (const state of states) {
      const key = Buffer.from(state.requestCtx).toString('hex');
      const asked = this.unconfirmed.get(key);
      if (!asked) continue;
      this.unconfirmed.delete(key);
      this.lease?.onConfirmed(asked.term, asked.askedAtMs);
      const batch = asked.reads;
      if (batch.length === 0) continue;
      this.metrics?.since(HISTOGRAM_NAMES.readIndex, asked.metricsStartMs);
      this.unconfirmedCount -= batch.length;
      for (const read of batch) this.confirmed.push({ index: state.index, request: read.request, callback: read.callback, replyTo: read.replyTo });
    }
  }

  /** Reads not yet confirmed cannot be served by a peer that stopped being leader. */
  failUnconfirmed(): void {
    const error = notLeader(this.peer.regionId, this.peer.leaderPeer()).regionError;
    for (const read of this.takeUnconfirmed()) read.callback({ response: errorResponse(error, this.peer.term()) });
  }

  /** The confirmed reads, for the next hand-over to the apply system. */
  takeConfirmed(): ApplyRead[] {
    return this.confirmed.splice(0);
  }

  /** Fails every read, confirmed ones first (the peer is going away). */
  failAll(error: RegionError): void {
    for (const read of this.confirmed.splice(0)) read.callback({ response: errorResponse(error.regionError) });
    for (const read of this.takeUnconfirmed()) read.callback({ response: errorResponse(error.regionError) });
  }

  private takeUnconfirmed(): PendingRead[] {
    const reads = this.batch.splice(0);
    for (const { reads: batch } of this.unconfirmed.values()) reads.push(...batch);
    this.unconfirmed.clear();
    this.unconfirmedCount = 0;
    return reads;
  }
}

/**
 * Serves a confirmed read on the apply side from `snapshot`, taken once the region applied up to
 * the read index. A Snap keeps the snapshot open for the receiver; otherwise it is closed here.
 */
export function executeRead(
  snapshot: EngineSnapshot,
  region: Region | undefined,
  request: RaftCmdRequest,
  siblingOf?: (region: Region) => Region | undefined,
): CommandResult {
  // A split that applied between the read's check and now: its keys may be another region's, whose
  // newest writes this store need not have applied.
  const refused = region && refusedAtApply(request, region, siblingOf);
  if (refused) {
    snapshot.close();
    return { response: errorResponse(refused.regionError) };
  }
  // The apply side's region object changes as it applies: a Snap's answer gets a copy.
  return serveRead(snapshot, region && cloneRegion(region), request);
}

/** A Get of a key that is not there answers an empty value (shared: answers are encoded, never changed). */
const EMPTY_VALUE = Buffer.alloc(0);

/**
 * Answers a checked read from `snapshot`: a Snap keeps the snapshot open for the receiver, with
 * `region` in its answer as given; otherwise the snapshot is closed here. The answer is built
 * whole (every field, as the decoder would) without fromPartial's copies: reads are the hot path,
 * and the main thread serves lease reads through this too (batch/local-reader.ts).
 */
export function serveRead(snapshot: EngineSnapshot, region: Region | undefined, request: RaftCmdRequest): CommandResult {
  const responses: Response[] = [];
  let keep = false;
  for (const r of request.requests) {
    if (r.cmdType === CmdType.Get) {
      const get = defined(r.get, 'body of a Get request');
      const value = snapshot.get(dataFamily(get.cf), get.key) ?? EMPTY_VALUE;
      responses.push({ cmdType: CmdType.Get, get: { value }, put: undefined, delete: undefined, snap: undefined });
    } else {
      keep = true;
      responses.push({ cmdType: CmdType.Snap, get: undefined, put: undefined, delete: undefined, snap: { region } });
    }
  }
  if (!keep) snapshot.close();
  const response: RaftCmdResponse = { header: { error: undefined, uuid: EMPTY_VALUE, currentTerm: 0 }, responses, adminResponse: undefined };
  return keep ? { response, snapshot } : { response };
}
