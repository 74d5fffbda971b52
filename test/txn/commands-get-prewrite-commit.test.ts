// KvGet / KvPrewrite / KvCommit scenarios (TinyKV project 4B), written afresh, plus our safer semantics.
import { describe, expect, it } from 'vitest';
import { CommitRequest, GetRequest, Mutation, Op, PrewriteRequest } from '../../src/proto/kvrpcpb.js';
import { encodeKey, TS_MAX } from '../../src/txn/codec.js';
import { KeyErrorCode } from '../../src/txn/errors.js';
import { WriteKind } from '../../src/txn/write.js';
import { committed, Harness, k, lockBytes, lockKey, prewritten, writeBytes } from './helpers.js';
import { defined } from '../../src/util/assert.js';

const get = (h: Harness, key: Buffer, version: bigint) => h.commands.kvGet(GetRequest.fromPartial({ key, version }));
const put = (key: Buffer, value: Buffer) => Mutation.fromPartial({ op: Op.Put, key, value });
const del = (key: Buffer) => Mutation.fromPartial({ op: Op.Del, key });
const prewrite = (h: Harness, startVersion: bigint, mutations: Mutation[], lockTtl = 0n, primaryLock = k(1)) =>
  h.commands.kvPrewrite(PrewriteRequest.fromPartial({ startVersion, mutations, lockTtl, primaryLock }));
const commit = (h: Harness, startVersion: bigint, commitVersion: bigint, keys: Buffer[]) =>
  h.commands.kvCommit(CommitRequest.fromPartial({ startVersion, commitVersion, keys }));

describe('KvGet', () => {
  it('reads a committed value at TsMax', async () => {
    const h = new Harness();
    await h.init(committed(k(99), k(42), 50n, 54n));
    const resp = await get(h, k(99), TS_MAX);
    expect(resp.error).toBeUndefined();
    expect(resp.notFound).toBe(false);
    expect(resp.value).toEqual(k(42));
  });

  it('gives the same answer on repeated reads', async () => {
    const h = new Harness();
    await h.init(committed(k(99), k(42), 50n, 54n));
    for (let i = 0; i < 3; i++) expect((await get(h, k(99), 100n)).value).toEqual(k(42));
  });

  it('reports not found on an empty store and for an absent key between others', async () => {
    const h = new Harness();
    await h.init([]);
    expect(await get(h, k(100), TS_MAX)).toMatchObject({ notFound: true, error: undefined });
    const h2 = new Harness();
    await h2.init([...committed(k(99), k(42), 50n, 54n), ...committed(k(101), k(42), 50n, 54n)]);
    expect(await get(h2, k(100), TS_MAX)).toMatchObject({ notFound: true, error: undefined });
  });

  it('reads the version committed at or before the read ts', async () => {
    const h = new Harness();
    await h.init([...committed(k(99), k(42), 50n, 54n), ...committed(k(99), k(43), 60n, 66n), ...committed(k(99), k(44), 120n, 122n)]);
    expect((await get(h, k(99), 40n)).notFound).toBe(true);
    for (const ts of [56n, 60n, 65n]) expect((await get(h, k(99), ts)).value).toEqual(k(42));
    for (const ts of [66n, 100n]) expect((await get(h, k(99), ts)).value).toEqual(k(43));
    expect((await get(h, k(99), 122n)).value).toEqual(k(44));
  });

  it('treats a committed delete as not found from its commit ts on', async () => {
    const h = new Harness();
    await h.init([
      ...committed(k(99), k(42), 50n, 54n),
      ['write', encodeKey(k(99), 66n), writeBytes(60n, WriteKind.Delete)],
      ...committed(k(99), k(44), 120n, 122n),
    ]);
    for (const ts of [54n, 60n, 65n]) expect((await get(h, k(99), ts)).value).toEqual(k(42));
    for (const ts of [66n, 67n]) expect((await get(h, k(99), ts)).notFound).toBe(true);
    expect((await get(h, k(99), 122n)).value).toEqual(k(44));
  });

  it('reports a lock with ts <= the read ts, and reads past a newer lock', async () => {
    const h = new Harness();
    await h.init([...committed(k(99), k(42), 50n, 54n), ...prewritten(k(99), k(43), 200n, k(99))]);
    const early = await get(h, k(99), 55n);
    expect(early.error).toBeUndefined();
    expect(early.value).toEqual(k(42));
    const late = await get(h, k(99), 300n);
    expect(late.error?.locked).toEqual({ key: k(99), primaryLock: k(99), lockVersion: 200n, lockTtl: 0n });
    expect((await get(h, k(99), 200n)).error?.locked?.lockVersion).toBe(200n);
  });

  it('reports a lock on a key that has no committed version yet', async () => {
    const h = new Harness();
    await h.init(prewritten(k(7), k(1), 90n));
    expect((await get(h, k(7), 100n)).error?.locked?.lockVersion).toBe(90n);
  });
});

