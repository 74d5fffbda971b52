/**
 * Model test: random sequences of client transactions (begin, prewrite, commit primary, commit
 * secondaries, roll back, check status + resolve as a third party, get, scan, and stray commits)
 * run against the commands and against two references:
 * 1. `TxnModel` (model.ts) predicts every response exactly;
 * 2. a snapshot-isolation reference (the writes of client-committed transactions by commit ts)
 *    must explain every successful read, first-committer-wins must hold, and after resolving
 *    everything the store must hold exactly the SI state.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  Action,
  BatchRollbackRequest,
  CheckTxnStatusRequest,
  CommitRequest,
  GetRequest,
  GetResponse,
  KvPair,
  Mutation,
  Op,
  PrewriteRequest,
  ResolveLockRequest,
  ScanRequest,
  type KeyError,
} from '../../src/proto/kvrpcpb.js';
import { composeTs } from '../../src/txn/codec.js';
import { KeyErrorCode } from '../../src/txn/errors.js';
import { WriteKind } from '../../src/txn/write.js';
import { Harness, k, testSeed } from './helpers.js';
import { TxnModel, type CommitOutcome, type ModelMutation } from './model.js';
import { defined } from '../../src/util/assert.js';

const KEYS = [k(1), k(1, 0), k(2), k(3, 3, 3, 3, 3, 3, 3, 3), k(3, 3, 3, 3, 3, 3, 3, 3, 0), k(0xff)];
const keyArb = fc.nat(KEYS.length - 1);

type OpSpec =
  | { type: 'begin' }
  | { type: 'prewrite'; txn: number; muts: Array<{ key: number; del: boolean; value: number }>; ttl: bigint }
  | { type: 'commitPrimary'; txn: number }
  | { type: 'commitSecondaries'; txn: number; pick: number[] }
  | { type: 'rollback'; txn: number }
  | { type: 'resolve'; txn: number; advanceMs: number }
  | { type: 'get'; key: number; at: number | null }
  | { type: 'scan'; start: number; limit: number; at: number | null }
  | { type: 'strayCommit'; txn: number; key: number };

const txnArb = fc.nat(20);
const atArb = fc.option(fc.nat(20), { nil: null, freq: 2 });
const opArb: fc.Arbitrary<OpSpec> = fc.oneof(
  { weight: 2, arbitrary: fc.constant({ type: 'begin' as const }) },
  {
    weight: 4,
    arbitrary: fc.record({
      type: fc.constant('prewrite' as const),
      txn: txnArb,
      muts: fc.array(fc.record({ key: keyArb, del: fc.boolean(), value: fc.nat(255) }), { minLength: 1, maxLength: 4 }),
      ttl: fc.constantFrom(0n, 3n, 10n, 1000n),
    }),
  },
  { weight: 4, arbitrary: fc.record({ type: fc.constant('commitPrimary' as const), txn: txnArb }) },
  { weight: 2, arbitrary: fc.record({ type: fc.constant('commitSecondaries' as const), txn: txnArb, pick: fc.array(fc.nat(5), { maxLength: 4 }) }) },
  { weight: 1, arbitrary: fc.record({ type: fc.constant('rollback' as const), txn: txnArb }) },
  { weight: 2, arbitrary: fc.record({ type: fc.constant('resolve' as const), txn: txnArb, advanceMs: fc.nat(15) }) },
  { weight: 3, arbitrary: fc.record({ type: fc.constant('get' as const), key: keyArb, at: atArb }) },
  { weight: 2, arbitrary: fc.record({ type: fc.constant('scan' as const), start: fc.nat(KEYS.length), limit: fc.nat(7), at: atArb }) },
  { weight: 1, arbitrary: fc.record({ type: fc.constant('strayCommit' as const), txn: txnArb, key: keyArb }) },
);

interface ClientTxn {
  readonly startTs: bigint;
  primary: Buffer | undefined;
  /** Every mutation prewritten successfully, by key (last wins). */
  readonly writes: Map<string, ModelMutation>;
  /** Every key a prewrite was attempted on (to roll back). */
  readonly touched: Map<string, Buffer>;
  state: 'active' | 'committed' | 'aborted';
  commitTs: bigint;
}

