// Where the split checker may cut, in the transaction layer's key layout: at an encoded user key, so
// a key's lock (encodeBytes(userKey)) and every MVCC version (encodeKey(userKey, ts)) sort at or
// after the cut, and before the next user key's encoding, however long the key is.
import { describe, expect, it } from 'vitest';
import { encodeBytes, encodeKey, TS_MAX } from '../../src/txn/codec.js';
import { userKeyBoundary } from '../../src/txn/split-boundary.js';
import { compareBytes } from '../../src/util/bytes.js';

const b = (s: string) => Buffer.from(s);

describe('userKeyBoundary', () => {
  it('cuts an MVCC key back to its encoded user key, in the default and write families', () => {
    for (const userKey of ['k', 'exactly8', 'a longer user key of many groups']) {
      for (const ts of [0n, 42n, TS_MAX]) {
        const key = encodeKey(b(userKey), ts);
        expect(userKeyBoundary('default', key)).toEqual(encodeBytes(b(userKey)));
        expect(userKeyBoundary('write', key)).toEqual(encodeBytes(b(userKey)));
        // Every version and the lock of the key are on the right of the cut.
        expect(compareBytes(key, encodeBytes(b(userKey)))).toBeGreaterThan(0);
      }
    }
  });

  it('keeps a lock key (the encoded user key) and raw data as they are', () => {
    expect(userKeyBoundary('lock', encodeBytes(b('k1')))).toEqual(encodeBytes(b('k1')));
    expect(userKeyBoundary('default', b('k100'))).toEqual(b('k100'));
    expect(userKeyBoundary('default', b('raw key of 17 byt'))).toEqual(b('raw key of 17 byt'));
    // Memcomparable without a timestamp is not an MVCC key.
    expect(userKeyBoundary('default', encodeBytes(b('abc')))).toEqual(encodeBytes(b('abc')));
  });

  it('keeps the lock and every version of a long key on one side of a split key sharing its first 8 bytes', () => {
    // x < y as user keys, both longer than 8 bytes, with the same first 8 bytes: under the old layout
    // (raw lock keys) x's lock sorted left of y and x's versions right of it.
    const x = b('user0001-a');
    const y = b('user0001-b');
    const splitKey = userKeyBoundary('write', encodeKey(y, 7n));
    expect(splitKey).toEqual(encodeBytes(y));
    const recordsOfX = [encodeBytes(x), ...[1n, 99n, TS_MAX].map((ts) => encodeKey(x, ts))];
    for (const key of recordsOfX) expect(compareBytes(key, splitKey)).toBeLessThan(0);
    const recordsOfY = [encodeBytes(y), ...[1n, 99n, TS_MAX].map((ts) => encodeKey(y, ts))];
    for (const key of recordsOfY) expect(compareBytes(key, splitKey)).toBeGreaterThanOrEqual(0);
    // And a key longer than y that starts with y (y is its prefix) sorts wholly after y's records.
    const z = b('user0001-b-and-more');
    for (const key of [encodeBytes(z), encodeKey(z, TS_MAX)]) {
      for (const ofY of recordsOfY) expect(compareBytes(key, ofY)).toBeGreaterThan(0);
    }
  });
});
