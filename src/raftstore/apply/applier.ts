/**
 * The apply system (TiKV's apply fsm): committed entries of a store's regions are applied here,
 * off the raft pollers, so a poll round never waits for a kv-engine write.
 *
 * A peer hands over, in log order, its newly committed entries together with the proposals they
 * answer and the reads that ReadIndex has confirmed. The Applier applies a whole batch of tasks,
 * for every region, in ONE kv batch (data and each region's RaftApplyState together, atomic),
 * answers the proposals, serves each read once its region's applied index reaches the read index,
 * and reports the new apply states back to the peers. A received snapshot is written here too,
 * after everything handed over before it, so old entries never land on top of a snapshot.
 *
 * The same Applier runs inline (the single-thread mode and `--raft-pollers 0`) or on an apply
 * thread (workers/apply.ts); the peers talk to it through `ApplyRouter` either way.
 */
import type { Logger } from 'pino';
import type { Engine, WriteOp } from '../../engine/engine.js';
import { EntryType, type Entry, type Snapshot } from '../../proto/eraftpb.js';
import type { Region } from '../../proto/metapb.js';
import { AdminCmdType, RaftCmdRequest, RaftCmdResponse } from '../../proto/raft_cmdpb.js';
import { PeerState, RaftApplyState, RaftSnapshotData, RegionLocalState } from '../../proto/raft_serverpb.js';
import { assert, defined } from '../../util/assert.js';
import type { FatalHandler } from '../../util/fail-stop.js';
import { errorResponse, refusedAtApply } from '../operation/command.js';
import { applyCompactLog } from '../operation/compact-log.js';
import { applyConfChangeEntry, type AppliedConfChange } from '../operation/conf-change.js';
import { executeRead, type ApplyRead } from '../operation/read.js';
import { applyWriteRequest, type ApplyReply } from '../operation/write.js';
import { applySplit, isSplit, type AppliedSplit } from '../operation/split.js';
import { logAdminChange, type AdminChange } from './admin-log.js';
import { RateLimitedLog } from '../../util/rate-limited-log.js';
import { regionNotFound, staleCommand } from '../router/errors.js';
import { applyStateKey, regionStateKey } from '../keys.js';
import { clearRangeOps, putProto } from '../peer/peer-storage.js';
import { cloneRegion } from '../region.js';
import { snapshotDataOps } from '../snapshot/snapshot-data.js';
import { destroyKvOps, rangesToClear } from '../peer/peer-destroy.js';
import { liveRegionsOnDisk, siblingOnDisk } from '../batch/live-regions.js';
import { HISTOGRAM_NAMES, type RaftstoreMetrics } from '../../metrics/thread-recorder.js';

export interface ApplyTask {
  readonly regionId: number;
  /** Committed entries, contiguous, following what was handed over before. */
  readonly entries: readonly Entry[];
  readonly replies: readonly ApplyReply[];
  readonly reads: readonly ApplyRead[];
}

/**
 * A region's apply state after a batch, for its peer (log GC, snapshots), the conf changes it
 * applied in log order (for Raft), the region after them and after any split (when either
 * changed it), and the regions its splits created on this store.
 */
export interface ApplyResult {
  readonly regionId: number;
  readonly applyState: RaftApplyState;
  readonly confChanges: readonly AppliedConfChange[];
  readonly region?: Region;
  /** Ids of the regions its splits created here (their states are on disk). */
  readonly created?: readonly number[];
}

/** How peers reach the apply system, on this thread or another. */
export interface ApplyRouter {
  apply(task: ApplyTask): void;
  /** Writes a received snapshot durably, after every task handed over before it. */
  restore(regionId: number, snapshot: Snapshot): Promise<void>;
  /**
   * Destroys a region's peer on the kv side, durably, after every task handed over before it: its
   * data (the range it has then, minus what other live regions own), its apply state go, and a
   * tombstone with its region stays. `region` is the peer's view, for a peer with no state here.
   */
  destroy(region: Region): Promise<void>;
  /** Resolves once everything handed over so far is applied and answered. */
  settle(): Promise<void>;
}

/** Tasks one kv batch may cover; more wait for the next batch. */
export const MAX_TASKS_PER_APPLY_BATCH = 1024;

interface Delegate {
  region: Region | undefined;
  applyState: RaftApplyState;
  /** Confirmed reads waiting for the applied index to reach theirs, in arrival order. */
  readonly reads: ApplyRead[];
}

type Queued =
  | { readonly kind: 'apply'; readonly task: ApplyTask }
  | { readonly kind: 'restore'; readonly regionId: number; readonly snapshot: Snapshot; readonly done: (err?: unknown) => void }
  | { readonly kind: 'destroy'; readonly region: Region; readonly done: (err?: unknown) => void };

