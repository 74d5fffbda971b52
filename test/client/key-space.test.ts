// Which stored key a client call routes by, and where a transactional scan resumes after a region
// whose end key is a stored-key boundary (an encoded user key, or a cut from raw data).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { firstUserKeyAtOrAfter, keySpaceOf, routingKey } from '../../src/client/key-space.js';
import { encodeBytes, encodeKey } from '../../src/txn/codec.js';

const b = (s: string) => Buffer.from(s);

describe('routing keys', () => {
  it('routes raw calls by the raw key and transactional calls by the encoded user key', () => {
    expect(keySpaceOf('rawScan')).toBe('raw');
    for (const method of ['kvGet', 'kvScan', 'kvPrewrite', 'kvCommit', 'kvBatchRollback', 'kvCheckTxnStatus', 'kvResolveLock'] as const) {
      expect(keySpaceOf(method)).toBe('txn');
    }
    expect(routingKey('raw', b('k1'))).toEqual(b('k1'));
    expect(routingKey('txn', b('k1'))).toEqual(encodeBytes(b('k1')));
  });
});

describe('firstUserKeyAtOrAfter', () => {
  it('decodes an encoded user key', () => {
    for (const key of ['', 'k', 'exactly8', 'a key of several groups']) expect(firstUserKeyAtOrAfter(encodeBytes(b(key)))).toEqual(b(key));
  });

  it('resumes after the user key of an MVCC key, and at a raw boundary that is not an encoding', () => {
    // encodeKey(x, ts) sorts after x's lock and before x ++ 0x00's.
    expect(firstUserKeyAtOrAfter(encodeKey(b('user0001-a'), 7n))).toEqual(b('user0001-a\0'));
    expect(firstUserKeyAtOrAfter(b('m'))).toEqual(b('m'));
    expect(firstUserKeyAtOrAfter(b('k050'))).toEqual(b('k050'));
    // A first group with a bad marker: the smallest key whose group sorts above it.
    expect(firstUserKeyAtOrAfter(Buffer.from([1, 0, 0, 0, 0, 0, 0, 0, 0xf0]))).toEqual(Buffer.from([1]));
    // Non-zero padding: no shorter key reaches it, the 8 bytes themselves (a full group) do.
    expect(firstUserKeyAtOrAfter(Buffer.from([1, 0, 0, 0, 0, 0, 0, 7, 0xf9]))).toEqual(Buffer.from([1, 0, 0, 0, 0, 0, 0, 7]));
    expect(firstUserKeyAtOrAfter(Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe]))).toEqual(Buffer.alloc(8, 0xff));
  });

  it('is exactly the point where encodings reach the bound: encodeBytes(v) >= bound iff v >= answer, property', () => {
    // Bytes near the encoding's markers and padding make the interesting boundaries likely.
    const byte = fc.oneof(fc.constantFrom(0, 1, 0x7f, 0xf7, 0xf8, 0xfe, 0xff), fc.integer({ min: 0, max: 255 }));
    const bytes = (maxLength: number) => fc.array(byte, { maxLength }).map((a) => Buffer.from(a));
    const bound = fc.oneof(
      bytes(20),
      fc.tuple(bytes(12), bytes(9)).map(([key, tail]) => Buffer.concat([encodeBytes(key), tail])),
      fc.tuple(bytes(12), fc.integer({ min: 1, max: 20 })).map(([key, cut]) => encodeBytes(key).subarray(0, cut)),
    );
    fc.assert(
      fc.property(bound, fc.array(bytes(18), { minLength: 1, maxLength: 8 }), (boundKey, probes) => {
        const answer = firstUserKeyAtOrAfter(boundKey);
        expect(Buffer.compare(encodeBytes(answer), boundKey)).toBeGreaterThanOrEqual(0);
        // Probes near the answer and the bound, besides random ones.
        const near = [answer, Buffer.concat([answer, Buffer.from([0])]), answer.subarray(0, -1), boundKey, boundKey.subarray(0, 8)];
        for (const probe of [...probes, ...near]) {
          const reaches = Buffer.compare(encodeBytes(probe), boundKey) >= 0;
          expect(reaches, `probe ${probe.toString('hex')} bound ${boundKey.toString('hex')}`).toBe(Buffer.compare(probe, answer) >= 0);
        }
      }),
      { numRuns: 2000 },
    );
  });
});
