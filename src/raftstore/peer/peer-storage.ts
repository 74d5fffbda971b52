/**
 * A region peer's Raft storage on two engines (reference §5.2, TinyKV's PeerStorage):
 * the raft engine holds the log and RaftLocalState; the kv engine holds RaftApplyState,
 * RegionLocalState and the region's data, so applied data and the applied index change together.
 *
 * Reads are synchronous engine reads. Writes are returned as engine ops so the store can group
 * the writes of many peers into one durable batch per poll round; the in-memory state moves only
 * once those ops are durable (`commitReady`).
 */
import type { Engine, WriteOp } from '../../engine/engine.js';
import { ConfState, Entry, HardState, Snapshot } from '../../proto/eraftpb.js';
import type { Region } from '../../proto/metapb.js';
import { PeerState, RaftApplyState, RaftLocalState, RaftSnapshotData, RegionLocalState } from '../../proto/raft_serverpb.js';
import { ErrCompacted, ErrUnavailable, type InitialState, type Storage as RaftStorage } from '../../raft/index.js';
import { assert, defined } from '../../util/assert.js';
import { applyStateKey, raftLogIndexOf, raftLogKey, raftStateKey, regionStateKey, RAFT_INIT_LOG_INDEX, RAFT_INIT_LOG_TERM } from '../keys.js';
import { decodeLogEntry, encodeLogEntry } from './log-entry-codec.js';
import { cloneRegion } from '../region.js';
import type { SnapshotSource } from '../snapshot/snapshot-source.js';

export interface PeerEngines {
  readonly raft: Engine;
  readonly kv: Engine;
}

export interface PeerStorageDeps {
  readonly engines: PeerEngines;
  readonly snapshots: SnapshotSource;
}

/**
 * What one Ready needs written: raft-engine ops, and a received snapshot, which the apply system
 * writes to the kv engine (apply/applier.ts) before the raft ops go in.
 */
export interface ReadyWrites {
  readonly raftOps: WriteOp[];
  /** The entries the raft ops append (they go to the entry cache once durable). */
  readonly appended: readonly Entry[];
  readonly raftState: RaftLocalState;
  readonly snapshot?: Snapshot;
  readonly appliedSnapshot?: { readonly region: Region; readonly applyState: RaftApplyState };
}

/** Recent log entries kept in memory, so committing and sending them needs no engine read. */
const MAX_CACHED_ENTRIES = 4096;
const MAX_CACHED_ENTRY_BYTES = 8 * 1024 * 1024;

export class PeerStorage implements RaftStorage {
  /** The newest durable entries, contiguous by index. */
  private cache: Entry[] = [];
  private cacheBytes = 0;

  private constructor(
    readonly regionId: number,
    private readonly engines: PeerEngines,
    private readonly snapshots: SnapshotSource,
    private regionValue: Region,
    private raftState: RaftLocalState,
    private applyStateValue: RaftApplyState,
  ) {}

  /** Initial states for a peer created with a known region (bootstrap or split): index and term 5. */
  static initialWrites(region: Region): { raftOps: WriteOp[]; kvOps: WriteOp[] } {
    const raftState = RaftLocalState.fromPartial({
      hardState: { term: RAFT_INIT_LOG_TERM, vote: 0, commit: RAFT_INIT_LOG_INDEX },
      lastIndex: RAFT_INIT_LOG_INDEX,
      lastTerm: RAFT_INIT_LOG_TERM,
    });
    const applyState = RaftApplyState.fromPartial({
      appliedIndex: RAFT_INIT_LOG_INDEX,
      truncatedState: { index: RAFT_INIT_LOG_INDEX, term: RAFT_INIT_LOG_TERM },
    });
    return {
      raftOps: [putProto('meta', raftStateKey(region.id), RaftLocalState.encode(raftState).finish())],
      kvOps: [
        putProto('meta', applyStateKey(region.id), RaftApplyState.encode(applyState).finish()),
        putProto('meta', regionStateKey(region.id), RegionLocalState.encode({ state: PeerState.Normal, region }).finish()),
      ],
    };
  }