interface Applied {
  readonly delegate: Delegate;
  readonly task: ApplyTask;
  readonly applyState: RaftApplyState;
  readonly responses: Map<number, RaftCmdResponse>;
}

interface EntryResult {
  readonly applyState: RaftApplyState;
  readonly response?: RaftCmdResponse;
  readonly confChange?: AppliedConfChange;
  readonly split?: AppliedSplit;
}

/** What a batch's admin commands did to one region, in log order. */
interface AdminEffects {
  readonly confChanges: AppliedConfChange[];
  region?: Region;
  readonly created: number[];
}

export class Applier implements ApplyRouter {
  private readonly delegates = new Map<number, Delegate>();
  private queue: Queued[] = [];
  private running: Promise<void> | undefined;
  private failed = false;

  constructor(
    private readonly kv: Engine,
    private readonly logger: Logger,
    private readonly onResult: (result: ApplyResult) => void,
    /** An apply that failed (a kv write error, a broken invariant) is fatal; without it the drain rejects. */
    private readonly onFatal?: FatalHandler,
    /** Where apply batches and snapshot restores are counted, when given. */
    private readonly metrics?: RaftstoreMetrics,
  ) {}

  apply(task: ApplyTask): void {
    this.queue.push({ kind: 'apply', task });
    this.kick();
  }

  restore(regionId: number, snapshot: Snapshot): Promise<void> {
    return new Promise((resolve, reject) => {
      this.queue.push({ kind: 'restore', regionId, snapshot, done: settleWith(resolve, reject, 'snapshot restore failed') });
      this.kick();
    });
  }

  destroy(region: Region): Promise<void> {
    return new Promise((resolve, reject) => {
      this.queue.push({ kind: 'destroy', region, done: settleWith(resolve, reject, 'peer destroy failed') });
      this.kick();
    });
  }

  async settle(): Promise<void> {
    while (this.running) await this.running;
  }

  /** Tasks and restores handed over and not applied yet. */
  get queued(): number {
    return this.queue.length;
  }

  private kick(): void {
    if (this.running || this.failed) return;
    const running = this.drain();
    this.running = running;
    const onFatal = this.onFatal;
    if (onFatal) {
      running.catch((err: unknown) => {
        // Applied state is now unknown: apply nothing more; the process fail-stops.
        this.failed = true;
        onFatal('apply failed', err);
      });
    }
  }

  private async drain(): Promise<void> {
    try {
      // Let the tasks of this event-loop turn gather, so one kv batch covers them all.
      await Promise.resolve();
      for (let head = this.queue[0]; head !== undefined; head = this.queue[0]) {
        if (head.kind !== 'apply') {
          this.queue.shift();
          try {
            if (head.kind === 'restore') await this.restoreNow(head.regionId, head.snapshot);
            else await this.destroyNow(head.region);
            if (head.kind === 'restore') this.metrics?.snapshot('applied', 'ok');
            head.done();
          } catch (err) {
            if (head.kind === 'restore') this.metrics?.snapshot('applied', 'failed');
            head.done(err);
          }
          continue;
        }
        let count = 0;
        while (count < MAX_TASKS_PER_APPLY_BATCH && this.queue[count]?.kind === 'apply') count++;
        const batch = this.queue.splice(0, count).map((q) => (q as { task: ApplyTask }).task);
        const startMs = this.metrics?.nowMs();
        await this.applyBatch(batch);
        if (startMs !== undefined) this.metrics?.since(HISTOGRAM_NAMES.apply, startMs);
      }
    } finally {
      // Cleared in the same turn as the last empty-queue check, so no task is left unserved.
      this.running = undefined;
    }
  }

  private delegate(regionId: number): Delegate {
    let delegate = this.delegates.get(regionId);
    if (!delegate) {
      // Another apply thread may have recorded this region (a split it applied) in this turn.
      const applyBytes = this.kv.getLatest('meta', applyStateKey(regionId));
      const regionBytes = this.kv.getLatest('meta', regionStateKey(regionId));
      const regionState = regionBytes ? RegionLocalState.decode(regionBytes) : undefined;
      delegate = {
        // A tombstone's region is not this peer's any more: its range may belong to live regions.
        region: regionState?.state === PeerState.Normal ? regionState.region : undefined,
        applyState: applyBytes
          ? RaftApplyState.decode(applyBytes)
          : RaftApplyState.fromPartial({ appliedIndex: 0, truncatedState: { index: 0, term: 0 } }),
        reads: [],
      };
      this.delegates.set(regionId, delegate);
    }
    return delegate;
  }

