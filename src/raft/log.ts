/**
 * RaftLog: the replicated log as one node sees it.
 *
 *   snapshot/first ..... applied ..... committed ..... stabled ..... last
 *   |<-- Storage (persisted) ------------------------->|<- unstable ->|
 *
 * Entries up to `stabled` live in Storage; later ones are held here until the
 * application persists them and calls `stableTo`. A snapshot received from the
 * leader is held as `pendingSnapshot` until persisted.
 */
import { Entry, EntryType, Snapshot } from '../proto/eraftpb.js';
import { defined, invariant, invariantLazy } from './assert.js';
import { ErrCompacted, RaftError } from './errors.js';
import { checkContiguous, limitSize, snapshotIndex, snapshotTerm, type Storage } from './storage.js';

export class RaftLog {
  readonly storage: Storage;
  /** Highest index known to be committed by a quorum. Never decreases. */
  committed: number;
  /** Highest index the application has applied. applied <= committed. */
  applied: number;
  /** Index of unstableEntries[0]; everything below it is in Storage (or the pending snapshot). */
  private unstableOffset: number;
  private unstableEnts: Entry[] = [];
  private pendingSnap: Snapshot | undefined;

  constructor(storage: Storage) {
    this.storage = storage;
    const first = storage.firstIndex();
    this.unstableOffset = storage.lastIndex() + 1;
    this.committed = first - 1;
    this.applied = first - 1;
  }

  /** Index of the last stable (persisted) entry. */
  get stabled(): number {
    return this.unstableOffset - 1;
  }

  /** A snapshot received but not yet persisted by the application. */
  get pendingSnapshot(): Snapshot | undefined {
    return this.pendingSnap;
  }

  firstIndex(): number {
    if (this.pendingSnap !== undefined) return snapshotIndex(this.pendingSnap) + 1;
    return this.storage.firstIndex();
  }

  lastIndex(): number {
    const n = this.unstableEnts.length;
    if (n > 0) return this.unstableOffset + n - 1;
    if (this.pendingSnap !== undefined) return snapshotIndex(this.pendingSnap);
    return this.storage.lastIndex();
  }

  /** Term of entry i, or undefined when i is compacted away or beyond the last index. */
  termOrUndefined(i: number): number | undefined {
    if (i >= this.unstableOffset) {
      const k = i - this.unstableOffset;
      return k < this.unstableEnts.length ? defined(this.unstableEnts[k], 'unstableEnts[k]').term : undefined;
    }
    const snap = this.pendingSnap;
    if (snap !== undefined) {
      return i === snapshotIndex(snap) ? snapshotTerm(snap) : undefined;
    }
    if (i < this.storage.firstIndex() - 1 || i > this.storage.lastIndex()) return undefined;
    try {
      return this.storage.term(i);
    } catch (err) {
      if (err instanceof RaftError && err.code !== 'Raft:Invariant') return undefined;
      throw err;
    }
  }

  /** Term of entry i; throws ErrCompacted when it is no longer available. */
  term(i: number): number {
    const t = this.termOrUndefined(i);
    if (t === undefined) {
      if (i < this.firstIndex() - 1) throw new ErrCompacted();
      return 0;
    }
    return t;
  }

  lastTerm(): number {
    const t = this.termOrUndefined(this.lastIndex());
    invariant(t !== undefined, 'term of the last index is unavailable');
    return t;
  }

  matchTerm(i: number, term: number): boolean {
    return this.termOrUndefined(i) === term;
  }

  /** Raft §5.4.1: is a log ending at (lastIndex, term) at least as up to date as ours? */
  isUpToDate(lastIndex: number, term: number): boolean {
    const ourTerm = this.lastTerm();
    return term > ourTerm || (term === ourTerm && lastIndex >= this.lastIndex());
  }

  /**
   * Follower side of MsgAppend. Returns the index of the last new entry, or
   * undefined if our log has no entry (index, logTerm).
   */
  maybeAppend(index: number, logTerm: number, committed: number, entries: Entry[]): number | undefined {
    if (!this.matchTerm(index, logTerm)) return undefined;
    const lastNew = index + entries.length;
    const conflict = this.findConflict(entries);
    if (conflict !== 0) {
      invariantLazy(conflict > this.committed, () => `entry ${conflict} conflicts with committed entry [committed(${this.committed})]`);
      this.append(conflict === index + 1 ? entries : entries.slice(conflict - index - 1));
    }
    this.commitTo(Math.min(committed, lastNew));
    return lastNew;
  }

  /** First index whose term differs from ours (a conflict or a new entry), 0 if none. */
  findConflict(entries: readonly Entry[]): number {
    for (const e of entries) {
      if (!this.matchTerm(e.index, e.term)) return e.index;
    }
    return 0;
  }

  /**
   * Largest index <= `index` whose term is <= `term`, with that term. Used for
   * fast backtracking. An unknown (compacted) term yields [index, 0].
   */
  findConflictByTerm(index: number, term: number): [number, number] {
    for (; index > 0; index--) {
      const ourTerm = this.termOrUndefined(index);
      if (ourTerm === undefined) return [index, 0];
      if (ourTerm <= term) return [index, ourTerm];
    }
    return [0, 0];
  }