describe('KvPrewrite', () => {
  it('with no mutations returns no errors and writes nothing', async () => {
    const h = new Harness();
    await h.init([]);
    expect((await prewrite(h, 100n, [])).errors).toEqual([]);
    await h.expectUnchanged();
  });

  it('writes the value and a lock with the exact bytes', async () => {
    const h = new Harness();
    await h.init([]);
    expect((await prewrite(h, 100n, [put(k(3), k(42))], 1000n)).errors).toEqual([]);
    expect(await h.get('default', encodeKey(k(3), 100n))).toEqual(k(42));
    expect([...(await h.get('lock', lockKey(k(3))))!]).toEqual([1, 1, 0, 0, 0, 0, 0, 0, 0, 100, 0, 0, 0, 0, 0, 0, 3, 232]);
    await h.expectLens(1, 1, 0);
    expect(h.batches).toHaveLength(1);
  });

  it("fails on another transaction's lock and writes nothing", async () => {
    const h = new Harness();
    await h.init([]);
    expect((await prewrite(h, 100n, [put(k(3), k(42))])).errors).toEqual([]);
    const resp = await prewrite(h, 101n, [put(k(3), k(53))]);
    expect(resp.errors).toHaveLength(1);
    expect(defined(resp.errors[0], 'resp.errors[0]').locked).toMatchObject({ key: k(3), lockVersion: 100n, primaryLock: k(1) });
    await h.expectLens(1, 1, 0);
    expect(await h.get('default', encodeKey(k(3), 100n))).toEqual(k(42));
  });

  it('reports a write conflict for a write committed at or after start_ts and writes nothing', async () => {
    for (const commitTs of [101n, 100n]) {
      const h = new Harness();
      await h.init(committed(k(3), k(42), 80n, commitTs));
      const resp = await prewrite(h, 100n, [put(k(3), k(5))], 0n, k(3));
      expect(resp.errors).toHaveLength(1);
      expect(defined(resp.errors[0], 'resp.errors[0]').conflict).toEqual({ startTs: 100n, conflictTs: commitTs, key: k(3), primary: k(3) });
      await h.expectUnchanged();
    }
  });

  it('accepts a write committed before start_ts', async () => {
    const h = new Harness();
    await h.init(committed(k(3), k(42), 80n, 90n));
    expect((await prewrite(h, 100n, [put(k(3), k(5))])).errors).toEqual([]);
    await h.expectLens(2, 1, 1);
  });

  it('lets two transactions prewrite different keys', async () => {
    const h = new Harness();
    await h.init([]);
    expect((await prewrite(h, 100n, [put(k(3), k(42))])).errors).toEqual([]);
    expect((await prewrite(h, 101n, [put(k(4), k(53))])).errors).toEqual([]);
    await h.expectLens(2, 2, 0);
  });

  it('keeps the last mutation of a key given twice', async () => {
    const h = new Harness();
    await h.init([]);
    expect((await prewrite(h, 100n, [put(k(3), k(42)), put(k(3), k(45))])).errors).toEqual([]);
    expect(await h.get('default', encodeKey(k(3), 100n))).toEqual(k(45));
    await h.expectLens(1, 1, 0);
  });

  it('handles several mutations over keys including put-del-put of one key', async () => {
    const h = new Harness();
    await h.init([]);
    const resp = await prewrite(h, 100n, [
      put(k(3), k(42)),
      put(k(4), k(43)),
      put(k(5), k(44)),
      del(k(4)),
      put(k(4), k(1, 3, 5)),
      put(k(255), k(45)),
    ]);
    expect(resp.errors).toEqual([]);
    await h.expectLens(4, 4, 0);
    expect(await h.get('default', encodeKey(k(4), 100n))).toEqual(k(1, 3, 5));
  });

  it('writes a Delete lock and no value for a Del mutation', async () => {
    const h = new Harness();
    await h.init(committed(k(3), k(42), 80n, 90n));
    expect((await prewrite(h, 100n, [del(k(3))])).errors).toEqual([]);
    expect(await h.get('lock', lockKey(k(3)))).toEqual(lockBytes(k(1), 100n, 0n, WriteKind.Delete));
    expect(await h.get('default', encodeKey(k(3), 100n))).toBeUndefined();
  });

  it('is idempotent when repeated by the same transaction', async () => {
    const h = new Harness();
    await h.init([]);
    expect((await prewrite(h, 100n, [put(k(3), k(42))])).errors).toEqual([]);
    const before = await h.dump();
    expect((await prewrite(h, 100n, [put(k(3), k(42))])).errors).toEqual([]);
    expect(await h.dump()).toEqual(before);
  });

  it('collects one error per failing key and writes none of the good keys', async () => {
    const h = new Harness();
    await h.init([...prewritten(k(5), k(0), 90n), ...committed(k(6), k(0), 95n, 120n)]);
    const resp = await prewrite(h, 100n, [put(k(4), k(1)), put(k(5), k(1)), put(k(6), k(1))]);
    expect(resp.errors).toHaveLength(2);
    expect(defined(resp.errors[0], 'resp.errors[0]').locked?.key).toEqual(k(5));
    expect(defined(resp.errors[1], 'resp.errors[1]').conflict?.key).toEqual(k(6));
    await h.expectUnchanged();
  });

  it('cannot prewrite again after its own rollback (the rollback record conflicts)', async () => {
    const h = new Harness();
    await h.init([['write', encodeKey(k(3), 100n), writeBytes(100n, WriteKind.Rollback)]]);
    const resp = await prewrite(h, 100n, [put(k(3), k(42))]);
    expect(defined(resp.errors[0], 'resp.errors[0]').conflict).toMatchObject({ startTs: 100n, conflictTs: 100n });
    await h.expectUnchanged();
  });
});

