import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Entry } from '../../src/proto/eraftpb.js';
import { RaftLog } from '../../src/raft/log.js';
import { Inflights, Progress, ProgressTracker } from '../../src/raft/progress.js';
import { MemoryStorage } from '../../src/raft/storage.js';
import { entry } from './helpers.js';
import { defined } from '../../src/raft/assert.js';

type LogOp =
  | { kind: 'append'; back: number; count: number; bump: number }
  | { kind: 'persist' }
  | { kind: 'commit'; fraction: number }
  | { kind: 'compact'; fraction: number };

const logOp: fc.Arbitrary<LogOp> = fc.oneof(
  fc.record({ kind: fc.constant('append' as const), back: fc.nat(4), count: fc.integer({ min: 1, max: 5 }), bump: fc.nat(2) }),
  fc.record({ kind: fc.constant('persist' as const) }),
  fc.record({ kind: fc.constant('commit' as const), fraction: fc.double({ min: 0, max: 1, noNaN: true }) }),
  fc.record({ kind: fc.constant('compact' as const), fraction: fc.double({ min: 0, max: 1, noNaN: true }) }),
);

describe('RaftLog against an array model', () => {
  it('append/truncate/persist/commit/compact keep the log equal to the model', () => {
    fc.assert(
      fc.property(fc.array(logOp, { maxLength: 60 }), (ops) => {
        const storage = new MemoryStorage();
        const log = new RaftLog(storage);
        const model: Entry[] = []; // model[i-1] is entry i
        let term = 1;
        for (const op of ops) {
          const last = log.lastIndex();
          if (op.kind === 'append') {
            const from = Math.max(log.committed + 1, last + 1 - op.back);
            term += op.bump;
            const ents = Array.from({ length: op.count }, (_, k) => entry(from + k, term, `${from + k}@${term}`));
            log.append(ents);
            model.length = from - 1;
            model.push(...ents);
          } else if (op.kind === 'persist') {
            const unstable = log.unstableEntries();
            storage.append(unstable);
            const tail = unstable.at(-1);
            if (tail) log.stableTo(tail.index, tail.term);
          } else if (op.kind === 'commit') {
            const to = Math.min(log.stabled, last);
            const target = log.committed + Math.floor((to - log.committed) * op.fraction);
            if (target > log.committed) log.commitTo(target);
            log.appliedTo(log.committed);
          } else {
            const first = storage.firstIndex();
            const upTo = Math.min(log.applied, storage.lastIndex());
            if (upTo >= first) storage.compact(first + Math.floor((upTo - first) * op.fraction));
          }
          // Invariants after every operation.
          expect(log.lastIndex()).toBe(model.length);
          expect(log.committed).toBeLessThanOrEqual(log.lastIndex());
          expect(log.applied).toBeLessThanOrEqual(log.committed);
          const first = log.firstIndex();
          const got = log.slice(first, log.lastIndex() + 1);
          expect(got).toEqual(model.slice(first - 1));
          for (let i = first; i <= log.lastIndex(); i++) expect(log.term(i)).toBe(model[i - 1]?.term);
          for (let k = 1; k < got.length; k++) expect(defined(got[k], 'got[k]').term).toBeGreaterThanOrEqual(defined(got[k - 1], 'got[k - 1]').term);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('findConflictByTerm returns the largest index <= i whose term is <= t', () => {
    fc.assert(
      fc.property(fc.array(fc.nat(3), { minLength: 1, maxLength: 30 }), fc.nat(40), fc.nat(8), (bumps, i, t) => {
        const storage = new MemoryStorage();
        let term = 1;
        storage.append(bumps.map((b, k) => entry(k + 1, (term += b))));
        const log = new RaftLog(storage);
        const idx = Math.min(i, log.lastIndex());
        const [hint, hintTerm] = log.findConflictByTerm(idx, t);
        let want = idx;
        while (want > 0 && log.term(want) > t) want--;
        expect(hint).toBe(want);
        expect(hintTerm).toBe(want === 0 ? 0 : log.term(want));
      }),
    );
  });
});

describe('MemoryStorage against an array model', () => {
  it('append with overwrite and compaction', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.nat(6), fc.integer({ min: 1, max: 4 }), fc.boolean()), { maxLength: 40 }), (ops) => {
        const s = new MemoryStorage();
        const model: number[] = []; // terms, model[i-1] = term of i
        let term = 1;
        for (const [back, count, compact] of ops) {
          if (compact && s.lastIndex() >= s.firstIndex()) {
            s.compact(s.firstIndex());
            continue;
          }
          const from = Math.max(s.firstIndex(), s.lastIndex() + 1 - back);
          term++;
          s.append(Array.from({ length: count }, (_, k) => entry(from + k, term)));
          model.length = from - 1;
          for (let k = 0; k < count; k++) model.push(term);
          expect(s.lastIndex()).toBe(model.length);
          for (let i = s.firstIndex(); i <= s.lastIndex(); i++) expect(s.term(i)).toBe(model[i - 1]);
        }
      }),
    );
  });
});

describe('Inflights against an array model', () => {
  it('add / freeLE / freeFirstOne / full', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 8 }),
        fc.array(fc.oneof(fc.constant('add' as const), fc.constant('first' as const), fc.nat(5)), { maxLength: 80 }),
        (cap, ops) => {
          const inf = new Inflights(cap);
          const model: number[] = [];
          let next = 1;
          for (const op of ops) {
            if (op === 'add') {
              if (model.length === cap) {
                expect(inf.full()).toBe(true);
                continue;
              }
              inf.add(next);
              model.push(next++);
            } else if (op === 'first') {
              inf.freeFirstOne();
              model.shift();
            } else {
              const upTo = (model[0] ?? next) + op;
              inf.freeLE(upTo);
              while (model.length > 0 && defined(model[0], 'model[0]') <= upTo) model.shift();
            }
            expect(inf.toArray()).toEqual(model);
            expect(inf.full()).toBe(model.length === cap);
          }
        },
      ),
    );
  });
});

