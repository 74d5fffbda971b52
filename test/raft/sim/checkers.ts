/**
 * Safety checkers for the simulator. Each hook is called by the cluster as
 * things happen, so a violation is caught at the step that caused it.
 *
 * - election safety: at most one leader per term;
 * - log matching: an (index, term) pair identifies one entry and one history
 *   (same payload and same term at index-1 on every node);
 * - leader completeness: a new leader holds every committed entry;
 * - state-machine safety: replicas apply the same entry at each index, and the
 *   chain hash after applying index i is the same everywhere;
 * - no committed/applied entry lost: a node's committed prefix always matches
 *   the global committed log; commit and term never move back.
 */
import type { Entry } from '../../../src/proto/eraftpb.js';
import type { Raft } from '../../../src/raft/raft.js';
import { dataHash } from './state-machine.js';
import { defined } from '../../../src/raft/assert.js';

export class SafetyViolation extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SafetyViolation';
  }
}

function fail(message: string): never {
  throw new SafetyViolation(message);
}

interface EntryRecord {
  dataHash: number;
  prevTerm: number;
}

export class Checkers {
  /** term -> leader id */
  readonly leaders = new Map<number, number>();
  /** `${index}:${term}` -> payload hash and previous term */
  private readonly entries = new Map<string, EntryRecord>();
  /** index -> committed (term, payload hash) */
  readonly committed = new Map<number, { term: number; dataHash: number }>();
  /** index -> chain hash after applying it */
  private readonly applied = new Map<number, number>();
  maxCommitted = 0;
  maxApplied = 0;
  /** per node: highest persisted term and commit */
  private readonly durable = new Map<number, { term: number; commit: number }>();
  checks = 0;

  /** A node is leader of `term`. */
  onLeader(id: number, term: number, raft: Raft): void {
    this.checks++;
    const prev = this.leaders.get(term);
    if (prev === undefined) {
      this.leaders.set(term, id);
      this.checkLeaderCompleteness(id, term, raft);
    } else if (prev !== id) {
      fail(`election safety: term ${term} has two leaders, ${prev} and ${id}`);
    }
  }

  private checkLeaderCompleteness(id: number, term: number, raft: Raft): void {
    const log = raft.log;
    if (log.lastIndex() < this.maxCommitted) {
      fail(`leader completeness: leader ${id} of term ${term} has last index ${log.lastIndex()} < committed ${this.maxCommitted}`);
    }
    const first = log.firstIndex();
    for (let i = Math.max(first, 1); i <= this.maxCommitted; i++) {
      const c = this.committed.get(i);
      if (c === undefined) continue;
      const t = log.termOrUndefined(i);
      if (t !== c.term) {
        fail(`leader completeness: leader ${id} of term ${term} has term ${t} at committed index ${i} (want ${c.term})`);
      }
    }
  }

  /** Entries a node is about to persist; `termAt` reads the node's log. */
  onEntries(id: number, entries: readonly Entry[], termAt: (i: number) => number | undefined): void {
    for (const e of entries) {
      this.checks++;
      const key = `${e.index}:${e.term}`;
      const prevTerm = e.index === 1 ? 0 : termAt(e.index - 1);
      const rec = this.entries.get(key);
      const h = dataHash(e);
      if (rec === undefined) {
        this.entries.set(key, { dataHash: h, prevTerm: prevTerm ?? -1 });
        continue;
      }
      if (rec.dataHash !== h) fail(`log matching: node ${id} has a different entry at ${key}`);
      if (prevTerm !== undefined && rec.prevTerm !== -1 && rec.prevTerm !== prevTerm) {
        fail(`log matching: node ${id} has term ${prevTerm} before ${key}, others ${rec.prevTerm}`);
      }
    }
  }

  /** A node persisted hard state (term, commit). */
  onHardState(id: number, term: number, commit: number): void {
    const d = this.durable.get(id) ?? { term: 0, commit: 0 };
    if (term < d.term) fail(`term moved back on node ${id}: ${d.term} -> ${term}`);
    if (commit < d.commit) fail(`commit moved back on node ${id}: ${d.commit} -> ${commit}`);
    this.durable.set(id, { term, commit });
  }

  /** A node's commit index moved from `from` to `to`; check the newly committed entries. */
  onCommit(id: number, from: number, to: number, raft: Raft): void {
    const log = raft.log;
    for (let i = Math.max(from + 1, log.firstIndex()); i <= to; i++) {
      this.checks++;
      const t = log.termOrUndefined(i);
      if (t === undefined) fail(`node ${id} committed ${i} but has no entry there`);
      const c = this.committed.get(i);
      if (c === undefined) {
        const e = defined(log.slice(i, i + 1)[0], 'log.slice(i, i + 1)[0]');
        this.committed.set(i, { term: t, dataHash: dataHash(e) });
      } else if (c.term !== t) {
        fail(`committed entry lost: node ${id} commits term ${t} at ${i}, committed earlier with term ${c.term}`);
      }
    }
    if (to > this.maxCommitted) this.maxCommitted = to;
  }

  /** A node applied `entry`; `hash` is its chain hash afterwards. */
  onApply(id: number, entry: Entry, hash: number): void {
    this.checks++;
    const c = this.committed.get(entry.index);
    if (c !== undefined && (c.term !== entry.term || c.dataHash !== dataHash(entry))) {
      fail(`state machine safety: node ${id} applies ${entry.index}:${entry.term}, committed was term ${c.term}`);
    }
    if (c === undefined) this.committed.set(entry.index, { term: entry.term, dataHash: dataHash(entry) });
    const prev = this.applied.get(entry.index);
    if (prev === undefined) this.applied.set(entry.index, hash);
    else if (prev !== hash) fail(`state machine safety: node ${id} state hash differs after applying ${entry.index}`);
    if (entry.index > this.maxApplied) this.maxApplied = entry.index;
  }

  /** A node installed a snapshot whose state hash is `hash` at `index`. */
  onSnapshot(id: number, index: number, hash: number): void {
    this.checks++;
    const prev = this.applied.get(index);
    if (prev === undefined) this.applied.set(index, hash);
    else if (prev !== hash) fail(`snapshot on node ${id} at ${index} has a different state hash`);
  }

  appliedHash(index: number): number | undefined {
    return this.applied.get(index);
  }
}
