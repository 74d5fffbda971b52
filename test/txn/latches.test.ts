import { describe, expect, it } from 'vitest';
import { encodeKey } from '../../src/txn/codec.js';
import { TxnErrorCode } from '../../src/txn/errors.js';
import { Latches, requireModifiesLatched } from '../../src/txn/latches.js';
import { k, lockKey, rng, testSeed } from './helpers.js';

const flush = async (turns = 5) => {
  for (let i = 0; i < turns; i++) await new Promise<void>((resolve) => setImmediate(resolve));
};

describe('Latches', () => {
  it('are exclusive: a second acquire waits until release (TinyKV TestAcquireLatches)', async () => {
    const latches = new Latches();
    const first = await latches.acquire([k(1), k(2)]);
    let secondHeld = false;
    const second = latches.acquire([k(2), k(3)]).then((g) => ((secondHeld = true), g));
    await flush();
    expect(secondHeld).toBe(false);
    expect(latches.waitingCount).toBe(1);
    first.release();
    (await second).release();
    expect(secondHeld).toBe(true);
    expect(latches.slotCount).toBe(0);
    expect(latches.waitingCount).toBe(0);
  });

  it('let disjoint key sets proceed together and accept duplicate or empty key lists', async () => {
    const latches = new Latches();
    const a = await latches.acquire([k(1), k(1)]);
    const b = await latches.acquire([k(2)]);
    const none = await latches.acquire([]);
    expect(latches.slotCount).toBe(2);
    a.release();
    b.release();
    none.release();
    expect(latches.slotCount).toBe(0);
  });

  it('wake waiters in FIFO order', async () => {
    const latches = new Latches();
    const holder = await latches.acquire([k(1)]);
    const order: number[] = [];
    const waiters = [0, 1, 2, 3].map((i) =>
      latches.acquire([k(1)]).then((guard) => {
        order.push(i);
        guard.release();
      }),
    );
    holder.release();
    await Promise.all(waiters);
    expect(order).toEqual([0, 1, 2, 3]);
  });

  it('do not let a later command overtake an earlier one that waits on an overlapping key', async () => {
    const latches = new Latches();
    const holder = await latches.acquire([k(1)]);
    const order: string[] = [];
    // A waits on 1 and wants 2; B wants only 2 and arrives after A: B must wait for A.
    const a = latches.acquire([k(1), k(2)]).then((g) => (order.push('a'), g.release()));
    const b = latches.acquire([k(2)]).then((g) => (order.push('b'), g.release()));
    await flush();
    expect(order).toEqual([]);
    holder.release();
    await Promise.all([a, b]);
    expect(order).toEqual(['a', 'b']);
  });

  it('throw a retryable LatchQueueFull beyond the waiting bound', async () => {
    const latches = new Latches({ maxWaitingCommands: 2 });
    const holder = await latches.acquire([k(1)]);
    const waiting = [latches.acquire([k(1)]), latches.acquire([k(1)])];
    await expect(latches.acquire([k(1)])).rejects.toMatchObject({ code: TxnErrorCode.LatchQueueFull, retryable: true });
    // A command that does not have to wait is still admitted.
    (await latches.acquire([k(9)])).release();
    holder.release();
    for (const w of waiting) (await w).release();
    expect(latches.slotCount).toBe(0);
  });

  it('refuse a double release', async () => {
    const latches = new Latches();
    const guard = await latches.acquire([k(1)]);
    guard.release();
    expect(() => guard.release()).toThrow(/twice/);
  });

  it('never let two holders share a key, and never deadlock, under random load', async () => {
    const seed = testSeed('latches random load');
    const random = rng(seed);
    const latches = new Latches();
    const held = new Set<number>();
    let completed = 0;
    const workers = Array.from({ length: 40 }, async () => {
      for (let round = 0; round < 25; round++) {
        const keys = Array.from({ length: 1 + Math.floor(random() * 4) }, () => Math.floor(random() * 8));
        const guard = await latches.acquire(keys.map((key) => k(key)));
        const unique = [...new Set(keys)];
        for (const key of unique) {
          expect(held.has(key), `seed ${seed}: key ${key} held twice`).toBe(false);
          held.add(key);
        }
        for (let i = Math.floor(random() * 3); i > 0; i--) await Promise.resolve();
        if (random() < 0.3) await new Promise<void>((resolve) => setImmediate(resolve));
        for (const key of unique) held.delete(key);
        guard.release();
        completed++;
      }
    });
    await Promise.all(workers);
    expect(completed).toBe(40 * 25);
    expect(latches.slotCount).toBe(0);
  });
});

describe('requireModifiesLatched', () => {
  it('accepts modifies of latched keys in every CF and rejects others', () => {
    const latched = [k(1), k(2, 3)];
    expect(() =>
      requireModifiesLatched(latched, [
        { type: 'put', cf: 'lock', key: lockKey(k(1)), value: k(0) },
        { type: 'delete', cf: 'default', key: encodeKey(k(2, 3), 5n) },
        { type: 'put', cf: 'write', key: encodeKey(k(1), 9n), value: k(0) },
      ]),
    ).not.toThrow();
    expect(() => requireModifiesLatched(latched, [{ type: 'put', cf: 'write', key: encodeKey(k(2), 9n), value: k(0) }])).toThrow(
      /outside the latched keys/,
    );
    expect(() => requireModifiesLatched(latched, [{ type: 'delete', cf: 'lock', key: lockKey(k(3)) }])).toThrow(/outside/);
  });
});
