import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  composeTs,
  decodeBytes,
  decodeLockKey,
  decodeTimestamp,
  decodeUserKey,
  encodeBytes,
  encodedKeyUpperBound,
  encodeKey,
  physicalTime,
  TS_MAX,
  tryDecodeBytes,
} from '../../src/txn/codec.js';
import { TxnErrorCode } from '../../src/txn/errors.js';

const ff8 = Array(8).fill(0xff);
const bytes = (b: Buffer) => [...b];

describe('memcomparable key encoding (TinyKV TestEncodeKey)', () => {
  it('encodes the empty key as one all-padding group', () => {
    expect(bytes(encodeKey(Buffer.alloc(0), 0n))).toEqual([0, 0, 0, 0, 0, 0, 0, 0, 247, ...ff8]);
  });

  it('encodes a one-byte key with marker 248', () => {
    expect(bytes(encodeKey(Buffer.from([42]), 0n))).toEqual([42, 0, 0, 0, 0, 0, 0, 0, 248, ...ff8]);
  });

  it('encodes a three-byte key with marker 250', () => {
    expect(bytes(encodeKey(Buffer.from([42, 0, 5]), 0n))).toEqual([42, 0, 5, 0, 0, 0, 0, 0, 250, ...ff8]);
  });

  it('adds an extra padding group for a multiple of 8 bytes', () => {
    const key = Buffer.from([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(bytes(encodeBytes(key))).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 255, 0, 0, 0, 0, 0, 0, 0, 0, 247]);
  });

  it('stores the inverted timestamp big-endian', () => {
    const encoded = encodeKey(Buffer.from([42]), 0x0102030405060708n);
    expect(bytes(encoded.subarray(9))).toEqual([0xfe, 0xfd, 0xfc, 0xfb, 0xfa, 0xf9, 0xf8, 0xf7]);
    expect(bytes(encodeKey(Buffer.from([42]), TS_MAX).subarray(9))).toEqual(Array(8).fill(0));
  });

  it('orders the same key by descending timestamp, then keys ascending', () => {
    const a = encodeKey(Buffer.from([42]), 238n);
    const b = encodeKey(Buffer.from([42]), 237n);
    expect(Buffer.compare(a, b)).toBeLessThan(0);
    expect(Buffer.compare(encodeKey(Buffer.from([42]), 238n), encodeKey(Buffer.from([42, 0]), 0n))).toBeLessThan(0);
    expect(Buffer.compare(encodeKey(Buffer.from([42, 0]), 0n), encodeKey(Buffer.from([200]), 0n))).toBeLessThan(0);
  });

  it('compares timestamps over the full 64 bits', () => {
    const high = (1n << 63n) + 5n;
    const low = 5n;
    expect(Buffer.compare(encodeKey(Buffer.from([1]), high), encodeKey(Buffer.from([1]), low))).toBeLessThan(0);
    expect(decodeTimestamp(encodeKey(Buffer.from([1]), high))).toBe(high);
  });
});

describe('decoding', () => {
  it('round-trips user keys and timestamps (TestDecodeKey), property', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 40 }), fc.bigInt({ min: 0n, max: TS_MAX }), (key, ts) => {
        const encoded = encodeKey(key, ts);
        expect(bytes(decodeUserKey(encoded))).toEqual([...key]);
        expect(decodeTimestamp(encoded)).toBe(ts);
      }),
    );
  });

  it('preserves byte order of user keys and descending ts order, property', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 20 }),
        fc.uint8Array({ maxLength: 20 }),
        fc.bigInt({ min: 0n, max: TS_MAX }),
        fc.bigInt({ min: 0n, max: TS_MAX }),
        (a, b, ta, tb) => {
          const keyOrder = Math.sign(Buffer.compare(a, b));
          const encodedOrder = Math.sign(Buffer.compare(encodeKey(a, ta), encodeKey(b, tb)));
          if (keyOrder !== 0) expect(encodedOrder).toBe(keyOrder);
          else expect(encodedOrder).toBe(ta === tb ? 0 : ta > tb ? -1 : 1);
        },
      ),
    );
  });

  it('upper bound lies above every version of the key and below every greater key, property', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 20 }), fc.uint8Array({ maxLength: 20 }), (a, b) => {
        const bound = encodedKeyUpperBound(a);
        expect(Buffer.compare(encodeKey(a, 0n), bound)).toBeLessThan(0);
        if (Buffer.compare(Buffer.from(b), Buffer.from(a)) > 0) {
          expect(Buffer.compare(bound, encodeKey(b, TS_MAX))).toBeLessThanOrEqual(0);
        }
      }),
    );
  });

  it('returns the rest after the encoded bytes', () => {
    const { data, rest } = decodeBytes(Buffer.concat([encodeBytes(Buffer.from('abc')), Buffer.from([9, 9])]));
    expect(data.toString()).toBe('abc');
    expect(bytes(rest)).toEqual([9, 9]);
  });

  it('rejects truncated input, bad markers and non-zero padding', () => {
    expect(() => decodeBytes(Buffer.from([1, 2, 3]))).toThrow(expect.objectContaining({ code: TxnErrorCode.Corruption }));
    expect(() => decodeBytes(Buffer.from([1, 0, 0, 0, 0, 0, 0, 0, 200]))).toThrow(/marker/);
    expect(() => decodeBytes(Buffer.from([1, 0, 0, 0, 0, 0, 0, 7, 248]))).toThrow(/padding/);
    expect(() => decodeTimestamp(encodeBytes(Buffer.from([1])))).toThrow(/timestamp bytes/);
  });
});

describe('lock keys (encodeBytes of the user key)', () => {
  it('sort every lock between its own versions and the next user key, property', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 30 }), fc.uint8Array({ maxLength: 30 }), fc.bigInt({ min: 0n, max: TS_MAX }), (a, b, ts) => {
        const lock = encodeBytes(a);
        expect(bytes(decodeLockKey(lock))).toEqual([...a]);
        // The lock is the smallest record of its key: all versions follow it, below the upper bound.
        expect(Buffer.compare(lock, encodeKey(a, ts))).toBeLessThan(0);
        expect(Buffer.compare(encodeKey(a, ts), encodedKeyUpperBound(a))).toBeLessThan(0);
        // Lock keys order as their user keys; a greater key's lock follows every version of a.
        const order = Math.sign(Buffer.compare(Buffer.from(a), Buffer.from(b)));
        expect(Math.sign(Buffer.compare(lock, encodeBytes(b)))).toBe(order);
        if (order < 0) expect(Buffer.compare(encodeKey(a, ts), encodeBytes(b))).toBeLessThan(0);
      }),
    );
  });

  it('treats a lock key that is not exactly one encoding as a broken invariant', () => {
    expect(() => decodeLockKey(Buffer.from('raw-key'))).toThrow(expect.objectContaining({ code: 'KV:Internal:AssertionFailed' }));
    expect(() => decodeLockKey(encodeKey(Buffer.from('k'), 7n))).toThrow(/not encodeBytes/);
    expect(tryDecodeBytes(Buffer.from([1, 2]))).toBeUndefined();
  });
});

describe('timestamps', () => {
  it('splits physical milliseconds from the logical part', () => {
    expect(physicalTime(composeTs(1234n, 77n))).toBe(1234n);
    expect(composeTs(1n, 3n)).toBe((1n << 18n) | 3n);
    expect(physicalTime(0x0000050000000000n)).toBe(0x0000050000000000n >> 18n);
  });
});
