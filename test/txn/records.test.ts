import { describe, expect, it } from 'vitest';
import { Op } from '../../src/proto/kvrpcpb.js';
import { TxnErrorCode } from '../../src/txn/errors.js';
import { decodeLock, encodeLock, isLockExpired, lockInfo } from '../../src/txn/lock.js';
import { decodeWrite, encodeWrite, WriteKind, writeKindFromOp, writeKindToOp } from '../../src/txn/write.js';

const zeros = (n: number) => Array(n).fill(0);

describe('lock records', () => {
  it('encodes primary ++ kind ++ BE64 ts ++ BE64 ttl (TinyKV test bytes)', () => {
    const bytes = encodeLock({ primary: Buffer.from([1]), ts: 100n, ttl: 0n, kind: WriteKind.Put });
    expect([...bytes]).toEqual([1, 1, ...zeros(7), 100, ...zeros(8)]);
    const withTtl = encodeLock({ primary: Buffer.from([1]), ts: 100n, ttl: 1000n, kind: WriteKind.Put });
    expect([...withTtl]).toEqual([1, 1, ...zeros(7), 100, ...zeros(6), 3, 232]);
  });

  it('round-trips, including an empty primary and full 64-bit values', () => {
    for (const lock of [
      { primary: Buffer.from('primary-key'), ts: (1n << 64n) - 1n, ttl: 1n << 63n, kind: WriteKind.Delete },
      { primary: Buffer.alloc(0), ts: 1n, ttl: 0n, kind: WriteKind.Put },
    ]) {
      expect(decodeLock(encodeLock(lock))).toEqual(lock);
    }
  });

  it('rejects records of 16 bytes or fewer and unknown kinds', () => {
    expect(() => decodeLock(Buffer.alloc(16))).toThrow(expect.objectContaining({ code: TxnErrorCode.Corruption }));
    expect(() => decodeLock(Buffer.from([1, 9, ...zeros(16)]))).toThrow(/unknown kind/);
  });

  it('builds LockInfo with the key', () => {
    const lock = { primary: Buffer.from([99]), ts: 200n, ttl: 7n, kind: WriteKind.Put };
    expect(lockInfo(lock, Buffer.from([5]))).toEqual({
      primaryLock: Buffer.from([99]),
      lockVersion: 200n,
      key: Buffer.from([5]),
      lockTtl: 7n,
    });
  });

  it('expires when physical(current) >= physical(lock.ts) + ttl', () => {
    const lock = { primary: Buffer.from([1]), ts: 10n << 18n, ttl: 5n, kind: WriteKind.Put };
    expect(isLockExpired(lock, (14n << 18n) | 0x3ffffn)).toBe(false);
    expect(isLockExpired(lock, 15n << 18n)).toBe(true);
  });
});

describe('write records', () => {
  it('encodes kind ++ BE64 startTs in exactly 9 bytes', () => {
    expect([...encodeWrite({ startTs: 50n, kind: WriteKind.Put })]).toEqual([1, ...zeros(7), 50]);
    expect([...encodeWrite({ startTs: 256n, kind: WriteKind.Rollback })]).toEqual([3, ...zeros(6), 1, 0]);
  });

  it('round-trips and rejects bad records', () => {
    const write = { startTs: (1n << 64n) - 2n, kind: WriteKind.Delete };
    expect(decodeWrite(encodeWrite(write))).toEqual(write);
    expect(() => decodeWrite(Buffer.alloc(8))).toThrow(/want 9/);
    expect(() => decodeWrite(Buffer.from([4, ...zeros(8)]))).toThrow(/unknown kind/);
  });

  it('maps ops to kinds; Lock and Rollback mutations are rejected', () => {
    expect(writeKindFromOp(Op.Put)).toBe(WriteKind.Put);
    expect(writeKindFromOp(Op.Del)).toBe(WriteKind.Delete);
    expect(() => writeKindFromOp(Op.Lock)).toThrow(expect.objectContaining({ code: TxnErrorCode.InvalidArgument }));
    expect(() => writeKindFromOp(Op.Rollback)).toThrow(/unsupported/);
    expect(writeKindToOp(WriteKind.Rollback)).toBe(Op.Rollback);
  });
});
