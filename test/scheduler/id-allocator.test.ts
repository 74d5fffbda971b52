import { describe, expect, it } from 'vitest';
import { IdAllocator, type IdBoundPersistence } from '../../src/scheduler/id-allocator.js';

function memoryBound(): IdBoundPersistence & { bound: number; saves: number[] } {
  const state = {
    bound: 0,
    saves: [] as number[],
    load: () => state.bound,
    save: async (bound: number) => {
      await new Promise((resolve) => setTimeout(resolve, 1));
      state.bound = bound;
      state.saves.push(bound);
    },
  };
  return state;
}

describe('IdAllocator', () => {
  it('hands out 1, 2, 3... and saves the bound once per step', async () => {
    const persistence = memoryBound();
    const ids = IdAllocator.open(persistence, 10);
    const got: number[] = [];
    for (let i = 0; i < 25; i++) got.push(await ids.alloc());
    expect(got).toEqual(Array.from({ length: 25 }, (_, i) => i + 1));
    expect(persistence.saves).toEqual([10, 20, 30]);
  });

  it('never reuses an id across a restart', async () => {
    const persistence = memoryBound();
    const before = IdAllocator.open(persistence, 10);
    const first = [await before.alloc(), await before.alloc(), await before.alloc()];
    const after = IdAllocator.open(persistence, 10); // "restart": only the durable bound survives
    const next = await after.alloc();
    expect(next).toBe(11);
    expect(first.every((id) => id < next)).toBe(true);
    expect(persistence.saves).toEqual([10, 20]);
  });

  it('gives unique, ascending ids to concurrent callers and batches', async () => {
    const ids = IdAllocator.open(memoryBound(), 7);
    const singles = Array.from({ length: 200 }, () => ids.alloc());
    const batches = Array.from({ length: 20 }, () => ids.allocMany(5));
    const all = [...(await Promise.all(singles)), ...(await Promise.all(batches)).flat()];
    expect(new Set(all).size).toBe(300);
    expect(Math.max(...all)).toBe(300);
    expect(await Promise.all(singles)).toEqual([...(await Promise.all(singles))].sort((a, b) => a - b));
  });

  it('hands out nothing when the bound cannot be saved, and rejects bad counts', async () => {
    let fail = true;
    const ids = IdAllocator.open({ load: () => 0, save: async () => (fail ? Promise.reject(new Error('disk full')) : undefined) }, 10);
    await expect(ids.alloc()).rejects.toThrow('disk full');
    expect(ids.last).toBe(0);
    fail = false;
    expect(await ids.alloc()).toBe(1);
    await expect(ids.allocMany(0)).rejects.toThrow(RangeError);
  });
});
