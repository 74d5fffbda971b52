// KvScan / KvBatchRollback / KvCheckTxnStatus / KvResolveLock scenarios (TinyKV project 4C), written afresh.
import { describe, expect, it } from 'vitest';
import { Action, BatchRollbackRequest, CheckTxnStatusRequest, ResolveLockRequest, ScanRequest } from '../../src/proto/kvrpcpb.js';
import type { DataColumnFamily } from '../../src/engine/engine.js';
import { encodeKey } from '../../src/txn/codec.js';
import { KeyErrorCode } from '../../src/txn/errors.js';
import { kvResolveLock } from '../../src/txn/commands/resolve-lock.js';
import { WriteKind } from '../../src/txn/write.js';
import { committed, Harness, k, lockBytes, lockKey, prewritten, writeBytes } from './helpers.js';
import { defined } from '../../src/util/assert.js';

type Init = Array<[DataColumnFamily, Buffer, Buffer]>;
const scan = (h: Harness, startKey: Buffer, limit: number, version: bigint) =>
  h.commands.kvScan(ScanRequest.fromPartial({ startKey, limit, version }));
const rollback = (h: Harness, startVersion: bigint, keys: Buffer[]) =>
  h.commands.kvBatchRollback(BatchRollbackRequest.fromPartial({ startVersion, keys }));
const checkStatus = (h: Harness, primaryKey: Buffer, lockTs: bigint, currentTs: bigint) =>
  h.commands.kvCheckTxnStatus(CheckTxnStatusRequest.fromPartial({ primaryKey, lockTs, currentTs }));
const resolve = (h: Harness, startVersion: bigint, commitVersion: bigint) =>
  h.commands.kvResolveLock(ResolveLockRequest.fromPartial({ startVersion, commitVersion }));
const rollbackRecord = (key: Buffer, ts: bigint): Init[number] => ['write', encodeKey(key, ts), writeBytes(ts, WriteKind.Rollback)];

function scanFixture(): Init {
  const at99: Array<[Buffer, number]> = [
    [k(1), 50],
    [k(1, 23), 55],
    [k(3), 51],
    [k(3, 45), 56],
    [k(3, 46), 57],
    [k(3, 47), 58],
    [k(3, 48), 59],
    [k(4), 52],
    [k(120), 53],
    [k(150), 42],
    [k(199), 54],
  ];
  const init: Init = at99.flatMap(([key, value]) => committed(key, k(value), 80n, 99n));
  for (const tail of [45, 46, 47, 48]) {
    init.push(...committed(k(4, tail), k(60 + tail - 45), 100n, 116n));
    init.push(...committed(k(5, tail), k(70 + tail - 45), 97n, 101n));
  }
  init.push(['write', encodeKey(k(150), 101n), writeBytes(97n, WriteKind.Delete)]);
  init.push(...committed(k(150), k(64), 110n, 116n));
  return init;
}
const pairKeys = (pairs: Array<{ key: Buffer }>) => pairs.map((p) => [...p.key]);