describe('ProgressTracker', () => {
  it('committedIndex is the largest index a majority has matched', () => {
    fc.assert(
      fc.property(fc.array(fc.nat(50), { minLength: 1, maxLength: 7 }), (matches) => {
        const t = new ProgressTracker(8);
        matches.forEach((m, k) => {
          t.add(k + 1, m, m + 1);
        });
        const q = Math.floor(matches.length / 2) + 1;
        const ci = t.committedIndex();
        expect(matches.filter((m) => m >= ci).length).toBeGreaterThanOrEqual(q);
        expect(matches.filter((m) => m >= ci + 1).length).toBeLessThan(q);
      }),
    );
  });

  it('tallyVotes: won iff a majority granted, lost iff a majority can no longer grant', () => {
    fc.assert(
      fc.property(fc.array(fc.constantFrom(true, false, undefined), { minLength: 1, maxLength: 7 }), (votes) => {
        const t = new ProgressTracker(8);
        votes.forEach((v, k) => {
          t.add(k + 1, 0, 1);
          if (v !== undefined) t.recordVote(k + 1, v);
        });
        const n = votes.length;
        const q = Math.floor(n / 2) + 1;
        const granted = votes.filter((v) => v === true).length;
        const rejected = votes.filter((v) => v === false).length;
        const want = granted >= q ? 'Won' : n - rejected < q ? 'Lost' : 'Pending';
        expect(t.tallyVotes().result).toBe(want);
      }),
    );
  });

  it('a progress never moves next below match+1, and match never moves back', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.oneof(
            fc.record({ kind: fc.constant('ack' as const), index: fc.nat(30) }),
            fc.record({ kind: fc.constant('reject' as const), rejected: fc.nat(30), hint: fc.nat(30) }),
            fc.record({ kind: fc.constant('sent' as const), count: fc.integer({ min: 1, max: 3 }) }),
            fc.constantFrom('probe' as const, 'replicate' as const),
          ),
          { maxLength: 60 },
        ),
        (ops) => {
          const pr = new Progress(0, 1, 4);
          for (const op of ops) {
            const match = pr.match;
            if (op === 'probe') pr.becomeProbe();
            else if (op === 'replicate') pr.becomeReplicate();
            else if (op.kind === 'ack') pr.maybeUpdate(op.index);
            else if (op.kind === 'reject') pr.maybeDecrTo(op.rejected, op.hint);
            else if (!pr.isPaused()) pr.sentEntries(op.count, pr.next + op.count - 1);
            expect(pr.match).toBeGreaterThanOrEqual(match);
            expect(pr.next).toBeGreaterThanOrEqual(pr.match + 1);
          }
        },
      ),
    );
  });
});
