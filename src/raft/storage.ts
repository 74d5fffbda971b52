/**
 * The `Storage` interface Raft reads its stable log from, and `MemoryStorage`,
 * an in-memory implementation for tests, simulation and embedders.
 */
import { ConfState, Entry, HardState, Snapshot, SnapshotMetadata } from '../proto/eraftpb.js';
import { defined, invariant, invariantLazy } from './assert.js';
import { ErrCompacted, ErrSnapOutOfDate, ErrSnapshotTemporarilyUnavailable, ErrUnavailable } from './errors.js';

export { ErrCompacted, ErrSnapOutOfDate, ErrSnapshotTemporarilyUnavailable, ErrUnavailable };

/** Fixed per-entry overhead added to `data.length` when sizing messages. */
export const ENTRY_OVERHEAD_BYTES = 16;

/** Approximate encoded size of an entry, used for `maxSizePerMsgBytes` limits. */
export function entrySizeBytes(entry: Entry): number {
  return entry.data.length + ENTRY_OVERHEAD_BYTES;
}

/**
 * Returns the longest prefix of `entries` whose total size is at most
 * `maxSizeBytes`, but always at least one entry. May return `entries` itself.
 */
export function limitSize(entries: Entry[], maxSizeBytes: number | undefined): Entry[] {
  if (maxSizeBytes === undefined || entries.length <= 1) return entries;
  let size = entrySizeBytes(defined(entries[0], 'entries[0]'));
  let n = 1;
  while (n < entries.length) {
    size += entrySizeBytes(defined(entries[n], 'entries[n]'));
    if (size > maxSizeBytes) break;
    n++;
  }
  return n === entries.length ? entries : entries.slice(0, n);
}

/** What `Storage.initialState` returns: the persisted hard state and configuration. */
export interface InitialState {
  hardState: HardState;
  confState: ConfState;
}

/**
 * The stable storage Raft reads from. The application writes to it while
 * handling a `Ready` (entries, hard state, snapshot), and Raft reads back.
 * All methods are synchronous. Entries handed in or out must not be mutated.
 */
export interface Storage {
  /** Persisted HardState and ConfState (empty values for a fresh node). */
  initialState(): InitialState;
  /**
   * Entries in [lo, hi). Throws ErrCompacted if lo <= the snapshot index and
   * ErrUnavailable if the range goes past the last index. When `maxSizeBytes`
   * is given the result is truncated to that size, but holds at least one entry.
   */
  entries(lo: number, hi: number, maxSizeBytes?: number): Entry[];
  /**
   * Term of entry i, for i in [firstIndex()-1, lastIndex()] (firstIndex()-1 is
   * the snapshot's index, whose term is kept). Throws ErrCompacted below that,
   * ErrUnavailable above.
   */
  term(i: number): number;
  /** Index of the first entry still available (snapshot index + 1). */
  firstIndex(): number;
  /** Index of the last entry (the snapshot index when the log is empty). */
  lastIndex(): number;
  /**
   * The most recent snapshot. May throw ErrSnapshotTemporarilyUnavailable
   * while one is being prepared; Raft will ask again later.
   */
  snapshot(): Snapshot;
}

function emptySnapshot(): Snapshot {
  return Snapshot.create({ metadata: SnapshotMetadata.create({ confState: ConfState.create() }) });
}

/** Snapshot index (0 when absent). */
export function snapshotIndex(snap: Snapshot | undefined): number {
  return snap?.metadata?.index ?? 0;
}

/** Snapshot term (0 when absent). */
export function snapshotTerm(snap: Snapshot | undefined): number {
  return snap?.metadata?.term ?? 0;
}

/** True if the snapshot is missing or has index 0. */
export function isEmptySnapshot(snap: Snapshot | undefined): boolean {
  return snapshotIndex(snap) === 0;
}

function dummyEntry(index: number, term: number): Entry {
  return { entryType: 0, term, index, data: EMPTY_BUFFER };
}

const EMPTY_BUFFER = Buffer.alloc(0);

/**
 * In-memory `Storage`. `ents[0]` is a dummy entry holding the snapshot's
 * index and term, so `term(snapshotIndex)` keeps working after compaction.
 */
export class MemoryStorage implements Storage {
  private hardState: HardState = HardState.create();
  private snap: Snapshot = emptySnapshot();
  private ents: Entry[] = [dummyEntry(0, 0)];

  initialState(): InitialState {
    const confState = this.snap.metadata?.confState ?? ConfState.create();
    return { hardState: { ...this.hardState }, confState: { nodes: [...confState.nodes] } };
  }

  /** Persists the hard state (term, vote, commit). */
  setHardState(hardState: HardState): void {
    this.hardState = { term: hardState.term, vote: hardState.vote, commit: hardState.commit };
  }