describe('KvScan', () => {
  it('returns nothing past the last key, or with limit 0', async () => {
    const h = new Harness();
    await h.init(scanFixture());
    expect((await scan(h, k(200), 10, 100n)).pairs).toEqual([]);
    expect((await scan(h, k(0), 0, 100n)).pairs).toEqual([]);
  });

  it('returns every key committed at or before the version, in order', async () => {
    const h = new Harness();
    await h.init(scanFixture());
    const { pairs } = await scan(h, k(0), 100, 100n);
    expect(pairs).toHaveLength(11);
    expect(pairs[0]).toMatchObject({ key: k(1), value: k(50), error: undefined });
    expect(pairs[10]).toMatchObject({ key: k(199), value: k(54) });
    // The empty start key means "from the beginning".
    expect((await scan(h, Buffer.alloc(0), 100, 100n)).pairs).toEqual(pairs);
  });

  it('stops at the limit', async () => {
    const h = new Harness();
    await h.init(scanFixture());
    const { pairs } = await scan(h, k(2), 6, 100n);
    expect(pairKeys(pairs)).toEqual([[3], [3, 45], [3, 46], [3, 47], [3, 48], [4]]);
    expect(defined(pairs[0], 'pairs[0]').value).toEqual(k(51));
    expect(defined(pairs[5], 'pairs[5]').value).toEqual(k(52));
  });

  it('skips deleted keys and sees later puts', async () => {
    const h = new Harness();
    await h.init(scanFixture());
    let pairs = (await scan(h, k(100), 100, 100n)).pairs;
    expect(pairKeys(pairs)).toEqual([[120], [150], [199]]);
    expect(defined(pairs[1], 'pairs[1]').value).toEqual(k(42));
    pairs = (await scan(h, k(100), 100, 105n)).pairs;
    expect(pairKeys(pairs)).toEqual([[120], [199]]);
    pairs = (await scan(h, k(100), 100, 120n)).pairs;
    expect(pairKeys(pairs)).toEqual([[120], [150], [199]]);
    expect(defined(pairs[1], 'pairs[1]').value).toEqual(k(64));
  });

  it('sees versions committed later at a later version', async () => {
    const h = new Harness();
    await h.init(scanFixture());
    const { pairs } = await scan(h, k(4), 100, 120n);
    expect(pairKeys(pairs)).toEqual([[4], [4, 45], [4, 46], [4, 47], [4, 48], [5, 45], [5, 46], [5, 47], [5, 48], [120], [150], [199]]);
  });

  it('reports a blocking lock as the pair error and keeps scanning; newer locks do not block', async () => {
    const h = new Harness();
    await h.init([...scanFixture(), ['lock', lockKey(k(3, 46)), lockBytes(k(3), 95n, 10n)], ['lock', lockKey(k(4)), lockBytes(k(4), 150n, 10n)]]);
    const { pairs } = await scan(h, k(3), 100, 100n);
    expect(pairKeys(pairs)).toEqual([[3], [3, 45], [3, 46], [3, 47], [3, 48], [4], [120], [150], [199]]);
    expect(defined(pairs[2], 'pairs[2]').error?.locked).toEqual({ key: k(3, 46), primaryLock: k(3), lockVersion: 95n, lockTtl: 10n });
    expect(defined(pairs[2], 'pairs[2]').value).toEqual(Buffer.alloc(0));
    expect(pairs[5]).toMatchObject({ value: k(52), error: undefined });
  });

  it('reports a lock on a key with no committed version (a first insert in flight)', async () => {
    const h = new Harness();
    await h.init([...scanFixture(), ...prewritten(k(2), k(9), 90n)]);
    const { pairs } = await scan(h, k(1, 23), 3, 100n);
    expect(pairKeys(pairs)).toEqual([[1, 23], [2], [3]]);
    expect(defined(pairs[1], 'pairs[1]').error?.locked?.lockVersion).toBe(90n);
  });

  it('ignores rollback records when choosing the visible version', async () => {
    const h = new Harness();
    await h.init([...committed(k(8), k(1), 10n, 20n), rollbackRecord(k(8), 30n), rollbackRecord(k(9), 30n)]);
    const { pairs } = await scan(h, k(0), 10, 40n);
    expect(pairs).toEqual([expect.objectContaining({ key: k(8), value: k(1) })]);
  });
});

