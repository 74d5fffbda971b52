/**
 * Leader-side view of each follower (Progress) and of the whole configuration
 * (ProgressTracker: quorum commit index, votes, liveness).
 */
import { defined, invariant, invariantLazy } from './assert.js';

/**
 * How the leader replicates to a follower:
 * - `Probe`: one MsgAppend at a time until the follower's match is found;
 * - `Replicate`: optimistic pipelining bounded by the in-flight window;
 * - `Snapshot`: a snapshot was sent; wait for it to be applied.
 */
export type ProgressStateType = 'Probe' | 'Replicate' | 'Snapshot';

/**
 * Sliding window of in-flight MsgAppend messages, identified by the index of
 * their last entry. A ring buffer with a fixed capacity.
 */
export class Inflights {
  private readonly buffer: number[];
  private start = 0;
  private count = 0;

  constructor(readonly capacity: number) {
    invariant(Number.isSafeInteger(capacity) && capacity > 0, 'inflight capacity must be > 0');
    this.buffer = new Array<number>(capacity).fill(0);
  }

  get length(): number {
    return this.count;
  }

  full(): boolean {
    return this.count === this.capacity;
  }

  /** Records a message whose last entry has `index`; indexes must increase. */
  add(index: number): void {
    invariant(!this.full(), 'cannot add into a full inflights');
    if (this.count > 0) {
      const last = defined(this.buffer[(this.start + this.count - 1) % this.capacity], 'newest in-flight slot');
      invariantLazy(index > last, () => `inflight index ${index} not above ${last}`);
    }
    this.buffer[(this.start + this.count) % this.capacity] = index;
    this.count++;
  }

  /** Frees every in-flight message whose index is <= `index`. */
  freeLE(index: number): void {
    while (this.count > 0 && defined(this.buffer[this.start], 'oldest in-flight slot') <= index) {
      this.start = (this.start + 1) % this.capacity;
      this.count--;
    }
    if (this.count === 0) this.start = 0;
  }

  /** Frees the oldest in-flight message (a heartbeat response proved the follower alive). */
  freeFirstOne(): void {
    if (this.count === 0) return;
    this.freeLE(defined(this.buffer[this.start], 'oldest in-flight slot'));
  }

  reset(): void {
    this.start = 0;
    this.count = 0;
  }

  /** The in-flight indexes, oldest first (for tests and status). */
  toArray(): number[] {
    const out: number[] = [];
    for (let k = 0; k < this.count; k++) out.push(defined(this.buffer[(this.start + k) % this.capacity], 'in-flight slot'));
    return out;
  }
}

/** The leader's knowledge of one follower's log. */
export class Progress {
  /** Highest index known to match the leader's log. */
  match: number;
  /** Index of the next entry to send. */
  next: number;
  state: ProgressStateType = 'Probe';
  /** In `Snapshot` state: index of the snapshot sent. */
  pendingSnapshot = 0;
  /** Leader tick at which the pending snapshot was sent. */
  snapshotSentAtTick = 0;
  /** Heard from since the last check-quorum round. */
  recentActive = false;
  /** In `Probe` state: a MsgAppend is outstanding, wait for a reply or heartbeat. */
  probeSent = false;
  readonly inflights: Inflights;

  constructor(match: number, next: number, maxInflight: number) {
    this.match = match;
    this.next = next;
    this.inflights = new Inflights(maxInflight);
  }

  private resetState(state: ProgressStateType): void {
    this.probeSent = false;
    this.pendingSnapshot = 0;
    this.state = state;
    this.inflights.reset();
  }

  becomeProbe(): void {
    if (this.state === 'Snapshot') {
      const pending = this.pendingSnapshot;
      this.resetState('Probe');
      this.next = Math.max(this.match + 1, pending + 1);
    } else {
      this.resetState('Probe');
      this.next = this.match + 1;
    }
  }

  becomeReplicate(): void {
    this.resetState('Replicate');
    this.next = this.match + 1;
  }

  becomeSnapshot(snapshotIndex: number, tick: number): void {
    this.resetState('Snapshot');
    this.pendingSnapshot = snapshotIndex;
    this.snapshotSentAtTick = tick;
  }

  /** A successful append response for `index`. Returns true if match moved. */
  maybeUpdate(index: number): boolean {
    let updated = false;
    if (this.match < index) {
      this.match = index;
      this.probeSent = false;
      updated = true;
    }
    if (this.next < index + 1) this.next = index + 1;
    return updated;
  }

  /** Replicate state: entries up to `lastIndex` were just sent. */
  optimisticUpdate(lastIndex: number): void {
    this.next = lastIndex + 1;
  }

  /** Bookkeeping after sending a MsgAppend whose last entry is `lastIndex` (n entries). */
  sentEntries(count: number, lastIndex: number): void {
    if (count === 0) return;
    if (this.state === 'Replicate') {
      this.optimisticUpdate(lastIndex);
      this.inflights.add(lastIndex);
    } else if (this.state === 'Probe') {
      this.probeSent = true;
    }
  }

