// Malformed requests throw TxnError with a stable code and write nothing; region errors map to responses.
import { status as GrpcStatus } from '@grpc/grpc-js';
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
} from '../../src/proto/kvrpcpb.js';
import { MemoryEngine } from '../../src/engine/memory-engine.js';
import { StandaloneStorage } from '../../src/storage/standalone-storage.js';
import { RegionError } from '../../src/raftstore/router/errors.js';
import type { Storage } from '../../src/storage/storage.js';
import { grpcStatusOf } from '../../src/rpc/error-status.js';
import { TS_MAX } from '../../src/txn/codec.js';
import {
  createTxnCommands,
  TXN_KEY_MAX_BYTES,
  TXN_KEYS_MAX,
  TXN_SCAN_LIMIT_MAX,
  TXN_VALUE_MAX_BYTES,
  TxnError,
  TxnErrorCode,
} from '../../src/txn/index.js';
import { Harness, k, lockKey, prewritten } from './helpers.js';

const code = (c: string) => expect.objectContaining({ code: c });
const put = (key: Buffer, value = k(1)) => Mutation.fromPartial({ op: Op.Put, key, value });

describe('input validation', () => {
  it('rejects empty keys, zero timestamps and out-of-range timestamps', async () => {
    const h = new Harness();
    await h.init([]);
    const c = h.commands;
    const invalid = code(TxnErrorCode.InvalidArgument);
    await expect(c.kvGet(GetRequest.fromPartial({ key: k(), version: 10n }))).rejects.toEqual(invalid);
    await expect(c.kvGet(GetRequest.fromPartial({ key: k(1), version: 0n }))).rejects.toEqual(invalid);
    await expect(c.kvGet(GetRequest.fromPartial({ key: k(1), version: TS_MAX + 1n }))).rejects.toEqual(invalid);
    await expect(c.kvScan(ScanRequest.fromPartial({ startKey: k(1), limit: 1, version: 0n }))).rejects.toEqual(invalid);
    await expect(c.kvPrewrite(PrewriteRequest.fromPartial({ startVersion: 0n, mutations: [put(k(1))], primaryLock: k(1) }))).rejects.toEqual(invalid);
    await expect(c.kvPrewrite(PrewriteRequest.fromPartial({ startVersion: 5n, mutations: [put(k())], primaryLock: k(1) }))).rejects.toEqual(invalid);
    await expect(c.kvPrewrite(PrewriteRequest.fromPartial({ startVersion: 5n, mutations: [put(k(1))], primaryLock: k() }))).rejects.toEqual(invalid);
    await expect(c.kvCommit(CommitRequest.fromPartial({ startVersion: 5n, commitVersion: 5n, keys: [k(1)] }))).rejects.toEqual(invalid);
    await expect(c.kvCommit(CommitRequest.fromPartial({ startVersion: 5n, commitVersion: 4n, keys: [k(1)] }))).rejects.toEqual(invalid);
    await expect(c.kvCommit(CommitRequest.fromPartial({ startVersion: 5n, commitVersion: 6n, keys: [k(1), k()] }))).rejects.toEqual(invalid);
    await expect(c.kvBatchRollback(BatchRollbackRequest.fromPartial({ startVersion: 0n, keys: [k(1)] }))).rejects.toEqual(invalid);
    await expect(c.kvCheckTxnStatus(CheckTxnStatusRequest.fromPartial({ primaryKey: k(1), lockTs: 5n, currentTs: 0n }))).rejects.toEqual(invalid);
    await expect(c.kvCheckTxnStatus(CheckTxnStatusRequest.fromPartial({ primaryKey: k(), lockTs: 5n, currentTs: 6n }))).rejects.toEqual(invalid);
    await expect(c.kvResolveLock(ResolveLockRequest.fromPartial({ startVersion: 0n, commitVersion: 0n }))).rejects.toEqual(invalid);
    await expect(c.kvResolveLock(ResolveLockRequest.fromPartial({ startVersion: 5n, commitVersion: 3n }))).rejects.toEqual(invalid);
    await h.expectUnchanged();
  });

  it('rejects Lock and Rollback mutations and unknown ops', async () => {
    const h = new Harness();
    await h.init([]);
    for (const op of [Op.Lock, Op.Rollback, Op.UNRECOGNIZED, 17 as Op]) {
      const mutations = [put(k(2)), Mutation.fromPartial({ op, key: k(1) })];
      await expect(h.commands.kvPrewrite(PrewriteRequest.fromPartial({ startVersion: 5n, mutations, primaryLock: k(1) }))).rejects.toEqual(
        code(TxnErrorCode.InvalidArgument),
      );
    }
    await h.expectUnchanged();
  });

  it('bounds keys per command, key and value sizes, and the scan limit', async () => {
    const h = new Harness();
    await h.init([]);
    const manyKeys = Array.from({ length: TXN_KEYS_MAX + 1 }, (_, i) => Buffer.from(`key-${i}`));
    await expect(h.commands.kvCommit(CommitRequest.fromPartial({ startVersion: 5n, commitVersion: 6n, keys: manyKeys }))).rejects.toEqual(
      code(TxnErrorCode.TooManyKeys),
    );
    await expect(
      h.commands.kvPrewrite(PrewriteRequest.fromPartial({ startVersion: 5n, mutations: manyKeys.map((key) => put(key)), primaryLock: k(1) })),
    ).rejects.toEqual(code(TxnErrorCode.TooManyKeys));
    const bigKey = Buffer.alloc(TXN_KEY_MAX_BYTES + 1, 7);
    await expect(h.commands.kvGet(GetRequest.fromPartial({ key: bigKey, version: 5n }))).rejects.toEqual(code(TxnErrorCode.KeyTooLarge));
    const bigValue = Buffer.alloc(TXN_VALUE_MAX_BYTES + 1);
    await expect(
      h.commands.kvPrewrite(PrewriteRequest.fromPartial({ startVersion: 5n, mutations: [put(k(1), bigValue)], primaryLock: k(1) })),
    ).rejects.toEqual(code(TxnErrorCode.ValueTooLarge));
    await expect(h.commands.kvScan(ScanRequest.fromPartial({ startKey: k(1), limit: TXN_SCAN_LIMIT_MAX + 1, version: 5n }))).rejects.toEqual(
      code(TxnErrorCode.ScanLimitTooLarge),
    );
    await h.expectUnchanged();
  });

  it('accepts the largest key: its encoded form fits the engine', async () => {
    const h = new Harness();
    await h.init([]);
    const key = Buffer.alloc(TXN_KEY_MAX_BYTES, 0xab);
    const mutations = [put(key, k(9))];
    expect((await h.commands.kvPrewrite(PrewriteRequest.fromPartial({ startVersion: 5n, mutations, primaryLock: key }))).errors).toEqual([]);
    expect((await h.commands.kvCommit(CommitRequest.fromPartial({ startVersion: 5n, commitVersion: 6n, keys: [key] }))).error).toBeUndefined();
    expect((await h.commands.kvGet(GetRequest.fromPartial({ key, version: 7n }))).value).toEqual(k(9));
  });

  it('maps error codes to gRPC statuses', () => {
    expect(grpcStatusOf(new TxnError(TxnErrorCode.InvalidArgument, 'x'))).toBe(GrpcStatus.INVALID_ARGUMENT);
    expect(grpcStatusOf(new TxnError(TxnErrorCode.LatchQueueFull, 'x'))).toBe(GrpcStatus.RESOURCE_EXHAUSTED);
    expect(new TxnError(TxnErrorCode.LatchQueueFull, 'x').retryable).toBe(true);
    expect(grpcStatusOf(new TxnError(TxnErrorCode.Corruption, 'x'))).toBe(GrpcStatus.DATA_LOSS);
  });

  it('reports corrupt stored data instead of guessing', async () => {
    const h = new Harness();
    await h.init([['lock', lockKey(k(1)), Buffer.from([1, 2, 3])]]);
    await expect(h.commands.kvGet(GetRequest.fromPartial({ key: k(1), version: 5n }))).rejects.toEqual(code(TxnErrorCode.Corruption));
  });
});