const hex = (key: Buffer) => key.toString('hex');

/** Outcomes seen across all runs, to check the generator reaches the interesting cases. */
const seen = new Map<string, number>();
const count = (what: string) => seen.set(what, (seen.get(what) ?? 0) + 1);

class Run {
  readonly h = new Harness();
  readonly model = new TxnModel();
  readonly txns: ClientTxn[] = [];
  /** SI reference: client-committed transactions. */
  readonly committed: ClientTxn[] = [];
  private clockMs = 1000n;
  readonly log: string[] = [];

  tick(advanceMs = 1n): bigint {
    this.clockMs += advanceMs;
    return composeTs(this.clockMs);
  }

  pick(index: number): ClientTxn | undefined {
    return this.txns.length === 0 ? undefined : this.txns[index % this.txns.length];
  }

  readTs(at: number | null): bigint {
    const txn = at === null ? undefined : this.pick(at);
    return txn?.startTs ?? this.tick();
  }

  async step(op: OpSpec): Promise<void> {
    this.log.push(JSON.stringify(op, (_k, v) => (typeof v === 'bigint' ? `${v}n` : v)));
    switch (op.type) {
      case 'begin':
        this.txns.push({ startTs: this.tick(), primary: undefined, writes: new Map(), touched: new Map(), state: 'active', commitTs: 0n });
        return;
      case 'prewrite':
        return this.prewrite(op);
      case 'commitPrimary':
        return this.commitPrimary(op.txn);
      case 'commitSecondaries':
        return this.commitSecondaries(op.txn, op.pick);
      case 'rollback':
        return this.rollback(op.txn);
      case 'resolve':
        return this.resolve(op.txn, BigInt(op.advanceMs));
      case 'get':
        return this.get(defined(KEYS[op.key], 'KEYS[op.key]'), this.readTs(op.at));
      case 'scan':
        return this.scan(KEYS[op.start] ?? Buffer.alloc(0), op.limit, this.readTs(op.at));
      case 'strayCommit':
        return this.strayCommit(op.txn, defined(KEYS[op.key], 'KEYS[op.key]'));
    }
  }

  private async prewrite(op: Extract<OpSpec, { type: 'prewrite' }>): Promise<void> {
    const txn = this.pick(op.txn);
    if (txn === undefined || txn.state !== 'active') return;
    const muts: ModelMutation[] = op.muts.map((m) => ({
      key: defined(KEYS[m.key], 'KEYS[m.key]'),
      kind: m.del ? WriteKind.Delete : WriteKind.Put,
      value: m.del ? Buffer.alloc(0) : k(m.value),
    }));
    txn.primary ??= defined(muts[0], 'muts[0]').key;
    for (const m of muts) txn.touched.set(hex(m.key), m.key);
    const want = this.model.prewrite(txn.startTs, txn.primary, op.ttl, muts);
    const resp = await this.h.commands.kvPrewrite(
      PrewriteRequest.fromPartial({
        startVersion: txn.startTs,
        primaryLock: txn.primary,
        lockTtl: op.ttl,
        mutations: muts.map((m) => Mutation.fromPartial({ op: m.kind === WriteKind.Put ? Op.Put : Op.Del, key: m.key, value: m.value })),
      }),
    );
    expect(resp.errors).toEqual(want);
    for (const e of resp.errors) count(e.conflict ? 'prewrite conflict' : 'prewrite locked');
    if (resp.errors.length === 0) count('prewrite ok');
    if (resp.errors.length > 0) txn.state = 'aborted';
    else for (const m of muts) txn.writes.set(hex(m.key), m);
  }

  private async commit(txn: ClientTxn, keys: Buffer[], commitTs: bigint): Promise<CommitOutcome> {
    const want = this.model.commit(txn.startTs, keys, commitTs);
    const resp = await this.h.commands.kvCommit(CommitRequest.fromPartial({ startVersion: txn.startTs, commitVersion: commitTs, keys }));
    expectOutcome(resp.error, want);
    count(want.ok ? 'commit ok' : `commit ${want.code}`);
    return want;
  }