  /** The persisted hard state. */
  getHardState(): HardState {
    return { ...this.hardState };
  }

  private get offset(): number {
    return defined(this.ents[0], 'ents[0]').index;
  }

  entries(lo: number, hi: number, maxSizeBytes?: number): Entry[] {
    const offset = this.offset;
    if (lo <= offset) throw new ErrCompacted();
    if (hi > this.lastIndex() + 1) {
      throw new ErrUnavailable(`entries hi(${hi}) is out of bound lastIndex(${this.lastIndex()})`);
    }
    invariant(lo <= hi, 'entries: lo > hi');
    return limitSize(this.ents.slice(lo - offset, hi - offset), maxSizeBytes);
  }

  term(i: number): number {
    const offset = this.offset;
    if (i < offset) throw new ErrCompacted();
    if (i - offset >= this.ents.length) throw new ErrUnavailable();
    return defined(this.ents[i - offset], 'ents[i - offset]').term;
  }

  lastIndex(): number {
    return this.offset + this.ents.length - 1;
  }

  firstIndex(): number {
    return this.offset + 1;
  }

  snapshot(): Snapshot {
    return this.snap;
  }

  /** Replaces the whole log with the snapshot (used when a follower receives one). */
  applySnapshot(snap: Snapshot): void {
    const index = snapshotIndex(snap);
    if (index <= snapshotIndex(this.snap)) throw new ErrSnapOutOfDate();
    this.snap = snap;
    this.ents = [dummyEntry(index, snapshotTerm(snap))];
  }

  /**
   * Records a snapshot of the state machine at `index` (which must be applied
   * and <= lastIndex). Returns it. Does not compact; call `compact` for that.
   */
  createSnapshot(index: number, confState: ConfState | undefined, data: Uint8Array): Snapshot {
    if (index <= snapshotIndex(this.snap)) throw new ErrSnapOutOfDate();
    invariantLazy(index <= this.lastIndex(), () => `snapshot ${index} > lastIndex ${this.lastIndex()}`);
    const offset = this.offset;
    invariant(index >= offset, 'createSnapshot below the log offset');
    const term = defined(this.ents[index - offset], 'ents[index - offset]').term;
    const cs = confState ?? this.snap.metadata?.confState ?? ConfState.create();
    this.snap = {
      data: Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength),
      metadata: { index, term, confState: { nodes: [...cs.nodes] } },
    };
    return this.snap;
  }

  /**
   * Discards entries up to and including `compactIndex`, which must be
   * <= lastIndex. The application must not compact past its applied index.
   */
  compact(compactIndex: number): void {
    const offset = this.offset;
    if (compactIndex <= offset) throw new ErrCompacted();
    invariantLazy(compactIndex <= this.lastIndex(), () => `compact ${compactIndex} > lastIndex ${this.lastIndex()}`);
    const i = compactIndex - offset;
    const head = defined(this.ents[i], 'ents[i]');
    const rest = this.ents.slice(i + 1);
    rest.unshift(dummyEntry(head.index, head.term));
    this.ents = rest;
  }

  /**
   * Appends entries, which must be contiguous. Entries already compacted are
   * skipped; entries that overlap the log replace it from the first overlap.
   */
  append(entries: readonly Entry[]): void {
    if (entries.length === 0) return;
    checkContiguous(entries);
    const first = this.firstIndex();
    const last = defined(entries[entries.length - 1], 'entries[entries.length - 1]').index;
    if (last < first) return;
    let from = 0;
    const firstGiven = defined(entries[0], 'entries[0]').index;
    if (first > firstGiven) from = first - firstGiven;
    const start = defined(entries[from], 'entries[from]').index;
    const offset = this.offset;
    invariantLazy(start <= this.lastIndex() + 1, () => `missing log entry [last: ${this.lastIndex()}, append at: ${start}]`);
    const keep = start - offset;
    if (keep < this.ents.length) this.ents.length = keep;
    for (let k = from; k < entries.length; k++) this.ents.push(defined(entries[k], 'entries[k]'));
  }
}

/** Asserts indexes increase by one and terms never decrease. */
export function checkContiguous(entries: readonly Entry[]): void {
  for (let k = 1; k < entries.length; k++) {
    const prev = defined(entries[k - 1], 'entries[k - 1]');
    const cur = defined(entries[k], 'entries[k]');
    invariantLazy(cur.index === prev.index + 1, () => `entries not contiguous: ${prev.index} then ${cur.index}`);
    invariantLazy(cur.term >= prev.term, () => `entry terms go back: ${prev.term}@${prev.index} then ${cur.term}@${cur.index}`);
  }
}