describe('KvBatchRollback', () => {
  it('with no keys returns no error and writes nothing', async () => {
    const h = new Harness();
    await h.init([]);
    expect((await rollback(h, 100n, [])).error).toBeUndefined();
    await h.expectUnchanged();
  });

  it('removes our lock and value and writes a rollback record', async () => {
    const h = new Harness();
    await h.init(prewritten(k(3), k(43), 100n));
    expect((await rollback(h, 100n, [k(3)])).error).toBeUndefined();
    await h.expectLens(0, 0, 1);
    expect([...(await h.get('write', encodeKey(k(3), 100n)))!]).toEqual([3, 0, 0, 0, 0, 0, 0, 0, 100]);
  });

  it('handles duplicate keys', async () => {
    const h = new Harness();
    await h.init([...prewritten(k(3), k(43), 100n), ...prewritten(k(15), k(44), 100n)]);
    expect((await rollback(h, 100n, [k(3), k(15), k(3)])).error).toBeUndefined();
    await h.expectLens(0, 0, 2);
  });

  it('writes a rollback record even without a prewrite', async () => {
    const h = new Harness();
    await h.init([]);
    expect((await rollback(h, 100n, [k(3)])).error).toBeUndefined();
    await h.expectLens(0, 0, 1);
  });

  it('aborts when the transaction already committed, writing nothing', async () => {
    const h = new Harness();
    await h.init([...committed(k(3), k(42), 100n, 110n), ...prewritten(k(4), k(1), 100n)]);
    const resp = await rollback(h, 100n, [k(4), k(3)]);
    expect(resp.error?.abort).toMatch(new RegExp(`^${KeyErrorCode.AlreadyCommitted}: `));
    await h.expectUnchanged();
  });

  it('is idempotent once rolled back', async () => {
    const h = new Harness();
    await h.init([rollbackRecord(k(3), 100n)]);
    expect((await rollback(h, 100n, [k(3)])).error).toBeUndefined();
    await h.expectUnchanged();
  });

  it("leaves another transaction's lock and value alone but still records our rollback", async () => {
    const h = new Harness();
    await h.init(prewritten(k(3), k(42), 80n));
    expect((await rollback(h, 100n, [k(3)])).error).toBeUndefined();
    await h.expectLens(1, 1, 1);
    expect(await h.get('lock', lockKey(k(3)))).toEqual(lockBytes(k(3), 80n, 0n));
    expect(await h.get('write', encodeKey(k(3), 100n))).toEqual(writeBytes(100n, WriteKind.Rollback));
  });

  it("does not overwrite another transaction's commit record at the same ts", async () => {
    const h = new Harness();
    await h.init(committed(k(3), k(42), 90n, 100n));
    expect((await rollback(h, 100n, [k(3)])).error).toBeUndefined();
    await h.expectUnchanged();
  });
});

describe('KvCheckTxnStatus', () => {
  const lockTs = 0x0000050000000000n | 100n;
  const currentTs = 0x0000060000000000n | 100n;

  it('rolls back an expired lock (TTLExpireRollback)', async () => {
    const h = new Harness();
    await h.init([
      ['default', encodeKey(k(3), lockTs), k(42)],
      ['lock', lockKey(k(3)), lockBytes(k(3), lockTs, 8n)],
    ]);
    const resp = await checkStatus(h, k(3), lockTs, currentTs);
    expect(resp).toMatchObject({ action: Action.TTLExpireRollback, lockTtl: 0n, commitVersion: 0n });
    await h.expectLens(0, 0, 1);
    expect(await h.get('write', encodeKey(k(3), lockTs))).toEqual(writeBytes(lockTs, WriteKind.Rollback));
  });

  it('reports the ttl of a live lock and changes nothing', async () => {
    const h = new Harness();
    const ttl = 0x0000000100000008n;
    await h.init([
      ['default', encodeKey(k(3), lockTs), k(42)],
      ['lock', lockKey(k(3)), lockBytes(k(3), lockTs, ttl)],
    ]);
    const resp = await checkStatus(h, k(3), lockTs, currentTs);
    expect(resp).toMatchObject({ action: Action.NoAction, lockTtl: ttl, commitVersion: 0n });
    await h.expectUnchanged();
  });

  it('applies the expiry rule at the millisecond boundary', async () => {
    const h = new Harness();
    const ts = 1000n << 18n;
    await h.init(prewritten(k(3), k(42), ts, k(3), 5n));
    expect((await checkStatus(h, k(3), ts, (1004n << 18n) | 0x3ffffn)).action).toBe(Action.NoAction);
    expect((await checkStatus(h, k(3), ts, 1005n << 18n)).action).toBe(Action.TTLExpireRollback);
  });

  it('never reports a live lock with ttl 0 as rolled back', async () => {
    const h = new Harness();
    const ts = 1000n << 18n;
    await h.init(prewritten(k(3), k(42), ts, k(3), 0n));
    const resp = await checkStatus(h, k(3), ts, 999n << 18n);
    expect(resp.action).toBe(Action.NoAction);
    expect(resp.lockTtl).toBeGreaterThan(0n);
    await h.expectUnchanged();
  });

  it("reports rolled back for our rollback record, ignoring another transaction's lock", async () => {
    const h = new Harness();
    await h.init([rollbackRecord(k(3), lockTs), ...prewritten(k(3), k(42), lockTs + 10n)]);
    const resp = await checkStatus(h, k(3), lockTs, currentTs);
    expect(resp).toMatchObject({ action: Action.NoAction, lockTtl: 0n, commitVersion: 0n });
    await h.expectUnchanged();
  });

  it('reports the commit ts of a committed transaction', async () => {
    const h = new Harness();
    await h.init([
      ['write', encodeKey(k(3), lockTs + 5n), writeBytes(lockTs, WriteKind.Put)],
      ['default', encodeKey(k(3), lockTs), k(42)],
    ]);
    const resp = await checkStatus(h, k(3), lockTs, currentTs);
    expect(resp).toMatchObject({ action: Action.NoAction, lockTtl: 0n, commitVersion: lockTs + 5n });
    await h.expectUnchanged();
  });

  it('writes a rollback record when there is neither lock nor record (LockNotExistRollback)', async () => {
    const h = new Harness();
    await h.init([]);
    const resp = await checkStatus(h, k(3), lockTs, currentTs);
    expect(resp).toMatchObject({ action: Action.LockNotExistRollback, lockTtl: 0n, commitVersion: 0n });
    await h.expectLens(0, 0, 1);
    expect(await h.get('write', encodeKey(k(3), lockTs))).toEqual(writeBytes(lockTs, WriteKind.Rollback));
    // A late commit of that transaction is now refused.
    await expect(h.commands.kvCommit({ context: undefined, startVersion: lockTs, keys: [k(3)], commitVersion: currentTs })).resolves.toMatchObject({
      error: expect.objectContaining({ abort: expect.stringContaining(KeyErrorCode.RolledBack) }),
    });
  });
});

