/**
 * Seeded simulation of 3- and 5-node clusters under drops, delays,
 * reordering, duplicates, partitions, crash-restarts, compaction/snapshots,
 * conf changes, leader transfers and ReadIndex, with safety checkers after
 * every step and a liveness phase at the end of each run.
 *
 *   RAFT_SIM_SEEDS=n    number of seeds (default 520)
 *   RAFT_SIM_BASE=b     first seed (default 1)
 *   RAFT_SIM_SEED=s     replay one seed (with RAFT_SIM_TRACE=1 for a message trace)
 */
import { describe, expect, it } from 'vitest';
import type { SimStats } from './sim/cluster.js';
import { runSeed } from './sim/run.js';

const single = process.env.RAFT_SIM_SEED;
const count = Number(process.env.RAFT_SIM_SEEDS ?? 520);
const base = Number(process.env.RAFT_SIM_BASE ?? 1);
const trace = process.env.RAFT_SIM_TRACE === '1';
const CHUNK = 65;

const totals: SimStats & { runs: number; checks: number; size3: number; size5: number } = {
  runs: 0,
  checks: 0,
  size3: 0,
  size5: 0,
  rounds: 0,
  delivered: 0,
  dropped: 0,
  proposals: 0,
  committed: 0,
  crashes: 0,
  snapshotsSent: 0,
  confChanges: 0,
  transfers: 0,
  readsServed: 0,
  leadersElected: 0,
};

function run(seed: number): void {
  const r = runSeed(seed, { trace });
  totals.runs++;
  totals.checks += r.checks;
  if (r.size === 3) totals.size3++;
  else totals.size5++;
  for (const k of Object.keys(r.stats) as (keyof SimStats)[]) totals[k] += r.stats[k];
}

describe('raft simulation', () => {
  if (single !== undefined) {
    it(`replays seed ${single}`, () => {
      run(Number(single));
      expect(totals.runs).toBe(1);
    });
    return;
  }

  console.log(`raft simulation: ${count} seeds from base seed ${base} (override with RAFT_SIM_BASE / RAFT_SIM_SEEDS)`);
  for (let start = base; start < base + count; start += CHUNK) {
    const end = Math.min(start + CHUNK, base + count);
    it(`seeds ${start}..${end - 1} keep every safety property and converge after heal`, () => {
      for (let seed = start; seed < end; seed++) run(seed);
      expect(totals.runs).toBe(end - base);
    });
  }

  it('exercised every fault and feature (the runs were not vacuous)', () => {
    console.log('raft simulation totals', totals);
    expect(totals.runs).toBe(count);
    if (count < 100) return;
    expect(totals.size3).toBeGreaterThan(0);
    expect(totals.size5).toBeGreaterThan(0);
    expect(totals.leadersElected).toBeGreaterThan(count);
    expect(totals.committed).toBeGreaterThan(count * 20);
    expect(totals.crashes).toBeGreaterThan(0);
    expect(totals.dropped).toBeGreaterThan(0);
    expect(totals.snapshotsSent).toBeGreaterThan(0);
    expect(totals.confChanges).toBeGreaterThan(0);
    expect(totals.transfers).toBeGreaterThan(0);
    expect(totals.readsServed).toBeGreaterThan(0);
  });
});