  /**
   * Loads a peer's storage. A peer created by a message from a leader (region unknown yet) has no
   * states: it starts empty at index 0 and receives a snapshot.
   */
  static load(regionId: number, deps: PeerStorageDeps, region: Region): PeerStorage {
    const { engines } = deps;
    // A split's apply thread wrote these states for a new region: read past this turn's view.
    const raftBytes = engines.raft.getLatest('meta', raftStateKey(regionId));
    const applyBytes = engines.kv.getLatest('meta', applyStateKey(regionId));
    let raftState = raftBytes ? RaftLocalState.decode(raftBytes) : RaftLocalState.fromPartial({ hardState: HardState.create() });
    if (!applyBytes && raftState.lastIndex > 0) {
      // A log with no apply state: what made this region here (a split's batch) was lost, and an
      // uninitialized peer starts over from a snapshot. Only the term and vote still bind it.
      const hardState = raftState.hardState ?? HardState.create();
      raftState = RaftLocalState.fromPartial({ hardState: { term: hardState.term, vote: hardState.vote, commit: 0 } });
    }
    const applyState = applyBytes
      ? RaftApplyState.decode(applyBytes)
      : RaftApplyState.fromPartial({ appliedIndex: 0, truncatedState: { index: 0, term: 0 } });
    // A crash between a snapshot's kv write and its raft write leaves the log behind the snapshot.
    // A region a split created starts here too (apply state at index 5, no log yet): a hard state
    // its uninitialized peer persisted before (a vote in a later term) is kept.
    const truncated = defined(applyState.truncatedState, 'truncated state of the apply state');
    if (raftState.lastIndex < truncated.index) {
      const hardState = raftState.hardState ?? HardState.create();
      const term = Math.max(hardState.term, truncated.term);
      raftState = RaftLocalState.fromPartial({
        hardState: { term, vote: term === hardState.term ? hardState.vote : 0, commit: Math.max(hardState.commit, truncated.index) },
        lastIndex: truncated.index,
        lastTerm: truncated.term,
      });
    }
    assert(applyState.appliedIndex <= raftState.lastIndex || applyState.appliedIndex === truncated.index, 'applied beyond the log');
    // Commit-only changes are not persisted (see prepareReady): everything applied was committed.
    const hardState = raftState.hardState ?? HardState.create();
    if (hardState.commit < applyState.appliedIndex) {
      raftState = RaftLocalState.fromPartial({ ...raftState, hardState: { ...hardState, commit: applyState.appliedIndex } });
    }
    return new PeerStorage(regionId, engines, deps.snapshots, cloneRegion(region), raftState, applyState);
  }

  get region(): Region {
    return this.regionValue;
  }

  setRegion(region: Region): void {
    this.regionValue = cloneRegion(region);
  }

  get applyState(): RaftApplyState {
    return this.applyStateValue;
  }

  get appliedIndex(): number {
    return this.applyStateValue.appliedIndex;
  }

  get truncatedIndex(): number {
    return defined(this.applyStateValue.truncatedState, 'truncated state of the apply state').index;
  }

  /** Whether the peer knows its region's range (false for a peer created by message, before its snapshot). */
  isInitialized(): boolean {
    return this.regionValue.peers.length > 0;
  }

  // --- raft Storage ---

  initialState(): InitialState {
    return {
      hardState: { ...(this.raftState.hardState ?? HardState.create()) },
      confState: ConfState.fromPartial({ nodes: this.regionValue.peers.map((peer) => peer.id) }),
    };
  }

  entries(lo: number, hi: number, maxSizeBytes?: number): Entry[] {
    if (lo <= this.truncatedIndex) throw new ErrCompacted();
    if (hi > this.raftState.lastIndex + 1) throw new ErrUnavailable(`entries hi ${hi} past last index ${this.raftState.lastIndex}`);
    if (lo >= hi) return [];
    const cached = this.cachedEntries(lo, hi, maxSizeBytes);
    if (cached) return cached;
    const snapshot = this.engines.raft.snapshot();
    try {
      const out: Entry[] = [];
      let sizeBytes = 0;
      let expected = lo;
      for (const { key, value } of snapshot.scan('meta', { start: raftLogKey(this.regionId, lo), end: raftLogKey(this.regionId, hi) })) {
        assert(raftLogIndexOf(key) === expected, `raft log gap: expected ${expected}, found ${raftLogIndexOf(key)}`);
        const entry = decodeLogEntry(this.regionId, expected, value);
        sizeBytes += value.length;
        if (maxSizeBytes !== undefined && out.length > 0 && sizeBytes > maxSizeBytes) break;
        out.push(entry);
        expected++;
      }
      assert(out.length > 0, `raft log entries [${lo}, ${hi}) missing`);
      return out;
    } finally {
      snapshot.close();
    }
  }