  /**
   * A rejection of the append at `rejected`; `matchHint` is the follower's
   * hint of where the logs may agree. Returns false if the rejection is stale.
   */
  maybeDecrTo(rejected: number, matchHint: number): boolean {
    if (this.state === 'Replicate') {
      if (rejected <= this.match) return false;
      // Pipelining went wrong: fall back to probing from match + 1.
      this.becomeProbe();
      return true;
    }
    if (this.next - 1 !== rejected) return false;
    this.next = Math.max(Math.min(rejected, matchHint + 1), this.match + 1);
    this.probeSent = false;
    return true;
  }

  isPaused(): boolean {
    switch (this.state) {
      case 'Probe':
        return this.probeSent;
      case 'Replicate':
        return this.inflights.full();
      case 'Snapshot':
        return true;
    }
  }
}

/** Outcome of counting votes. */
export type VoteResult = 'Won' | 'Lost' | 'Pending';

/** The configuration (voters) and each voter's progress and vote. */
export class ProgressTracker {
  private readonly progress = new Map<number, Progress>();
  private readonly votes = new Map<number, boolean>();
  private sortedIds: number[] = [];
  private readonly scratch: number[] = [];

  constructor(readonly maxInflight: number) {}

  get size(): number {
    return this.progress.size;
  }

  has(id: number): boolean {
    return this.progress.has(id);
  }

  get(id: number): Progress | undefined {
    return this.progress.get(id);
  }

  /** Voter ids, sorted ascending. Do not mutate. */
  ids(): readonly number[] {
    return this.sortedIds;
  }

  entries(): IterableIterator<[number, Progress]> {
    return this.progress.entries();
  }

  /** Adds a voter (no-op if present). Returns true if added. */
  add(id: number, match: number, next: number): boolean {
    invariant(Number.isSafeInteger(id) && id > 0, 'node id must be a positive safe integer');
    if (this.progress.has(id)) return false;
    const pr = new Progress(match, next, this.maxInflight);
    pr.recentActive = true;
    this.progress.set(id, pr);
    this.sortedIds = [...this.progress.keys()].sort((a, b) => a - b);
    return true;
  }

  /** Removes a voter (no-op if absent). Returns true if removed. */
  remove(id: number): boolean {
    if (!this.progress.delete(id)) return false;
    this.votes.delete(id);
    this.sortedIds = this.sortedIds.filter((x) => x !== id);
    return true;
  }

  /** Votes needed for a majority. */
  quorum(): number {
    return Math.floor(this.progress.size / 2) + 1;
  }

  /** Largest index replicated on a quorum (0 with no voters). */
  committedIndex(): number {
    // Hot path (every append response): insertion sort of a handful of matches, descending.
    const n = this.progress.size;
    if (n === 0) return 0;
    const values = this.scratch;
    values.length = 0;
    for (const pr of this.progress.values()) {
      const m = pr.match;
      let k = values.length;
      values.push(m);
      while (k > 0 && defined(values[k - 1], 'values[k - 1]') < m) {
        values[k] = defined(values[k - 1], 'values[k - 1]');
        k--;
      }
      values[k] = m;
    }
    return defined(values[this.quorum() - 1], 'quorum-th value');
  }

  /**
   * The value v such that a quorum of voters has a value >= v, given a
   * per-progress accessor. 0 when there are no voters.
   */
  quorumValue(value: (pr: Progress, id: number) => number): number {
    const n = this.progress.size;
    if (n === 0) return 0;
    const values = this.scratch;
    values.length = 0;
    for (const [id, pr] of this.progress) values.push(value(pr, id));
    values.sort((a, b) => b - a);
    return defined(values[this.quorum() - 1], 'quorum-th value');
  }

  /** Records a vote; the first answer of each voter wins. */
  recordVote(id: number, granted: boolean): void {
    if (!this.votes.has(id)) this.votes.set(id, granted);
  }

  resetVotes(): void {
    this.votes.clear();
  }

  voteOf(id: number): boolean | undefined {
    return this.votes.get(id);
  }

  tallyVotes(): { granted: number; rejected: number; result: VoteResult } {
    let granted = 0;
    let rejected = 0;
    for (const id of this.progress.keys()) {
      const v = this.votes.get(id);
      if (v === true) granted++;
      else if (v === false) rejected++;
    }
    const q = this.quorum();
    const n = this.progress.size;
    let result: VoteResult = 'Pending';
    if (n > 0 && granted >= q) result = 'Won';
    else if (n - rejected < q) result = 'Lost';
    return { granted, rejected, result };
  }

  /** True if a quorum was recently active (`self` always counts as active). */
  quorumActive(self: number): boolean {
    let active = 0;
    for (const [id, pr] of this.progress) {
      if (id === self || pr.recentActive) active++;
    }
    return active >= this.quorum();
  }

  /** Calls fn for every progress except `self`'s. */
  forEachPeer(self: number, fn: (id: number, pr: Progress) => void): void {
    for (const id of this.sortedIds) {
      if (id !== self) fn(id, this.progress.get(id) as Progress);
    }
  }
}
