// Network faults for the threaded in-process cluster (TinyKV's filters): partitions, isolation,
// seeded random drops and delays, applied by each store's transport to the Raft messages it sends.
import type { RaftMessage } from '../../src/proto/raft_serverpb.js';
import { SeededRandom } from '../../src/raft/index.js';
import type { ClusterNodeSeams } from '../../src/server/cluster-node.js';

/** True drops a message sent from store `from` to store `to`. */
export type LinkFilter = (from: number, to: number, message: RaftMessage) => boolean;

/**
 * The seed of a randomized test: SCENARIO_SEED when set, else `fallback`; printed so a failure
 * can be rerun with it. Thread timing still varies between runs, so a seed fixes the faults'
 * choices, not the interleaving.
 */
export function scenarioSeed(name: string, fallback: number): number {
  const fromEnv = process.env.SCENARIO_SEED;
  const seed = fromEnv ? Number(fromEnv) : fallback;
  console.log(`[scenario] ${name}: seed ${seed} (rerun with SCENARIO_SEED=${seed})`);
  return seed;
}

export class NetworkFaults {
  readonly rng: SeededRandom;
  private filters: LinkFilter[] = [];
  private delay: { readonly probability: number; readonly maxMs: number } | undefined;
  /** Messages dropped and delayed so far (a test can check its faults really happened). */
  dropped = 0;
  delayed = 0;

  constructor(readonly seed: number) {
    this.rng = new SeededRandom(seed);
  }

  /** Pass to InProcessCluster.start so every store's transport consults these faults. */
  readonly seams: ClusterNodeSeams = {
    dropMessage: (message) => {
      const from = message.fromPeer?.storeId ?? 0;
      const to = message.toPeer?.storeId ?? 0;
      const drop = this.filters.some((filter) => filter(from, to, message));
      if (drop) this.dropped++;
      return drop;
    },
    delayMessageMs: () => {
      if (!this.delay || !this.rng.chance(this.delay.probability)) return 0;
      this.delayed++;
      return this.rng.between(1, this.delay.maxMs);
    },
  };

  addFilter(filter: LinkFilter): void {
    this.filters.push(filter);
  }

  /** Cuts every link between the two groups (links inside a group keep working). */
  partition(a: readonly number[], b: readonly number[]): void {
    const inA = new Set(a);
    const inB = new Set(b);
    this.addFilter((from, to) => (inA.has(from) && inB.has(to)) || (inB.has(from) && inA.has(to)));
  }

  /** Cuts a store off from everyone. */
  isolate(storeId: number): void {
    this.addFilter((from, to) => from === storeId || to === storeId);
  }

  /** Splits the stores into two random groups (one may be empty, as in TinyKV's partitioner). */
  partitionRandomly(storeIds: readonly number[]): [number[], number[]] {
    const a: number[] = [];
    const b: number[] = [];
    for (const id of storeIds) (this.rng.chance(0.5) ? a : b).push(id);
    this.partition(a, b);
    return [a, b];
  }

  /** Drops each message with this probability (TinyKV's DropFilter uses 0.1). */
  dropRandomly(probability: number): void {
    this.addFilter(() => this.rng.chance(probability));
  }

  /** Holds each message back 1..maxMs with this probability, which also reorders them. */
  delayRandomly(probability: number, maxMs: number): void {
    this.delay = { probability, maxMs };
  }

  /** Heals the network: no drops, no delays. */
  clear(): void {
    this.filters = [];
    this.delay = undefined;
  }
}
