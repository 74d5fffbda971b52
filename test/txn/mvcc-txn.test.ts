// The MVCC layer (TinyKV project 4A): buffered modifies and snapshot reads of one command.
import { describe, expect, it } from 'vitest';
import { encodeKey } from '../../src/txn/codec.js';
import { encodeLock } from '../../src/txn/lock.js';
import { MvccTxn } from '../../src/txn/mvcc-txn.js';
import { WriteKind } from '../../src/txn/write.js';
import { committed, Harness, k, lockKey, writeBytes } from './helpers.js';

async function txnOver(startTs: bigint, init: Parameters<Harness['init']>[0] = []) {
  const h = new Harness();
  await h.init(init);
  const reader = await h.storage.reader(undefined);
  return { txn: new MvccTxn(reader, startTs), close: () => reader.close() };
}

describe('buffered modifies', () => {
  it('putLock writes the encoded user key (encodeBytes) in the lock CF', async () => {
    const { txn, close } = await txnOver(42n);
    const lock = { primary: k(16), ts: 100n, ttl: 100_000n, kind: WriteKind.Rollback };
    txn.putLock(k(1), lock);
    expect(txn.modifies).toEqual([{ type: 'put', cf: 'lock', key: lockKey(k(1)), value: encodeLock(lock) }]);
    close();
  });

  it('putWrite writes EncodeKey(key, ts) in the write CF', async () => {
    const { txn, close } = await txnOver(0n);
    txn.putWrite(k(16, 240), 0n, { startTs: 42n, kind: WriteKind.Delete });
    expect(txn.modifies).toEqual([{ type: 'put', cf: 'write', key: encodeKey(k(16, 240), 0n), value: writeBytes(42n, WriteKind.Delete) }]);
    close();
  });

  it('putValue / deleteValue use EncodeKey(key, startTs) in the default CF; deleteLock the encoded user key', async () => {
    const { txn, close } = await txnOver(453325345n);
    txn.putValue(k(1, 1, 2, 3, 5, 8, 13), k(21));
    txn.deleteValue(k(2));
    txn.deleteLock(k(3));
    expect(txn.modifies).toEqual([
      { type: 'put', cf: 'default', key: encodeKey(k(1, 1, 2, 3, 5, 8, 13), 453325345n), value: k(21) },
      { type: 'delete', cf: 'default', key: encodeKey(k(2), 453325345n) },
      { type: 'delete', cf: 'lock', key: lockKey(k(3)) },
    ]);
    close();
  });

  it('getLock parses stored lock bytes back to an equal lock', async () => {
    const lock = { primary: k(16), ts: 100n, ttl: 100_000n, kind: WriteKind.Rollback };
    const { txn, close } = await txnOver(42n, [['lock', lockKey(k(1)), encodeLock(lock)]]);
    expect(txn.getLock(k(1))).toEqual(lock);
    expect(txn.getLock(k(2))).toBeUndefined();
    close();
  });
});

describe('getValue at startTs', () => {
  const single = committed(k(16, 240), k(42), 40n, 42n);
  const twoEntries = [...single, ...committed(k(16, 240), k(43), 50n, 52n)];

  const cases: Array<[string, bigint, Parameters<Harness['init']>[0], Buffer, Buffer | undefined]> = [
    ['simple: value@40 committed@42 read at 43', 43n, single, k(16, 240), k(42)],
    ['missing: another key', 43n, single, k(16, 241), undefined],
    ['too early: read at 41', 41n, single, k(16, 240), undefined],
    ['at the commit ts itself', 42n, single, k(16, 240), k(42)],
    ['overwritten: read at 52 sees the second', 52n, twoEntries, k(16, 240), k(43)],
    ['not overwritten: read at 50 sees the first', 50n, twoEntries, k(16, 240), k(42)],
    [
      'deleted: read at 500 sees nothing',
      500n,
      [...single, ['write', encodeKey(k(16, 240), 52n), writeBytes(50n, WriteKind.Delete)]],
      k(16, 240),
      undefined,
    ],
    [
      'not deleted: read at 45 sees the old value',
      45n,
      [...single, ['write', encodeKey(k(16, 240), 52n), writeBytes(50n, WriteKind.Delete)]],
      k(16, 240),
      k(42),
    ],
    [
      'rollback records are skipped',
      500n,
      [...single, ['write', encodeKey(k(16, 240), 60n), writeBytes(60n, WriteKind.Rollback)]],
      k(16, 240),
      k(42),
    ],
    ['a longer key with the same prefix is a different key', 43n, committed(k(16, 240, 0), k(7), 40n, 42n), k(16, 240), undefined],
  ];
  for (const [name, ts, init, key, want] of cases) {
    it(name, async () => {
      const { txn, close } = await txnOver(ts, init);
      expect(txn.getValue(key)).toEqual(want);
      close();
    });
  }
});

describe('currentWrite and mostRecentWrite', () => {
  const twoEntries = [...committed(k(16, 240), k(42), 40n, 42n), ...committed(k(16, 240), k(43), 50n, 52n)];

  it('currentWrite finds the record whose start ts is the txn start ts', async () => {
    for (const [startTs, want] of [
      [50n, { write: { startTs: 50n, kind: WriteKind.Put }, commitTs: 52n }],
      [40n, { write: { startTs: 40n, kind: WriteKind.Put }, commitTs: 42n }],
      [41n, undefined],
    ] as const) {
      const { txn, close } = await txnOver(startTs, twoEntries);
      expect(txn.currentWrite(k(16, 240))).toEqual(want);
      close();
    }
  });

  it('currentWrite finds a rollback record at the start ts', async () => {
    const { txn, close } = await txnOver(60n, [['write', encodeKey(k(1), 60n), writeBytes(60n, WriteKind.Rollback)]]);
    expect(txn.currentWrite(k(1))).toEqual({ write: { startTs: 60n, kind: WriteKind.Rollback }, commitTs: 60n });
    close();
  });

  it('mostRecentWrite returns the newest record at any ts, else nothing', async () => {
    let t = await txnOver(1n);
    expect(t.txn.mostRecentWrite(k(16, 240))).toBeUndefined();
    t.close();
    t = await txnOver(1n, twoEntries);
    expect(t.txn.mostRecentWrite(k(16, 240))).toEqual({ write: { startTs: 50n, kind: WriteKind.Put }, commitTs: 52n });
    expect(t.txn.mostRecentWrite(k(16, 241))).toBeUndefined();
    t.close();
  });

  it('closes every iterator it opens (the reader closes cleanly)', async () => {
    const { txn, close } = await txnOver(50n, twoEntries);
    txn.getValue(k(16, 240));
    txn.currentWrite(k(16, 240));
    txn.mostRecentWrite(k(16, 240));
    expect(close).not.toThrow();
  });
});