  /** Appends (possibly truncating uncommitted entries). Returns the new last index. */
  append(entries: Entry[]): number {
    if (entries.length === 0) return this.lastIndex();
    const first = defined(entries[0], 'entries[0]');
    const after = first.index - 1;
    invariantLazy(after >= this.committed, () => `after(${after}) is out of range [committed(${this.committed})]`);
    invariantLazy(after <= this.lastIndex(), () => `append leaves a gap: after ${after}, last ${this.lastIndex()}`);
    checkContiguous(entries);
    const prevTerm = this.termOrUndefined(after);
    invariantLazy(prevTerm === undefined || prevTerm <= first.term, () => `log term goes back at ${first.index}: ${prevTerm} > ${first.term}`);
    this.truncateAndAppend(entries);
    return this.lastIndex();
  }

  private truncateAndAppend(entries: Entry[]): void {
    const from = defined(entries[0], 'entries[0]').index;
    const end = this.unstableOffset + this.unstableEnts.length;
    if (from === end) {
      for (const e of entries) this.unstableEnts.push(e);
    } else if (from <= this.unstableOffset) {
      this.unstableOffset = from;
      this.unstableEnts = entries.slice();
    } else {
      const kept = this.unstableEnts.slice(0, from - this.unstableOffset);
      for (const e of entries) kept.push(e);
      this.unstableEnts = kept;
    }
  }

  /** Entries not yet persisted (a copy). */
  unstableEntries(): Entry[] {
    return this.unstableEnts.slice();
  }

  hasUnstableEntries(): boolean {
    return this.unstableEnts.length > 0;
  }

  /**
   * Entries in [lo, hi). Throws ErrCompacted if lo < firstIndex. With
   * `maxSizeBytes` the result is truncated but holds at least one entry.
   */
  slice(lo: number, hi: number, maxSizeBytes?: number): Entry[] {
    invariantLazy(lo <= hi, () => `invalid slice ${lo} > ${hi}`);
    if (lo < this.firstIndex()) throw new ErrCompacted();
    invariantLazy(hi <= this.lastIndex() + 1, () => `slice[${lo},${hi}) out of bound last ${this.lastIndex()}`);
    if (lo === hi) return [];
    let ents: Entry[] = [];
    if (lo < this.unstableOffset) {
      const storedHi = Math.min(hi, this.unstableOffset);
      ents = this.storage.entries(lo, storedHi, maxSizeBytes);
      if (ents.length < storedHi - lo) return ents;
    }
    if (hi > this.unstableOffset) {
      const start = Math.max(lo, this.unstableOffset) - this.unstableOffset;
      const part = this.unstableEnts.slice(start, hi - this.unstableOffset);
      ents = ents.length === 0 ? part : ents.concat(part);
    }
    return limitSize(ents, maxSizeBytes);
  }

  /** Entries from index i to the end; undefined if i has been compacted. */
  entriesFrom(i: number, maxSizeBytes?: number): Entry[] | undefined {
    if (i > this.lastIndex()) return [];
    if (i < this.firstIndex()) return undefined;
    return this.slice(i, this.lastIndex() + 1, maxSizeBytes);
  }

  hasNextCommittedEntries(): boolean {
    const from = Math.max(this.applied + 1, this.firstIndex());
    return this.committed + 1 > from;
  }

  /** Committed entries not yet applied. */
  nextCommittedEntries(maxSizeBytes?: number): Entry[] {
    const from = Math.max(this.applied + 1, this.firstIndex());
    if (this.committed + 1 <= from) return [];
    return this.slice(from, this.committed + 1, maxSizeBytes);
  }

  /** True if a committed but unapplied entry is a conf change. */
  hasUnappliedConfChange(): boolean {
    if (!this.hasNextCommittedEntries()) return false;
    for (const e of this.nextCommittedEntries()) {
      if (e.entryType === EntryType.EntryConfChange) return true;
    }
    return false;
  }

  /** Moves the commit index forward (never back). */
  commitTo(index: number): void {
    if (index <= this.committed) return;
    invariantLazy(index <= this.lastIndex(), () => `tocommit(${index}) is out of range [lastIndex(${this.lastIndex()})]`);
    this.committed = index;
  }

  appliedTo(index: number): void {
    if (index === 0) return;
    invariantLazy(
      index <= this.committed && index >= this.applied,
      () => `applied(${index}) is out of range [prevApplied(${this.applied}), committed(${this.committed})]`,
    );
    this.applied = index;
  }

  /** The application persisted entries up to (index, term). */
  stableTo(index: number, term: number): void {
    if (index < this.unstableOffset) return;
    const k = index - this.unstableOffset;
    if (k >= this.unstableEnts.length || defined(this.unstableEnts[k], 'unstableEnts[k]').term !== term) return;
    this.unstableEnts = k + 1 === this.unstableEnts.length ? [] : this.unstableEnts.slice(k + 1);
    this.unstableOffset = index + 1;
  }

  /** The application persisted the pending snapshot at `index`. */
  stableSnapTo(index: number): void {
    if (this.pendingSnap !== undefined && snapshotIndex(this.pendingSnap) === index) {
      this.pendingSnap = undefined;
    }
  }

  /** Replaces the log by a snapshot received from the leader. */
  restore(snap: Snapshot): void {
    const index = snapshotIndex(snap);
    invariantLazy(index >= this.committed, () => `restore snapshot ${index} below committed ${this.committed}`);
    this.committed = index;
    this.unstableOffset = index + 1;
    this.unstableEnts = [];
    this.pendingSnap = snap;
  }

  /** The snapshot to send to a lagging follower. */
  snapshot(): Snapshot {
    return this.pendingSnap ?? this.storage.snapshot();
  }
}
