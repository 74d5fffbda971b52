/**
 * Concurrent bank test at the command level: transfer workers and readers run concurrently as
 * async tasks against one storage whose reads and writes complete after seeded random delays.
 * Some transfers "crash" after prewrite (their locks must be rolled back by others) or after
 * committing the primary (their secondaries must be committed by others).
 * Checks: every consistent read sees the same total; every secondary commit after a primary
 * commit succeeds; final balances equal the initial ones plus exactly the committed transfers.
 */
import { describe, expect, it } from 'vitest';
import {
  BatchRollbackRequest,
  CheckTxnStatusRequest,
  CommitRequest,
  GetRequest,
  Mutation,
  Op,
  PrewriteRequest,
  ResolveLockRequest,
  ScanRequest,
  type LockInfo,
} from '../../src/proto/kvrpcpb.js';
import { MemoryEngine } from '../../src/engine/memory-engine.js';
import { StandaloneStorage } from '../../src/storage/standalone-storage.js';
import type { Storage } from '../../src/storage/storage.js';
import { composeTs } from '../../src/txn/codec.js';
import { createTxnCommands, type TxnCommands } from '../../src/txn/index.js';
import { Latches, requireModifiesLatched } from '../../src/txn/latches.js';
import { rng, testSeed } from './helpers.js';
import { defined } from '../../src/util/assert.js';

const ACCOUNTS = 8;
const INITIAL = 1000;
const TOTAL = ACCOUNTS * INITIAL;
const TTL_MS = 12n;
const account = (i: number) => Buffer.from(`acct-${String(i).padStart(2, '0')}`);
const encode = (n: number) => Buffer.from(String(n));
const decode = (b: Buffer) => Number(b.toString());

/** Storage whose reader/write calls resolve after 0..3 event-loop turns chosen by the seeded RNG. */
function jitteryStorage(random: () => number): Storage {
  const inner = new StandaloneStorage(new MemoryEngine());
  const jitter = async () => {
    for (let turns = Math.floor(random() * 4); turns > 0; turns--) await new Promise<void>((resolve) => setImmediate(resolve));
  };
  return {
    start: () => inner.start(),
    stop: () => inner.stop(),
    reader: async (context) => {
      await jitter();
      return inner.reader(context);
    },
    write: async (context, batch) => {
      await jitter();
      await inner.write(context, batch);
      await jitter();
    },
  };
}

class Bank {
  private clockMs = 1_000n;
  readonly committedDeltas = Array<number>(ACCOUNTS).fill(0);
  readonly stats = { transfers: 0, conflicts: 0, crashedBeforeCommit: 0, crashedAfterPrimary: 0, reads: 0, resolves: 0, rolledBackUnderUs: 0 };

  constructor(
    readonly commands: TxnCommands,
    readonly random: () => number,
  ) {}

  tso(advanceMs = 1n): bigint {
    this.clockMs += advanceMs;
    return composeTs(this.clockMs);
  }

  async setup(): Promise<void> {
    const start = this.tso();
    const mutations = Array.from({ length: ACCOUNTS }, (_, i) => Mutation.fromPartial({ op: Op.Put, key: account(i), value: encode(INITIAL) }));
    const pre = await this.commands.kvPrewrite(
      PrewriteRequest.fromPartial({ startVersion: start, primaryLock: account(0), lockTtl: TTL_MS, mutations }),
    );
    expect(pre.errors).toEqual([]);
    const keys = mutations.map((m) => m.key);
    const resp = await this.commands.kvCommit(CommitRequest.fromPartial({ startVersion: start, commitVersion: this.tso(), keys }));
    expect(resp.error).toBeUndefined();
  }

  /** Meet a lock: find its transaction's fate from the primary and clean up, or back off. */
  async resolve(lock: LockInfo): Promise<void> {
    const status = await this.commands.kvCheckTxnStatus(
      CheckTxnStatusRequest.fromPartial({ primaryKey: lock.primaryLock, lockTs: lock.lockVersion, currentTs: this.tso() }),
    );
    if (status.lockTtl > 0n) {
      await new Promise<void>((resolve) => setImmediate(resolve));
      return;
    }
    this.stats.resolves++;
    const resp = await this.commands.kvResolveLock(
      ResolveLockRequest.fromPartial({ startVersion: lock.lockVersion, commitVersion: status.commitVersion }),
    );
    expect(resp.error).toBeUndefined();
  }

  async read(key: Buffer, ts: bigint): Promise<number | LockInfo> {
    const resp = await this.commands.kvGet(GetRequest.fromPartial({ key, version: ts }));
    if (resp.error?.locked) return resp.error.locked;
    expect(resp.error).toBeUndefined();
    expect(resp.notFound).toBe(false);
    return decode(resp.value);
  }

