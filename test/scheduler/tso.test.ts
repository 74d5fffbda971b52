import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/env/clock.js';
import { composeTs, MAX_LOGICAL, TimestampOracle, type TsoPersistence } from '../../src/scheduler/tso.js';
import { defined } from '../../src/util/assert.js';

function memoryPersistence(): TsoPersistence & { saved: number; saves: number } {
  const state = {
    saved: 0,
    saves: 0,
    load: () => state.saved,
    save: async (until: number) => {
      state.saved = until;
      state.saves++;
    },
  };
  return state;
}

describe('timestamp oracle', () => {
  it('hands out strictly increasing timestamps, the last of each batch', async () => {
    const clock = new ManualClock(1_000_000);
    const oracle = await TimestampOracle.start(clock, memoryPersistence());
    const a = await oracle.allocate(1);
    const b = await oracle.allocate(10);
    expect(b).toEqual({ physicalMs: a.physicalMs, logical: a.logical + 10 });
    clock.advance(5);
    const c = await oracle.allocate(1);
    expect(c).toEqual({ physicalMs: 1_000_005, logical: 1 });
    expect(composeTs(c)).toBe((1_000_005n << 18n) | 1n);
  });

  it('stays unique under many concurrent requests', async () => {
    const oracle = await TimestampOracle.start(new ManualClock(42), memoryPersistence());
    const all = await Promise.all(Array.from({ length: 500 }, () => oracle.allocate(3)));
    const ts = all.map(composeTs);
    expect(new Set(ts).size).toBe(500);
    const sorted = [...ts].sort((x, y) => (x < y ? -1 : 1));
    expect(ts).toEqual(sorted); // served in request order
  });

  it('moves physical ahead by one when the logical space of a millisecond runs out', async () => {
    const oracle = await TimestampOracle.start(new ManualClock(7_000), memoryPersistence());
    const batches = [];
    for (let used = 0; used < MAX_LOGICAL + 10_000; used += 10_000) batches.push(await oracle.allocate(10_000));
    expect(defined(batches[0], 'batches[0]').physicalMs).toBe(7_000);
    expect(batches.at(-1)!.physicalMs).toBe(7_001);
    for (let i = 1; i < batches.length; i++)
      expect(composeTs(defined(batches[i], 'batches[i]')) > composeTs(defined(batches[i - 1], 'batches[i - 1]'))).toBe(true);
  });

  it('never reissues a timestamp after a restart, even when the clock went backwards', async () => {
    const persistence = memoryPersistence();
    const clock = new ManualClock(50_000);
    const before = await TimestampOracle.start(clock, persistence);
    let last = 0n;
    for (let i = 0; i < 20; i++) {
      clock.advance(400); // crosses the 3 s save window several times
      last = composeTs(await before.allocate(1));
    }
    expect(persistence.saves).toBeGreaterThan(2);
    clock.set(10_000); // wall clock jumped back
    const after = await TimestampOracle.start(clock, persistence);
    expect(composeTs(await after.allocate(1)) > last).toBe(true);
  });

  it('rejects bad counts', async () => {
    const oracle = await TimestampOracle.start(new ManualClock(1), memoryPersistence());
    await expect(oracle.allocate(0)).rejects.toThrow(/tso count/);
    await expect(oracle.allocate(1e9)).rejects.toThrow(/tso count/);
    expect((await oracle.allocate(1)).logical).toBe(1);
  });
});
