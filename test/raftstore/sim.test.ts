// Seeded chaos on an in-process cluster: partitions, message drops, crash-restarts, stalled pollers
// and clock jumps (against leader leases), while clients
// read and write (sim-workload.ts). Checkers: at most one leader per term, every key's history is
// linearizable (so no acknowledged write is lost and no stale read is served), and after healing
// every store holds the same data.
// Replay one seed with RAFTSTORE_SIM_SEED=n; run more with RAFTSTORE_SIM_SEEDS=n (from RAFTSTORE_SIM_BASE);
// scripts/raftstore-soak.mjs runs thousands.
import { describe, expect, it } from 'vitest';
import { SeededRandom } from '../../src/raft/index.js';
import { SimCluster } from './cluster.js';
import { SimWorkload } from './sim-workload.js';
import { defined } from '../../src/util/assert.js';

const KEYS = ['x', 'y', 'z'];
const CLIENTS = 3;
const CHAOS_STEPS = 300;
const HEAL_STEPS = 150;
const OP_TIMEOUT_STEPS = 60;

async function runSeed(seed: number): Promise<void> {
  const rng = new SeededRandom(seed);
  const cluster = new SimCluster({ stores: 3, seed, config: { raftLogGcCountLimit: 15 } });
  await cluster.start();

  async function injectFault(): Promise<void> {
    const roll = rng.float();
    if (roll < 0.06) {
      // Isolating a node (often the leader) makes deposed leaders that still believe they lead.
      cluster.clearFilters();
      cluster.isolate(rng.pick([cluster.leaderStore() ?? 1, 1, 2, 3]));
    } else if (roll < 0.08) {
      cluster.clearFilters();
      cluster.dropRandomly(0.1);
    } else if (roll < 0.11) {
      cluster.clearFilters();
    } else if (roll < 0.125 && cluster.down.size === 0) {
      await cluster.crash(rng.between(1, 3));
    } else if (roll < 0.16 && cluster.down.size > 0) {
      await cluster.restart(defined([...cluster.down][0], '[...cluster.down][0]'));
    } else if (roll < 0.175 && cluster.paused.size === 0) {
      // A stalled poller (often the leader's): its main thread keeps serving lease reads, which
      // must stop before the others can elect a leader and take writes.
      const id = rng.pick([cluster.leaderStore() ?? 1, 1, 2, 3]);
      if (!cluster.down.has(id)) cluster.pause(id);
    } else if (roll < 0.2 && cluster.paused.size > 0) {
      cluster.resume(defined([...cluster.paused][0], 'a paused store'));
    } else if (roll < 0.205) {
      // Every thread stalled at once (a VM pause): the clock jumps past every lease.
      cluster.advanceClock(2_000);
    }
  }

  const workload = new SimWorkload(cluster, rng, {
    keys: KEYS,
    clients: CLIENTS,
    opTimeoutSteps: OP_TIMEOUT_STEPS,
    afterStep: () => cluster.checkOneLeaderPerTerm(),
  });
  for (let i = 0; i < CHAOS_STEPS; i++) {
    await injectFault();
    await workload.tick();
  }
  // Liveness: heal everything; operations in flight must finish.
  workload.endChaos();
  cluster.clearFilters();
  for (const id of [...cluster.paused]) cluster.resume(id);
  for (const id of [...cluster.down]) await cluster.restart(id);
  await workload.finish(seed, HEAL_STEPS);

  workload.check(seed);
  for (const key of KEYS) {
    const values = [1, 2, 3].map((id) => cluster.localValue(id, key));
    expect(new Set(values).size, `seed ${seed}: stores disagree on ${key}: ${values.join(',')}`).toBe(1);
  }
}

describe('raftstore chaos simulation', () => {
  const single = process.env.RAFTSTORE_SIM_SEED;
  const count = Number(process.env.RAFTSTORE_SIM_SEEDS ?? 60);
  const base = single ? Number(single) : Number(process.env.RAFTSTORE_SIM_BASE ?? 1000 + (Math.floor(Date.now() / 86_400_000) % 1000));
  const seeds = single ? [base] : Array.from({ length: count }, (_, i) => base + i);
  console.log(`[raftstore sim] seeds ${seeds[0]}..${seeds.at(-1)} (replay one with RAFTSTORE_SIM_SEED=n)`);

  it.each(seeds)('seed %i stays linearizable and converges', async (seed) => {
    await runSeed(seed);
  });
});