  private async applyBatch(tasks: readonly ApplyTask[]): Promise<void> {
    const kvOps: WriteOp[] = [];
    const applied: Applied[] = [];
    // A region may appear in several tasks of one batch: each continues from the previous one.
    const states = new Map<number, RaftApplyState>();
    const effects = new Map<number, AdminEffects>();
    const adminChanges: AdminChange[] = [];
    for (const task of tasks) {
      const delegate = this.delegate(task.regionId);
      let applyState = states.get(task.regionId) ?? delegate.applyState;
      const responses = new Map<number, RaftCmdResponse>();
      for (const entry of task.entries) {
        assert(entry.index === applyState.appliedIndex + 1, `region ${task.regionId}: apply ${entry.index} after ${applyState.appliedIndex}`);
        const result = this.applyEntry(delegate, task.regionId, entry, applyState, kvOps);
        applyState = result.applyState;
        if (result.response) responses.set(entry.index, result.response);
        if (result.confChange || result.split) {
          let effect = effects.get(task.regionId);
          if (!effect) effects.set(task.regionId, (effect = { confChanges: [], created: [] }));
          if (result.confChange) effect.confChanges.push(result.confChange);
          if (result.split?.created) effect.created.push(result.split.created.id);
          if (result.confChange) adminChanges.push({ kind: 'confChange', regionId: task.regionId, change: result.confChange });
          if (result.split) adminChanges.push({ kind: 'split', regionId: task.regionId, split: result.split });
          // Later entries of the batch (and reads served after it) see the new membership and range.
          delegate.region = result.confChange?.region ?? result.split?.region;
          effect.region = delegate.region;
        }
      }
      if (task.entries.length > 0) kvOps.push(putProto('meta', applyStateKey(task.regionId), RaftApplyState.encode(applyState).finish()));
      states.set(task.regionId, applyState);
      applied.push({ delegate, task, applyState, responses });
    }
    // Applied data need not be flushed before answering: the committed entries are durable on a
    // quorum and replay after a machine crash. A batch that split a region or changed membership
    // is flushed: the new region's peer starts (and writes its raft state) once it is reported,
    // and a raft state of a region whose records a crash took back is not recoverable.
    const durable = effects.size > 0;
    if (kvOps.length > 0) {
      const metrics = this.metrics;
      const commitStartMs = metrics?.nowMs() ?? 0;
      await this.kv.write(kvOps, { durable });
      metrics?.engineCommitMs('kv', metrics.nowMs() - commitStartMs);
    }
    for (const change of adminChanges) logAdminChange(this.logger, change);
    let truncatedMoved = false;
    for (const { delegate, applyState } of applied) {
      if (applyState.truncatedState?.index !== delegate.applyState.truncatedState?.index) truncatedMoved = true;
      delegate.applyState = applyState;
    }
    // The peer deletes log entries below a new truncated state: that state must be durable first.
    if (truncatedMoved) await this.kv.flush();
    for (const { delegate, task, responses } of applied) {
      for (const reply of task.replies) {
        reply.callback({ response: responses.get(reply.index) ?? RaftCmdResponse.fromPartial({ header: {} }) });
      }
      delegate.reads.push(...task.reads);
      this.serveReads(delegate);
    }
    const reported = new Set<number>();
    for (const { task, applyState } of applied.toReversed()) {
      if (task.entries.length === 0 || reported.has(task.regionId)) continue;
      reported.add(task.regionId);
      const effect = effects.get(task.regionId);
      this.onResult({
        regionId: task.regionId,
        applyState,
        confChanges: effect?.confChanges ?? [],
        region: effect?.region,
        created: effect?.created,
      });
    }
  }

  private applyEntry(delegate: Delegate, regionId: number, entry: Entry, applyState: RaftApplyState, kvOps: WriteOp[]): EntryResult {
    const next = RaftApplyState.fromPartial({ ...applyState, appliedIndex: entry.index });
    if (entry.entryType === EntryType.EntryConfChange) {
      const region = defined(delegate.region, `region ${regionId} applying a conf change`);
      const result = applyConfChangeEntry(entry, region, next, kvOps);
      return { applyState: result.applyState, response: result.response, confChange: result.applied };
    }
    if (entry.data.length === 0) return { applyState: next }; // a new leader's empty entry
    const request = decodeCommand(entry.data);
    if (!request) {
      // Every replica decodes the same bytes the same way, so all of them skip it alike. Only a
      // forged Raft message gets such bytes committed (this store proposes only what it encoded);
      // it must not stop the store.
      const fields = { regionId, index: entry.index, term: entry.term, sizeBytes: entry.data.length };
      this.undecodable.run((suppressed) => this.logger.error({ ...fields, suppressed }, 'a committed entry is not a command; applied as a no-op'));
      return { applyState: next };
    }
    if (isSplit(request)) {
      const region = defined(delegate.region, `region ${regionId} applying a split`);
      const result = applySplit(request, region, next, kvOps, this.kv);
      return { applyState: result.applyState, response: result.response, split: result.applied };
    }
    if (request.adminRequest) return applyAdmin(request, next);
    // Proposed before a split or conf change that applied first: the region may not own its keys now.
    const refused = delegate.region && refusedAtApply(request, delegate.region, (region) => siblingOnDisk(this.kv, region));
    if (refused) return { applyState: next, response: errorResponse(refused.regionError) };
    const responses = request.requests.map((r) => applyWriteRequest(r, kvOps));
    return { applyState: next, response: RaftCmdResponse.fromPartial({ header: {}, responses }) };
  }