  term(index: number): number {
    const truncated = defined(this.applyStateValue.truncatedState, 'truncated state of the apply state');
    if (index === truncated.index) return truncated.term;
    if (index < truncated.index) throw new ErrCompacted();
    if (index > this.raftState.lastIndex) throw new ErrUnavailable();
    if (index === this.raftState.lastIndex) return this.raftState.lastTerm;
    const first = this.cache[0];
    // Per entry on the hot path: a local check narrows without a call; a miss reads the engine below.
    const cached = first && index >= first.index ? this.cache[index - first.index] : undefined;
    if (cached !== undefined) return cached.term;
    const bytes = this.engines.raft.get('meta', raftLogKey(this.regionId, index));
    assert(bytes !== undefined, `raft log entry ${index} missing`);
    return decodeLogEntry(this.regionId, index, bytes).term;
  }

  firstIndex(): number {
    return this.truncatedIndex + 1;
  }

  lastIndex(): number {
    return this.raftState.lastIndex;
  }

  /** A snapshot of the region at its applied index (see SnapshotSource). */
  snapshot(): Snapshot {
    return this.snapshots.snapshot(this.regionId, (index) => this.term(index), this.truncatedIndex);
  }

  // --- writes ---

  /** The ops that persist a Ready's snapshot, entries and hard state. Nothing changes until commitReady. */
  prepareReady(ready: { hardState?: HardState; entries: Entry[]; snapshot?: Snapshot }): ReadyWrites {
    const raftOps: WriteOp[] = [];
    let raftState = RaftLocalState.fromPartial(this.raftState);
    let appliedSnapshot: ReadyWrites['appliedSnapshot'];
    let snapshot: Snapshot | undefined;
    const meta = ready.snapshot?.metadata;
    if (ready.snapshot && meta && meta.index > 0) {
      snapshot = ready.snapshot;
      appliedSnapshot = this.snapshotOps(ready.snapshot, raftOps);
      raftState = RaftLocalState.fromPartial({
        hardState: { ...(raftState.hardState ?? HardState.create()), commit: Math.max(raftState.hardState?.commit ?? 0, meta.index) },
        lastIndex: meta.index,
        lastTerm: meta.term,
      });
    }
    if (ready.entries.length > 0) raftState = this.appendOps(ready.entries, raftState, raftOps);
    const before = raftState.hardState;
    if (ready.hardState) raftState = RaftLocalState.fromPartial({ ...raftState, hardState: { ...ready.hardState } });
    // A change of the commit index alone is not written: commit is recoverable (from the applied
    // index on restart, then from the leader), and skipping it saves a raft-engine write on every
    // commit. Term and vote changes are always durable before any message goes out.
    const onlyCommitChanged =
      ready.hardState !== undefined && before !== undefined && ready.hardState.term === before.term && ready.hardState.vote === before.vote;
    if (raftOps.length > 0 || (ready.hardState && !onlyCommitChanged)) {
      raftOps.push(putProto('meta', raftStateKey(this.regionId), RaftLocalState.encode(raftState).finish()));
    }
    return { raftOps, appended: ready.entries, raftState, snapshot, appliedSnapshot };
  }

  /** Makes a prepared Ready's state current, once its ops are durable. */
  commitReady(writes: ReadyWrites): void {
    this.raftState = writes.raftState;
    if (writes.snapshot) this.dropCacheFrom(0);
    if (writes.appended.length > 0) this.cacheAppended(writes.appended);
    if (writes.appliedSnapshot) {
      this.regionValue = cloneRegion(writes.appliedSnapshot.region);
      this.applyStateValue = writes.appliedSnapshot.applyState;
    }
  }

  /** Records a new applied state (after its kv batch is written). */
  setApplyState(applyState: RaftApplyState): void {
    assert(applyState.appliedIndex >= this.applyStateValue.appliedIndex, 'applied index moved back');
    this.applyStateValue = applyState;
    // Compacted entries are never read again.
    const truncatedIndex = this.truncatedIndex;
    for (let head = this.cache[0]; head !== undefined && head.index <= truncatedIndex; head = this.cache[0]) {
      this.cache.shift();
      this.cacheBytes -= entrySizeBytes(head);
    }
  }

  /** Cached entries [lo, hi) within the size limit (at least one), or undefined if not all cached. */
  private cachedEntries(lo: number, hi: number, maxSizeBytes?: number): Entry[] | undefined {
    const first = this.cache[0];
    if (!first || lo < first.index || hi > first.index + this.cache.length) return undefined;
    const out: Entry[] = [];
    let sizeBytes = 0;
    for (let index = lo; index < hi; index++) {
      // Per entry on the hot path: the range check above proves presence, so narrow locally, no call.
      const entry = this.cache[index - first.index];
      if (entry === undefined) break;
      sizeBytes += entrySizeBytes(entry);
      if (maxSizeBytes !== undefined && out.length > 0 && sizeBytes > maxSizeBytes) break;
      out.push(entry);
    }
    return out;
  }