describe('KvCommit', () => {
  it('with no keys returns no error and writes nothing', async () => {
    const h = new Harness();
    await h.init([]);
    expect((await commit(h, 100n, 110n, [])).error).toBeUndefined();
    await h.expectUnchanged();
  });

  it('commits one key: write record at commit ts, lock removed, value kept', async () => {
    const h = new Harness();
    await h.init(prewritten(k(3), k(42), 100n, k(1)));
    expect((await commit(h, 100n, 110n, [k(3)])).error).toBeUndefined();
    expect([...(await h.get('write', encodeKey(k(3), 110n)))!]).toEqual([1, 0, 0, 0, 0, 0, 0, 0, 100]);
    expect(await h.get('lock', lockKey(k(3)))).toBeUndefined();
    expect(await h.get('default', encodeKey(k(3), 100n))).toEqual(k(42));
    await h.expectLens(1, 0, 1);
  });

  it('commits over a previously committed version', async () => {
    const h = new Harness();
    await h.init([...committed(k(3), k(15), 80n, 90n), ...prewritten(k(3), k(42), 100n)]);
    expect((await commit(h, 100n, 110n, [k(3)])).error).toBeUndefined();
    await h.expectLens(2, 0, 2);
    expect((await get(h, k(3), 110n)).value).toEqual(k(42));
    expect((await get(h, k(3), 109n)).value).toEqual(k(15));
  });

  it('commits several keys and leaves other data and other locks alone', async () => {
    const h = new Harness();
    await h.init([
      ...prewritten(k(3), k(10), 100n),
      ...prewritten(k(5), k(11), 100n),
      ...prewritten(k(12), k(12), 100n, k(1)),
      ...committed(k(4), k(1), 50n, 60n),
      ...committed(k(9), k(1), 50n, 60n),
      ...prewritten(k(200), k(2), 99n),
      ...prewritten(k(201), k(2), 99n),
    ]);
    // 7 values; the two locks of txn 99 stay; 2 old + 3 new write records (TinyKV's (7,2,5)).
    expect((await commit(h, 100n, 110n, [k(3), k(5), k(12)])).error).toBeUndefined();
    await h.expectLens(7, 2, 5);
    expect(await h.get('lock', lockKey(k(200)))).toEqual(lockBytes(k(200), 99n, 0n));
  });

  it('accepts a key listed twice', async () => {
    const h = new Harness();
    await h.init(prewritten(k(3), k(42), 100n));
    expect((await commit(h, 100n, 110n, [k(3), k(3)])).error).toBeUndefined();
    await h.expectLens(1, 0, 1);
    expect(h.batches).toHaveLength(1);
    expect(h.batches[0]).toHaveLength(2);
  });

  it('returns abort (not silent success) when the transaction was rolled back', async () => {
    const h = new Harness();
    await h.init([['write', encodeKey(k(3), 100n), writeBytes(100n, WriteKind.Rollback)]]);
    const resp = await commit(h, 100n, 110n, [k(3)]);
    expect(resp.error?.abort).toMatch(new RegExp(`^${KeyErrorCode.RolledBack}: `));
    await h.expectUnchanged();
  });

  it("returns retryable for another transaction's lock and writes nothing", async () => {
    const h = new Harness();
    await h.init([
      ['default', encodeKey(k(3), 90n), k(110)],
      ['lock', lockKey(k(3)), lockBytes(k(3), 90n, 0n, WriteKind.Rollback)],
    ]);
    const resp = await commit(h, 100n, 110n, [k(3)]);
    expect(resp.error?.retryable).toMatch(new RegExp(`^${KeyErrorCode.LockedByOther}: `));
    await h.expectUnchanged();
  });

  it('is idempotent once committed', async () => {
    const h = new Harness();
    await h.init(committed(k(3), k(42), 100n, 110n));
    expect((await commit(h, 100n, 110n, [k(3)])).error).toBeUndefined();
    await h.expectUnchanged();
  });

  it("succeeds when committed on the key even if another transaction's lock came later", async () => {
    const h = new Harness();
    await h.init([...committed(k(3), k(42), 100n, 110n), ...prewritten(k(3), k(43), 120n)]);
    expect((await commit(h, 100n, 110n, [k(3)])).error).toBeUndefined();
    await h.expectUnchanged();
  });

  it('returns abort when the key was never prewritten (TinyKV: silent success)', async () => {
    const h = new Harness();
    await h.init([]);
    const resp = await commit(h, 100n, 110n, [k(3)]);
    expect(resp.error?.abort).toMatch(new RegExp(`^${KeyErrorCode.LockNotFound}: `));
    await h.expectUnchanged();
  });

  it('writes nothing when any key fails', async () => {
    const h = new Harness();
    await h.init([...prewritten(k(3), k(42), 100n), ['write', encodeKey(k(4), 100n), writeBytes(100n, WriteKind.Rollback)]]);
    expect((await commit(h, 100n, 110n, [k(3), k(4)])).error?.abort).toBeTruthy();
    await h.expectUnchanged();
  });

  it('commits a Delete lock as a Delete record', async () => {
    const h = new Harness();
    await h.init([...committed(k(3), k(42), 80n, 90n), ['lock', lockKey(k(3)), lockBytes(k(3), 100n, 0n, WriteKind.Delete)]]);
    expect((await commit(h, 100n, 110n, [k(3)])).error).toBeUndefined();
    expect(await h.get('write', encodeKey(k(3), 110n))).toEqual(writeBytes(100n, WriteKind.Delete));
    expect((await get(h, k(3), 110n)).notFound).toBe(true);
  });
});
