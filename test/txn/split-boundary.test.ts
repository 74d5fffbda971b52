// Where the split checker may cut, in the transaction layer's key layout: at a user key, so a key's
// lock (raw key) and every MVCC version (encodeKey(userKey, ts)) sort at or after the cut.
import { describe, expect, it } from 'vitest';
import { encodeBytes, encodeKey, TS_MAX } from '../../src/txn/codec.js';
import { userKeyBoundary } from '../../src/txn/split-boundary.js';
import { compareBytes } from '../../src/util/bytes.js';

const b = (s: string) => Buffer.from(s);

describe('userKeyBoundary', () => {
  it('cuts an MVCC key back to its user key, in the default and write families', () => {
    for (const userKey of ['k', 'exactly8', 'a longer user key of many groups']) {
      for (const ts of [0n, 42n, TS_MAX]) {
        const key = encodeKey(b(userKey), ts);
        expect(userKeyBoundary('default', key)).toEqual(b(userKey));
        expect(userKeyBoundary('write', key)).toEqual(b(userKey));
        // Every version and the lock of the key are on the right of the cut.
        expect(compareBytes(key, b(userKey))).toBeGreaterThan(0);
      }
    }
  });

  it('keeps a lock key (the raw user key) and raw data as they are', () => {
    expect(userKeyBoundary('lock', b('k1'))).toEqual(b('k1'));
    // A lock key that happens to read as memcomparable is still a raw user key.
    const lookalike = encodeKey(b('x'), 7n);
    expect(userKeyBoundary('lock', lookalike)).toEqual(lookalike);
    expect(userKeyBoundary('default', b('k100'))).toEqual(b('k100'));
    expect(userKeyBoundary('default', b('raw key of 17 byt'))).toEqual(b('raw key of 17 byt'));
    // Memcomparable without a timestamp is not an MVCC key.
    expect(userKeyBoundary('default', encodeBytes(b('abc')))).toEqual(encodeBytes(b('abc')));
  });
});