describe('KvResolveLock', () => {
  const fixture = (): Init => [...prewritten(k(3), k(42), 100n), ...prewritten(k(7), k(43), 100n, k(3)), ...prewritten(k(200), k(44), 110n)];

  it('does nothing when the transaction has no locks', async () => {
    const h = new Harness();
    await h.init([]);
    expect((await resolve(h, 100n, 0n)).error).toBeUndefined();
    await h.expectUnchanged();
  });

  it('commits every lock of the transaction and only those', async () => {
    const h = new Harness();
    await h.init(fixture());
    expect((await resolve(h, 100n, 120n)).error).toBeUndefined();
    await h.expectLens(3, 1, 2);
    expect(await h.get('write', encodeKey(k(3), 120n))).toEqual(writeBytes(100n, WriteKind.Put));
    expect(await h.get('write', encodeKey(k(7), 120n))).toEqual(writeBytes(100n, WriteKind.Put));
    expect(await h.get('lock', lockKey(k(200)))).toEqual(lockBytes(k(200), 110n, 0n));
    expect(h.batches).toHaveLength(1);
  });

  it('rolls back every lock of the transaction and only those', async () => {
    const h = new Harness();
    await h.init(fixture());
    expect((await resolve(h, 100n, 0n)).error).toBeUndefined();
    await h.expectLens(1, 1, 2);
    expect(await h.get('write', encodeKey(k(3), 100n))).toEqual(writeBytes(100n, WriteKind.Rollback));
    expect(await h.get('write', encodeKey(k(7), 100n))).toEqual(writeBytes(100n, WriteKind.Rollback));
    expect(await h.get('default', encodeKey(k(200), 110n))).toEqual(k(44));
  });

  it('changes nothing when the transaction was already resolved', async () => {
    for (const commitVersion of [120n, 0n]) {
      const h = new Harness();
      await h.init([...committed(k(201), k(1), 100n, 120n), ...committed(k(201), k(2), 130n, 140n), ...prewritten(k(9), k(3), 150n)]);
      expect((await resolve(h, 100n, commitVersion)).error).toBeUndefined();
      await h.expectUnchanged();
    }
  });

  it('resolves more locks than one batch holds, in several atomic batches', async () => {
    const h = new Harness();
    const init: Init = [];
    for (let i = 1; i <= 25; i++) init.push(...prewritten(k(i), k(i), 100n, k(1)));
    init.push(...prewritten(k(13, 1), k(0), 99n));
    await h.init(init);
    const resp = await kvResolveLock(h.storage, h.latches, ResolveLockRequest.fromPartial({ startVersion: 100n, commitVersion: 105n }), 10);
    expect(resp.error).toBeUndefined();
    expect(h.batches.map((b) => b.length)).toEqual([20, 20, 10]);
    await h.expectLens(26, 1, 25);
  });
});