  private async commitPrimary(index: number): Promise<void> {
    const txn = this.pick(index);
    if (txn === undefined || txn.state !== 'active' || txn.primary === undefined || !txn.writes.has(hex(txn.primary))) return;
    const commitTs = this.tick();
    const outcome = await this.commit(txn, [txn.primary], commitTs);
    if (outcome.ok) {
      txn.state = 'committed';
      txn.commitTs = commitTs;
      this.committed.push(txn);
    } else {
      txn.state = 'aborted';
    }
  }

  private async commitSecondaries(index: number, pick: number[]): Promise<void> {
    const txn = this.pick(index);
    if (txn === undefined || txn.state !== 'committed') return;
    const all = [...txn.writes.values()].map((m) => m.key);
    const keys = pick.map((i) => defined(all[i % all.length], 'all[i % all.length]'));
    const outcome = await this.commit(txn, keys, txn.commitTs);
    // Once the primary is committed, a secondary can never fail to commit.
    expect(outcome).toEqual({ ok: true });
  }

  private async rollback(index: number): Promise<void> {
    const txn = this.pick(index);
    if (txn === undefined || txn.state === 'committed') return;
    txn.state = 'aborted';
    const keys = [...txn.touched.values()];
    const want = this.model.rollback(txn.startTs, keys);
    const resp = await this.h.commands.kvBatchRollback(BatchRollbackRequest.fromPartial({ startVersion: txn.startTs, keys }));
    expectOutcome(resp.error, want);
    expect(want).toEqual({ ok: true });
  }

  /** A third party that met the transaction's lock: check the primary, then resolve. */
  async resolve(index: number, advanceMs: bigint): Promise<void> {
    const txn = this.pick(index);
    if (txn === undefined || txn.primary === undefined) return;
    const currentTs = this.tick(advanceMs);
    const want = this.model.checkTxnStatus(txn.primary, txn.startTs, currentTs);
    const status = await this.h.commands.kvCheckTxnStatus(
      CheckTxnStatusRequest.fromPartial({ primaryKey: txn.primary, lockTs: txn.startTs, currentTs }),
    );
    expect({ lockTtl: status.lockTtl, commitVersion: status.commitVersion, action: status.action }).toEqual(want);
    count(`status ${Action[status.action]} ${status.lockTtl > 0n ? 'alive' : status.commitVersion > 0n ? 'committed' : 'rolled back'}`);
    if (status.lockTtl > 0n) return;
    // SI: the primary decides. A committed status means the client committed it.
    if (status.commitVersion > 0n) expect(txn.state === 'committed' && txn.commitTs === status.commitVersion).toBe(true);
    // The resolver is another client: the owner does not learn of a rollback until it commits.
    else expect(txn.state).not.toBe('committed');
    this.model.resolve(txn.startTs, status.commitVersion);
    const resp = await this.h.commands.kvResolveLock(
      ResolveLockRequest.fromPartial({ startVersion: txn.startTs, commitVersion: status.commitVersion }),
    );
    expect(resp.error).toBeUndefined();
  }

  private async strayCommit(index: number, key: Buffer): Promise<void> {
    // A commit of a key this transaction never prewrote: must fail or be a no-op, never write.
    const txn = this.pick(index);
    if (txn === undefined || txn.touched.has(hex(key))) return;
    await this.commit(txn, [key], this.tick());
  }

  private async get(key: Buffer, ts: bigint): Promise<void> {
    const want = this.model.get(key, ts);
    const resp = await this.h.commands.kvGet(GetRequest.fromPartial({ key, version: ts }));
    expect(resp).toEqual('locked' in want ? GetResponse.fromPartial({ error: { locked: want.locked } }) : GetResponse.fromPartial(want));
    if (resp.error === undefined) expect(resp.notFound ? undefined : resp.value).toEqual(this.siRead(key, ts));
    count(resp.error ? 'get locked' : resp.notFound ? 'get not found' : 'get value');
  }

  private async scan(startKey: Buffer, limit: number, ts: bigint): Promise<void> {
    const resp = await this.h.commands.kvScan(ScanRequest.fromPartial({ startKey, limit, version: ts }));
    expect(resp.pairs).toEqual(this.model.scan(startKey, limit, ts));
    for (const pair of resp.pairs) if (pair.error === undefined) expect(pair.value).toEqual(this.siRead(pair.key, ts));
    if (resp.pairs.some((p) => p.error !== undefined)) count('scan with locked pair');
  }

