/**
 * One simulation run per seed: a safety phase with every fault switched on,
 * then a liveness phase (heal everything; the cluster must elect a leader,
 * commit a marker entry and converge to identical state on every member).
 */
import { SeededRandom } from '../../../src/raft/rng.js';
import { SimCluster, type FaultProfile, type SimStats } from './cluster.js';

export interface RunOptions {
  /** Rounds (ticks) of the safety phase. */
  rounds?: number;
  /** Cluster size; by default 3 or 5 chosen by the seed. */
  size?: number;
  /** Record a readable trace (printed on failure). */
  trace?: boolean;
}

export interface RunResult {
  seed: number;
  size: number;
  profile: FaultProfile;
  stats: SimStats;
  checks: number;
  convergedAfterRounds: number;
}

export class SimFailure extends Error {
  constructor(
    readonly seed: number,
    cause: unknown,
    trace: string[],
  ) {
    const reason = cause instanceof Error ? `${cause.name}: ${cause.message}` : String(cause);
    const tail = trace.length > 0 ? `\nlast events:\n  ${trace.slice(-Number(process.env.TRACE_TAIL ?? 60)).join('\n  ')}` : '';
    super(
      `raft simulation failed for seed ${seed}: ${reason}\n` +
        `replay: RAFT_SIM_SEED=${seed} RAFT_SIM_TRACE=1 npx vitest run test/raft/sim.test.ts${tail}`,
    );
    this.name = 'SimFailure';
    if (cause instanceof Error && cause.stack) this.stack = `${this.message}\ncaused by ${cause.stack}`;
  }
}

export function profileFor(rng: SeededRandom): FaultProfile {
  const harsh = rng.chance(0.3);
  return {
    dropRate: rng.chance(0.2) ? 0 : rng.float() * (harsh ? 0.25 : 0.1),
    duplicateRate: rng.float() * 0.05,
    maxDelayTicks: rng.int(harsh ? 5 : 3),
    crashRate: rng.float() * (harsh ? 0.03 : 0.01),
    partitionRate: rng.float() * 0.03,
    compactRate: rng.float() * 0.05,
    proposeRate: 0.2 + rng.float() * 0.5,
    confChangeRate: rng.chance(0.5) ? rng.float() * 0.02 : 0,
    transferRate: rng.float() * 0.01,
    readRate: rng.float() * 0.1,
    snapshotUnavailableRate: rng.float() * 0.3,
    wireEncode: rng.chance(0.2),
    preVote: rng.chance(0.6),
    checkQuorum: rng.chance(0.6),
    maxInflightMsgs: rng.pick([1, 4, 256]),
    maxSizePerMsgBytes: rng.pick([1, 64, 1024 * 1024]),
  };
}

const LIVENESS_ROUNDS_MAX = 3000;

export function runSeed(seed: number, options: RunOptions = {}): RunResult {
  const rng = new SeededRandom(seed);
  const size = options.size ?? (rng.chance(0.5) ? 3 : 5);
  const profile = profileFor(rng);
  const cluster = new SimCluster(rng, size, profile, options.trace ?? false);
  const rounds = options.rounds ?? 300;
  try {
    for (let r = 0; r < rounds; r++) cluster.round();
    const convergedAfterRounds = liveness(cluster);
    return { seed, size, profile, stats: cluster.stats, checks: cluster.checkers.checks, convergedAfterRounds };
  } catch (err) {
    throw new SimFailure(seed, err, cluster.trace);
  }
}

/** Heal, then require a leader, a committed marker, and identical applied state on all members. */
function liveness(cluster: SimCluster): number {
  cluster.heal();
  const start = cluster.now;
  let markerIndex = 0;
  let members: number[] = [];
  for (let r = 0; r < LIVENESS_ROUNDS_MAX; r++) {
    cluster.round();
    const leader = cluster.leader();
    if (leader === undefined || leader.node === undefined) continue;
    const raft = leader.node.raft;
    if (markerIndex === 0 || raft.log.termOrUndefined(markerIndex) === undefined) {
      const at = raft.log.lastIndex() + 1;
      if (cluster.propose(leader, `marker@${cluster.now}`)) markerIndex = at;
      continue;
    }
    // Once the leader applied the marker, its configuration is final (no conf
    // change is proposed after heal); replicas outside it can be retired.
    if (leader.applied.index < markerIndex) continue;
    members = [...raft.tracker.ids()];
    cluster.retire(members);
    if (converged(cluster, members, markerIndex)) return cluster.now - start;
  }
  const state = [...cluster.nodes.values()].map((n) => {
    const st = n.node?.status();
    return `${n.id}:${n.destroyed ? 'destroyed' : st ? `${st.state} t${st.term} c${st.commit} a${n.applied.index}` : 'down'}`;
  });
  throw new Error(
    `liveness: no convergence within ${LIVENESS_ROUNDS_MAX} rounds after heal ` +
      `(marker ${markerIndex}, members [${members.join(',')}], nodes ${state.join(' ')})`,
  );
}

function converged(cluster: SimCluster, members: number[], markerIndex: number): boolean {
  let index = -1;
  let hash = -1;
  for (const id of members) {
    const n = cluster.nodes.get(id);
    if (n === undefined || !n.alive) return false;
    if (n.applied.index < markerIndex) return false;
    const st = n.node!.status();
    if (index === -1) {
      index = n.applied.index;
      hash = n.applied.hash;
    } else if (n.applied.index !== index || n.applied.hash !== hash || st.commit !== index) {
      return false;
    }
  }
  return members.length > 0 && cluster.checkers.appliedHash(index) === hash;
}