  /** Logs undecodable committed entries at most once per 10 s (a forged-message flood must not fill the log). */
  private readonly undecodable = new RateLimitedLog(10_000);

  private serveReads(delegate: Delegate): void {
    const applied = delegate.applyState.appliedIndex;
    let served = 0;
    // Read indexes only grow for a region, so the servable reads are a prefix.
    while ((delegate.reads[served]?.index ?? Infinity) <= applied) served++;
    for (const read of delegate.reads.splice(0, served))
      read.callback(executeRead(this.kv.snapshot(), delegate.region, read.request, (region) => siblingOnDisk(this.kv, region)));
  }

  private async destroyNow(peerRegion: Region): Promise<void> {
    // The ranges are worked out here, after everything handed over before: a split the peer had
    // committed but not applied when its destroy was decided has applied by now, and the new
    // region it made owns its part (it is on disk, live). The region as this apply thread knows it
    // is the newest; a peer that never had one (uninitialized) clears nothing.
    const delegate = this.delegate(peerRegion.id);
    const region = delegate.region ?? peerRegion;
    const clear = delegate.region ? rangesToClear(delegate.region, liveRegionsOnDisk(this.kv, region.id)) : [];
    // Durable: the poller deletes the raft state next, and a tombstone must outlive it.
    await this.kv.write(destroyKvOps(region, clear));
    // Reads still waiting for an applied index this region will never reach here.
    const waiting = this.delegates.get(region.id)?.reads ?? [];
    for (const read of waiting) read.callback({ response: errorResponse(regionNotFound(region.id).regionError) });
    this.delegates.delete(region.id);
  }

  private async restoreNow(regionId: number, snapshot: Snapshot): Promise<void> {
    const startMs = performance.now();
    const delegate = this.delegate(regionId);
    // The poller checked the snapshot on receipt (snapshot/snapshot-check.ts) or built it itself.
    const meta = defined(snapshot.metadata, 'snapshot metadata');
    const data = RaftSnapshotData.decode(snapshot.data);
    const region = defined(data.region, 'snapshot region');
    assert(region.id === regionId, `snapshot of region ${region.id} sent to region ${regionId}`);
    // Old data and the snapshot's range are cleared, then the snapshot's data and states come in.
    const ops: WriteOp[] = [];
    if (delegate.region && delegate.region.peers.length > 0) ops.push(...clearRangeOps(delegate.region));
    ops.push(...clearRangeOps(region), ...snapshotDataOps(data));
    const applyState = RaftApplyState.fromPartial({ appliedIndex: meta.index, truncatedState: { index: meta.index, term: meta.term } });
    ops.push(putProto('meta', applyStateKey(regionId), RaftApplyState.encode(applyState).finish()));
    ops.push(putProto('meta', regionStateKey(regionId), RegionLocalState.encode({ state: PeerState.Normal, region }).finish()));
    // Durable before the peer writes its raft state, which drops the log the snapshot replaces.
    await this.kv.write(ops);
    delegate.region = cloneRegion(region);
    delegate.applyState = applyState;
    const durationMs = Math.round(performance.now() - startMs);
    this.logger.info({ regionId, index: meta.index, term: meta.term, sizeBytes: snapshot.data.length, durationMs }, 'snapshot applied');
  }
}

function settleWith(resolve: () => void, reject: (err: Error) => void, what: string): (err?: unknown) => void {
  return (err) => (err === undefined ? resolve() : reject(err instanceof Error ? err : new Error(what, { cause: err })));
}

function applyAdmin(request: RaftCmdRequest, next: RaftApplyState): { applyState: RaftApplyState; response: RaftCmdResponse } {
  const admin = defined(request.adminRequest, 'admin request');
  if (admin.cmdType === AdminCmdType.CompactLog && admin.compactLog) return applyCompactLog(admin.compactLog, next);
  // Other admin commands come with their operation modules (see operation/README.md).
  const error = { ...staleCommand().regionError, message: `admin command ${admin.cmdType} is not supported yet` };
  return { applyState: next, response: errorResponse(error) };
}

/** The command in a normal entry's data, or undefined when the bytes are not one. */
export function decodeCommand(data: Uint8Array): RaftCmdRequest | undefined {
  try {
    return RaftCmdRequest.decode(data);
  } catch {
    return undefined;
  }
}