  /** The SI answer: the newest client-committed write of `key` with commit ts <= ts. */
  siRead(key: Buffer, ts: bigint): Buffer | undefined {
    let best: { commitTs: bigint; m: ModelMutation } | undefined;
    for (const txn of this.committed) {
      const m = txn.writes.get(hex(key));
      if (m !== undefined && txn.commitTs <= ts && (best === undefined || txn.commitTs > best.commitTs)) best = { commitTs: txn.commitTs, m };
    }
    return best === undefined || best.m.kind === WriteKind.Delete ? undefined : best.m.value;
  }

  /** First-committer-wins: committed transactions with a common key do not overlap in time. */
  checkNoLostUpdate(): void {
    for (const a of this.committed) {
      for (const b of this.committed) {
        if (a === b || ![...a.writes.keys()].some((key) => b.writes.has(key))) continue;
        expect(a.commitTs < b.startTs || b.commitTs < a.startTs, `txns ${a.startTs} and ${b.startTs} overlap`).toBe(true);
      }
    }
  }

  /** Resolve every transaction with a far-future clock; the store must then equal the SI state. */
  async finish(): Promise<void> {
    this.tick(100_000n);
    for (let i = 0; i < this.txns.length; i++) {
      const txn = defined(this.txns[i], 'this.txns[i]');
      if (txn.state === 'committed') {
        // The client finishes its secondaries.
        const keys = [...txn.writes.values()].map((m) => m.key);
        expect(await this.commit(txn, keys, txn.commitTs)).toEqual({ ok: true });
      } else {
        await this.resolve(i, 0n);
        // Locks on keys other than the primary of a txn that never locked its primary.
        if (txn.touched.size > 0) await this.rollback(i);
      }
    }
    expect(this.model.lockCount()).toBe(0);
    const ts = this.tick();
    const resp = await this.h.commands.kvScan(ScanRequest.fromPartial({ startKey: Buffer.alloc(0), limit: 100, version: ts }));
    const want = KEYS.map((key) => [key, this.siRead(key, ts)] as const)
      .filter(([, value]) => value !== undefined)
      .sort(([a], [b]) => Buffer.compare(a, b))
      .map(([key, value]) => KvPair.fromPartial({ key, value }));
    expect(resp.pairs).toEqual(want);
    expect((await this.h.lens())[1]).toBe(0);
  }
}

function expectOutcome(error: KeyError | undefined, want: CommitOutcome): void {
  if (want.ok) {
    expect(error).toBeUndefined();
    return;
  }
  expect(error?.[want.field]).toMatch(new RegExp(`^${want.code}: `));
}

describe('model test: commands against a reference model and snapshot isolation', () => {
  it('agrees on random command sequences', async () => {
    const seed = testSeed('txn model');
    const numRuns = Number(process.env.TXN_MODEL_RUNS ?? 150);
    let lastLog: string[] = [];
    await fc
      .assert(
        fc.asyncProperty(fc.array(opArb, { minLength: 10, maxLength: 80, size: 'max' }), async (ops) => {
          const run = new Run();
          lastLog = run.log;
          for (const op of ops) await run.step(op);
          run.checkNoLostUpdate();
          await run.finish();
        }),
        { seed, numRuns, verbose: 1 },
      )
      .catch((err: unknown) => {
        console.log(`[txn model] seed=${seed}; ops of the last (shrunk) run:\n${lastLog.join('\n')}`);
        throw err;
      });
    console.log('[txn model] outcomes:', Object.fromEntries([...seen].sort()));
    for (const outcome of [
      'prewrite ok',
      'prewrite conflict',
      'prewrite locked',
      'commit ok',
      `commit ${KeyErrorCode.RolledBack}`,
      `commit ${KeyErrorCode.LockNotFound}`,
      `commit ${KeyErrorCode.LockedByOther}`,
      'get locked',
      'get value',
      'scan with locked pair',
      'status TTLExpireRollback rolled back',
      'status LockNotExistRollback rolled back',
      'status NoAction alive',
      'status NoAction committed',
    ]) {
      expect(seen.get(outcome) ?? 0, outcome).toBeGreaterThan(0);
    }
  });
});
