// The leader lease's rules (peer/leader-lease.ts) and the table that carries it to the main
// thread (batch/lease-table.ts), on their own.
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { LeaderLease } from '../../src/raftstore/peer/leader-lease.js';
import { LeaseSlots, LeaseTable } from '../../src/raftstore/batch/lease-table.js';
import { DEFAULT_RAFTSTORE_CONFIG, leaderLeaseLimitMs, leaderLeaseMsOf } from '../../src/raftstore/config.js';

describe('LeaderLease', () => {
  it('holds from a confirmed round for the lease length, only for its term', () => {
    const lease = new LeaderLease(800);
    expect(lease.covers(0, 100, false)).toBe(false);
    lease.onLeader(3, 10);
    // Confirmed before the peer applied its term's first entry: taken, but not served from yet.
    lease.renew(3, 1_000, 10, false);
    expect(lease.covers(1_000, 9, false)).toBe(false);
    expect(lease.covers(1_000, 10, false)).toBe(true);
    expect(lease.covers(1_799, 10, false)).toBe(true);
    expect(lease.covers(1_800, 10, false)).toBe(false);
    // A round of an older term renews nothing; a later round extends, an earlier one never shortens.
    lease.renew(2, 1_500, 10, false);
    expect(lease.covers(1_900, 10, false)).toBe(false);
    lease.renew(3, 1_500, 10, false);
    lease.renew(3, 1_200, 10, false);
    expect(lease.covers(2_299, 10, false)).toBe(true);
    expect(lease.covers(2_300, 10, false)).toBe(false);
  });

  it('ends on step-down and on a leader transfer, and is not renewed during one', () => {
    const lease = new LeaderLease(800);
    lease.onLeader(1, 5);
    lease.renew(1, 0, 5, false);
    expect(lease.covers(10, 5, true)).toBe(false);
    lease.expire();
    expect(lease.covers(10, 5, false)).toBe(false);
    lease.renew(1, 20, 5, true);
    expect(lease.covers(30, 5, false)).toBe(false);
    lease.renew(1, 20, 5, false);
    expect(lease.covers(30, 5, false)).toBe(true);
    lease.onStepDown();
    expect(lease.covers(30, 5, false)).toBe(false);
    expect(lease.publishableUntilMs(5, false)).toBe(0);
  });

  it('is not renewed while a split or conf change it proposed has not applied here, but the old lease still serves', () => {
    const lease = new LeaderLease(800);
    lease.onLeader(1, 5);
    lease.renew(1, 0, 5, false);
    lease.hold(9);
    lease.renew(1, 500, 8, false);
    expect(lease.covers(799, 8, false)).toBe(true);
    expect(lease.covers(800, 8, false)).toBe(false);
    lease.renew(1, 600, 9, false);
    expect(lease.covers(1_399, 9, false)).toBe(true);
  });

  it('asks for renewal once half the lease is gone; a zero lease never holds', () => {
    const lease = new LeaderLease(800);
    expect(lease.wantsRenewal(0)).toBe(false);
    lease.onLeader(1, 1);
    expect(lease.wantsRenewal(0)).toBe(true);
    lease.renew(1, 0, 1, false);
    expect(lease.wantsRenewal(399)).toBe(false);
    expect(lease.wantsRenewal(401)).toBe(true);
    const off = new LeaderLease(0);
    off.onLeader(1, 1);
    off.renew(1, 0, 1, false);
    expect(off.covers(0, 1, false)).toBe(false);
    expect(off.wantsRenewal(0)).toBe(false);
  });

  it('defaults to two ticks short of an election timeout, inside the limit a follower keeps', () => {
    expect(leaderLeaseMsOf(DEFAULT_RAFTSTORE_CONFIG)).toBe(800);
    expect(leaderLeaseMsOf(DEFAULT_RAFTSTORE_CONFIG)).toBeLessThan(leaderLeaseLimitMs(DEFAULT_RAFTSTORE_CONFIG));
    expect(leaderLeaseMsOf({ ...DEFAULT_RAFTSTORE_CONFIG, maxLeaderLeaseMs: 0 })).toBe(0);
  });
});

describe('LeaseTable and LeaseSlots', () => {
  const epoch = { version: 1, confVer: 1 };

  it('a reader holding the published generation sees the lease until it ends or is revoked', () => {
    const table = LeaseTable.create(4);
    const slots = new LeaseSlots(table);
    slots.publish(7, 2, epoch, 1_000);
    const at = slots.slotOf(7)!;
    expect(table.holds(at.slot, at.generation, 999.5)).toBe(true);
    expect(table.holds(at.slot, at.generation, 1_000)).toBe(false);
    slots.revoke(7);
    expect(table.holds(at.slot, at.generation, 0)).toBe(false);
    slots.publish(7, 2, epoch, 2_000);
    expect(slots.slotOf(7)).toEqual(at);
    expect(table.holds(at.slot, at.generation, 1_500)).toBe(true);
  });

  it('a new term or epoch, or a freed and reused slot, gets a generation no old report matches', () => {
    const table = LeaseTable.create(1);
    const slots = new LeaseSlots(table);
    slots.publish(7, 2, epoch, 1_000);
    const first = slots.slotOf(7)!;
    slots.publish(7, 2, { version: 2, confVer: 1 }, 1_000);
    const split = slots.slotOf(7)!;
    expect(split.slot).toBe(first.slot);
    expect(split.generation).not.toBe(first.generation);
    expect(table.holds(first.slot, first.generation, 0)).toBe(false);
    expect(table.holds(split.slot, split.generation, 0)).toBe(true);
    slots.publish(7, 3, { version: 2, confVer: 1 }, 1_000);
    expect(table.holds(split.slot, split.generation, 0)).toBe(false);
    slots.release(7);
    // One slot only: another region takes it, under a generation the old reports do not know.
    slots.publish(9, 1, epoch, 5_000);
    const reused = slots.slotOf(9)!;
    expect(reused.slot).toBe(first.slot);
    for (const old of [first, split]) expect(table.holds(old.slot, old.generation, 0)).toBe(false);
    // The table is full: a second leader publishes nothing (its reads take the ReadIndex path).
    slots.publish(11, 1, epoch, 5_000);
    expect(slots.slotOf(11)).toBeUndefined();
  });

  it('rejects a slot outside the table', () => {
    const table = LeaseTable.create(2);
    expect(() => table.holds(2, 1, 0)).toThrow(RangeError);
    expect(() => table.write(-1, 1, 0)).toThrow(RangeError);
  });

  it('a lease another thread ends is not honoured once that thread has ended it', async () => {
    const table = LeaseTable.create(2);
    table.write(1, 5, 10_000);
    expect(table.holds(1, 5, 0)).toBe(true);
    // The worker ends the lease, then bumps the generation; the main thread sees both at once after it.
    const code = `
      const { workerData, parentPort } = require('node:worker_threads');
      const words = new BigInt64Array(workerData);
      Atomics.store(words, 3, 0n);
      Atomics.store(words, 2, 6n);
      parentPort.postMessage('done');
    `;
    const worker = new Worker(code, { eval: true, workerData: table.buffer });
    await new Promise((resolve) => worker.once('message', resolve));
    await worker.terminate();
    expect(table.holds(1, 5, 0)).toBe(false);
    expect(table.holds(1, 6, 0)).toBe(false);
  });
});