describe('region errors from the storage', () => {
  const regionError = {
    message: 'not leader',
    notLeader: { regionId: 1, leader: undefined },
    regionNotFound: undefined,
    keyNotInRegion: undefined,
    epochNotMatch: undefined,
    staleCommand: undefined,
    storeNotMatch: undefined,
  };
  function failingStorage(on: 'reader' | 'write'): Storage {
    const inner = new StandaloneStorage(new MemoryEngine());
    const fail = () => Promise.reject(new RegionError(regionError));
    return {
      start: () => inner.start(),
      stop: () => inner.stop(),
      reader: on === 'reader' ? fail : (ctx) => inner.reader(ctx),
      write: on === 'write' ? fail : (ctx, batch) => inner.write(ctx, batch),
    };
  }

  it('go into region_error of every response', async () => {
    const c = createTxnCommands(failingStorage('reader'));
    expect((await c.kvGet(GetRequest.fromPartial({ key: k(1), version: 5n }))).regionError).toEqual(regionError);
    expect((await c.kvScan(ScanRequest.fromPartial({ startKey: k(1), limit: 5, version: 5n }))).regionError).toEqual(regionError);
    expect((await c.kvPrewrite(PrewriteRequest.fromPartial({ startVersion: 5n, mutations: [put(k(1))], primaryLock: k(1) }))).regionError).toEqual(
      regionError,
    );
    expect((await c.kvCommit(CommitRequest.fromPartial({ startVersion: 5n, commitVersion: 6n, keys: [k(1)] }))).regionError).toEqual(regionError);
    expect((await c.kvBatchRollback(BatchRollbackRequest.fromPartial({ startVersion: 5n, keys: [k(1)] }))).regionError).toEqual(regionError);
    expect((await c.kvCheckTxnStatus(CheckTxnStatusRequest.fromPartial({ primaryKey: k(1), lockTs: 5n, currentTs: 6n }))).regionError).toEqual(
      regionError,
    );
    expect((await c.kvResolveLock(ResolveLockRequest.fromPartial({ startVersion: 5n, commitVersion: 0n }))).regionError).toEqual(regionError);
    expect(c.latches.slotCount).toBe(0);
  });

  it('from a failed write release the latches', async () => {
    const c = createTxnCommands(failingStorage('write'));
    const resp = await c.kvBatchRollback(BatchRollbackRequest.fromPartial({ startVersion: 5n, keys: [k(1)] }));
    expect(resp.regionError).toEqual(regionError);
    expect(c.latches.slotCount).toBe(0);
  });

  it('other storage errors propagate and release the latches', async () => {
    const inner = new StandaloneStorage(new MemoryEngine());
    const storage: Storage = {
      start: () => inner.start(),
      stop: () => inner.stop(),
      reader: (ctx) => inner.reader(ctx),
      write: () => Promise.reject(new Error('disk on fire')),
    };
    const c = createTxnCommands(storage);
    await expect(c.kvBatchRollback(BatchRollbackRequest.fromPartial({ startVersion: 5n, keys: [k(1)] }))).rejects.toThrow('disk on fire');
    expect(c.latches.slotCount).toBe(0);
  });
});

describe('latch validation hook (TinyKV harness check)', () => {
  it('fails a command whose batch touches an unlatched key, writing nothing', async () => {
    const h = new Harness();
    await h.init(prewritten(k(3), k(42), 100n));
    h.latches.validation = (_keys, modifies) => {
      if (modifies.length > 0) throw new Error('validation saw the batch');
    };
    await expect(h.commands.kvCommit(CommitRequest.fromPartial({ startVersion: 100n, commitVersion: 110n, keys: [k(3)] }))).rejects.toThrow(
      'validation saw the batch',
    );
    await h.expectUnchanged();
  });
});