  private cacheAppended(entries: readonly Entry[]): void {
    const head = defined(entries[0], 'first appended entry');
    // A conflicting suffix was replaced: its cached entries go.
    this.dropCacheFrom(head.index);
    const first = this.cache[0];
    if (first && first.index + this.cache.length !== head.index) this.dropCacheFrom(0);
    for (const entry of entries) {
      this.cache.push(entry);
      this.cacheBytes += entrySizeBytes(entry);
    }
    while (this.cache.length > MAX_CACHED_ENTRIES || (this.cacheBytes > MAX_CACHED_ENTRY_BYTES && this.cache.length > 1)) {
      const dropped = this.cache.shift();
      if (dropped === undefined) break; // the length check above proves presence
      this.cacheBytes -= entrySizeBytes(dropped);
    }
  }

  /** Drops cached entries with index >= `index`. */
  private dropCacheFrom(index: number): void {
    const first = this.cache[0];
    if (!first) return;
    const keep = Math.max(0, index - first.index);
    if (keep >= this.cache.length) return;
    for (const entry of this.cache.splice(keep)) this.cacheBytes -= entrySizeBytes(entry);
  }

  /** Ops deleting raft log entries in [fromIndex, toIndex); run by the raft-log GC. */
  logDeleteOps(fromIndex: number, toIndex: number): WriteOp[] {
    if (fromIndex >= toIndex) return [];
    return [{ type: 'deleteRange', cf: 'meta', start: raftLogKey(this.regionId, fromIndex), end: raftLogKey(this.regionId, toIndex) }];
  }

  /** Raft-engine ops removing this peer's log and raft state (the kv side is peer-destroy.ts's). */
  destroyRaftOps(): WriteOp[] {
    return PeerStorage.destroyRaftOps(this.regionId);
  }

  static destroyRaftOps(regionId: number): WriteOp[] {
    return [
      { type: 'deleteRange', cf: 'meta', start: raftLogKey(regionId, 0), end: raftLogKey(regionId, Number.MAX_SAFE_INTEGER) },
      { type: 'delete', cf: 'meta', key: raftStateKey(regionId) },
    ];
  }

  private appendOps(entries: Entry[], state: RaftLocalState, raftOps: WriteOp[]): RaftLocalState {
    const first = defined(entries[0], 'first entry to append');
    const last = defined(entries.at(-1), 'last entry to append');
    assert(first.index > this.truncatedIndex, `append ${first.index} at or below truncated ${this.truncatedIndex}`);
    assert(first.index <= state.lastIndex + 1, `append ${first.index} leaves a gap after ${state.lastIndex}`);
    for (const entry of entries) raftOps.push({ type: 'put', cf: 'meta', key: raftLogKey(this.regionId, entry.index), value: encodeLogEntry(entry) });
    // A conflicting suffix of the old log beyond the new last entry must go.
    if (last.index < state.lastIndex) raftOps.push(...this.logDeleteOps(last.index + 1, state.lastIndex + 1));
    return RaftLocalState.fromPartial({ ...state, lastIndex: last.index, lastTerm: last.term });
  }

  private snapshotOps(snapshot: Snapshot, raftOps: WriteOp[]): ReadyWrites['appliedSnapshot'] {
    const meta = defined(snapshot.metadata, 'snapshot metadata');
    const region = defined(RaftSnapshotData.decode(snapshot.data).region, 'snapshot region'); // checked on receipt
    assert(region.id === this.regionId, `snapshot of region ${region.id} sent to region ${this.regionId}`);
    // The old log goes; the apply system replaces the data and the apply and region states.
    raftOps.push(...this.logDeleteOps(this.truncatedIndex + 1, this.raftState.lastIndex + 1));
    const applyState = RaftApplyState.fromPartial({ appliedIndex: meta.index, truncatedState: { index: meta.index, term: meta.term } });
    return { region, applyState };
  }
}

function entrySizeBytes(entry: Entry): number {
  return entry.data.length + 24; // data plus the fixed fields, roughly as encoded
}

export function putProto(cf: 'meta', key: Buffer, bytes: Uint8Array): WriteOp {
  return { type: 'put', cf, key, value: Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength) };
}

/** Deletes a region's data in every data family. */
export function clearRangeOps(region: Region): WriteOp[] {
  // Keys are never empty, so [0x00] is the smallest key; an empty end key means unbounded.
  const start = region.startKey.length > 0 ? Buffer.from(region.startKey) : Buffer.from([0x00]);
  const end = region.endKey.length > 0 ? Buffer.from(region.endKey) : undefined;
  return (['default', 'lock', 'write'] as const).map((cf) => ({ type: 'deleteRange' as const, cf, start, end }));
}