  /** One transfer, retried until it commits (or crashes on purpose). */
  async transfer(from: number, to: number): Promise<void> {
    for (;;) {
      const start = this.tso();
      const balances: number[] = [];
      let blocked: LockInfo | undefined;
      for (const i of [from, to]) {
        const got = await this.read(account(i), start);
        if (typeof got !== 'number') blocked = got;
        else balances.push(got);
      }
      if (blocked !== undefined) {
        await this.resolve(blocked);
        continue;
      }
      const amount = Math.min(defined(balances[0], 'balances[0]'), 1 + Math.floor(this.random() * 50));
      const [primary, secondary] = [account(from), account(to)];
      const pre = await this.commands.kvPrewrite(
        PrewriteRequest.fromPartial({
          startVersion: start,
          primaryLock: primary,
          lockTtl: TTL_MS,
          mutations: [
            Mutation.fromPartial({ op: Op.Put, key: primary, value: encode(defined(balances[0], 'balances[0]') - amount) }),
            Mutation.fromPartial({ op: Op.Put, key: secondary, value: encode(defined(balances[1], 'balances[1]') + amount) }),
          ],
        }),
      );
      if (pre.errors.length > 0) {
        this.stats.conflicts++;
        const rb = await this.commands.kvBatchRollback(BatchRollbackRequest.fromPartial({ startVersion: start, keys: [primary, secondary] }));
        expect(rb.error).toBeUndefined();
        const locked = pre.errors.find((e) => e.locked)?.locked;
        if (locked !== undefined) await this.resolve(locked);
        continue;
      }
      if (this.random() < 0.05) {
        this.stats.crashedBeforeCommit++;
        return; // Abandoned with locks: others must roll it back.
      }
      const commitTs = this.tso();
      const primaryCommit = await this.commands.kvCommit(
        CommitRequest.fromPartial({ startVersion: start, commitVersion: commitTs, keys: [primary] }),
      );
      if (primaryCommit.error !== undefined) {
        // Our lock expired and someone rolled us back: the transfer did not happen.
        expect(primaryCommit.error.abort).toMatch(/^KV:Txn:RolledBack: /);
        this.stats.rolledBackUnderUs++;
        continue;
      }
      this.committedDeltas[from] = defined(this.committedDeltas[from], 'committed delta of from') - amount;
      this.committedDeltas[to] = defined(this.committedDeltas[to], 'committed delta of to') + amount;
      this.stats.transfers++;
      if (this.random() < 0.05) {
        this.stats.crashedAfterPrimary++;
        return; // Committed; the secondary lock must be committed by others.
      }
      const secondaryCommit = await this.commands.kvCommit(
        CommitRequest.fromPartial({ startVersion: start, commitVersion: commitTs, keys: [secondary] }),
      );
      expect(secondaryCommit.error).toBeUndefined();
      return;
    }
  }

  /** A consistent read of every account; retried past locks. Returns the balances. */
  async snapshot(useScan: boolean): Promise<number[]> {
    for (;;) {
      const ts = this.tso();
      let values: Array<number | LockInfo>;
      if (useScan) {
        const resp = await this.commands.kvScan(ScanRequest.fromPartial({ startKey: account(0), limit: ACCOUNTS + 5, version: ts }));
        expect(resp.pairs.map((p) => p.key)).toEqual(Array.from({ length: ACCOUNTS }, (_, i) => account(i)));
        values = resp.pairs.map((p) => p.error?.locked ?? decode(p.value));
      } else {
        values = [];
        for (let i = 0; i < ACCOUNTS; i++) values.push(await this.read(account(i), ts));
      }
      const lock = values.find((v): v is LockInfo => typeof v !== 'number');
      if (lock !== undefined) {
        await this.resolve(lock);
        continue;
      }
      this.stats.reads++;
      return values as number[];
    }
  }
}

describe('concurrent bank', () => {
  it('keeps the total constant for every reader and loses no update', async () => {
    const seed = testSeed('txn bank');
    const random = rng(seed);
    const latches = new Latches();
    latches.validation = requireModifiesLatched;
    const bank = new Bank(createTxnCommands(jitteryStorage(random), latches), random);
    await bank.setup();

    const workers = Array.from({ length: 6 }, async () => {
      for (let n = 0; n < 30; n++) {
        const from = Math.floor(random() * ACCOUNTS);
        const to = (from + 1 + Math.floor(random() * (ACCOUNTS - 1))) % ACCOUNTS;
        await bank.transfer(from, to);
      }
    });
    const readers = Array.from({ length: 3 }, async (_, r) => {
      for (let n = 0; n < 20; n++) {
        const balances = await bank.snapshot(r % 2 === 0);
        expect(
          balances.reduce((a, b) => a + b, 0),
          `seed ${seed}`,
        ).toBe(TOTAL);
        for (const b of balances) expect(b).toBeGreaterThanOrEqual(0);
      }
    });
    await Promise.all([...workers, ...readers]);

    // Let every abandoned lock expire, then a reader resolves whatever is left.
    bank.tso(10_000n);
    const final = await bank.snapshot(true);
    console.log(`[txn bank] seed=${seed} stats=${JSON.stringify(bank.stats)} final=${JSON.stringify(final)}`);
    expect(final).toEqual(bank.committedDeltas.map((d) => INITIAL + d));
    expect(bank.stats.transfers).toBeGreaterThan(100);
    expect(bank.stats.conflicts).toBeGreaterThan(0);
    expect(latches.slotCount).toBe(0);
  });
});
