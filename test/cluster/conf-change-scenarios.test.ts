// TinyKV's 3B conf-change scenarios (reference §3.8; TinyKV's GenericTest with confchange) on the
// real, threaded store: a scheduler and five stores in this process over gRPC on loopback and LMDB,
// with seeded faults on each store's outgoing Raft messages (test/cluster/faults.ts). While clients
// append and read registers (test/cluster/workload.ts), TinyKV's confchanger
// (test/cluster/conf-changer.ts) removes and adds peers of the one region, one change at a time,
// through its current leader. At the end: every store is added back, and no acknowledged append is
// lost, duplicated or reordered, the register histories are linearizable, every store holds the same
// data, and a store seen removed (its tombstone on disk) held none of the region's data.
// Shortened from TinyKV's 3 x 5 s to fit CI. Seeds are printed; SCENARIO_SEED=n reruns one.
import { afterEach, describe, expect, it } from 'vitest';
import type { ConfigOverrides } from '../../src/config/config.js';
import { ConfChangeType } from '../../src/proto/eraftpb.js';
import { RaftApplyState } from '../../src/proto/raft_serverpb.js';
import { SeededRandom } from '../../src/raft/index.js';
import { applyStateKey } from '../../src/raftstore/keys.js';
import type { ClusterNode } from '../../src/server/cluster-node.js';
import { defined } from '../../src/util/assert.js';
import { changePeer, checkRemoved, dataDump, leaderOf, runConfChanger, type ConfChangerReport, type LeaderRemoval } from './conf-changer.js';
import { NetworkFaults, scenarioSeed } from './faults.js';
import { InProcessCluster, waitUntil } from './harness.js';
import {
  appendClient,
  finalReads,
  registerClient,
  RegisterHistory,
  ScenarioClient,
  sleep,
  verifyAppends,
  type AppendClientResult,
} from './workload.js';

/** 10 election ticks of 20 ms (the harness's raftBaseTickMs). */
const ELECTION_TIMEOUT_MS = 200;
/** TinyKV's cluster size for the 3B tests. */
const STORES = 5;

let running: { cluster: InProcessCluster; sc: ScenarioClient } | undefined;

afterEach(async () => {
  running?.sc.close();
  await running?.cluster.close();
  running = undefined;
});

interface ConfChangeScenario {
  readonly name: string;
  readonly seed: number;
  /** Append clients (TinyKV's nclients). */
  readonly clients: number;
  /** Clients recording get/put histories for the linearizability checker. */
  readonly registerClients: number;
  /** Drop 10% of the messages (and, without partitions, delay 20% up to 30 ms). */
  readonly unreliable?: boolean;
  /** Crash-restart random stores during each iteration, and every store between iterations (TinyKV's crash). */
  readonly crash?: boolean;
  /** Re-partition the stores randomly every election timeout or so. */
  readonly partitions?: boolean;
  /** Raft-log GC count limit, so that added and lagging peers catch up by snapshot; the log bound is checked at the end. */
  readonly maxRaftLog?: number;
  readonly iterations: number;
  readonly runMs: number;
  /** How the confchanger removes the leader's own peer: 'direct' (default, TinyKV's rule) or moving leadership off it first. */
  readonly leaderRemoval?: LeaderRemoval;
}

async function startCluster(
  faults: NetworkFaults,
  overrides: ConfigOverrides,
): Promise<{ cluster: InProcessCluster; sc: ScenarioClient; regionId: number }> {
  // A short graceful shutdown: a stopped store is closer to a crashed one, and restarts stay quick.
  const cluster = await InProcessCluster.start({ raftPollers: 1, gracefulShutdownTimeoutMs: 100, ...overrides }, faults.seams, {
    initialStores: STORES,
  });
  running = { cluster, sc: new ScenarioClient(() => cluster.all()) };
  await running.sc.must('first write', (c) => c.put('warm-up', '1'), 20_000);
  await waitUntil(() => cluster.all().every((node) => node.store.regions().length > 0));
  const regionId = defined(cluster.all().flatMap((node) => node.store.regions())[0], 'a region on some store').id;
  return { ...running, regionId };
}

/** One scenario's cluster, workload generator and register history. */
interface Run {
  readonly cluster: InProcessCluster;
  readonly sc: ScenarioClient;
  readonly regionId: number;
  /** Every store of the cluster, fixed at start. */
  readonly storeIds: readonly number[];
  readonly faults: NetworkFaults;
  readonly rng: SeededRandom;
  readonly history: RegisterHistory;
}

/** The network faults of one iteration, until `stopped()`. */
async function networkChaos(
  s: ConfChangeScenario,
  faults: NetworkFaults,
  cluster: InProcessCluster,
  rng: SeededRandom,
  stopped: () => boolean,
): Promise<void> {
  if (!s.partitions) {
    if (s.unreliable) {
      faults.dropRandomly(0.1);
      faults.delayRandomly(0.2, 30);
    }
    return;
  }
  while (!stopped()) {
    faults.clear();
    faults.partitionRandomly(cluster.storeIds());
    if (s.unreliable) faults.dropRandomly(0.1);
    await sleep(ELECTION_TIMEOUT_MS + rng.int(200));
  }
}

/** Crash-restarts random stores until `stopped()`. */
async function crashChaos(cluster: InProcessCluster, rng: SeededRandom, stopped: () => boolean): Promise<void> {
  while (!stopped()) {
    await sleep(rng.between(300, 700));
    if (stopped()) break;
    await cluster.restartStore(rng.pick(cluster.all()), rng.between(ELECTION_TIMEOUT_MS, 2 * ELECTION_TIMEOUT_MS));
  }
}

/** One iteration: clients, faults and the confchanger for runMs; then the appends are checked (and cleared if more iterations follow). */
async function iterate(s: ConfChangeScenario, run: Run, iteration: number, changes: ConfChangerReport[]): Promise<number> {
  const { cluster, sc, regionId, faults, rng, history } = run;
  let stop = false;
  const stopped = () => stop;
  const progress = { acked: 0 };
  const appends = Array.from({ length: s.clients }, (_, i) => appendClient(sc, i, rng.fork(), stopped, progress));
  const registers = Array.from({ length: s.registerClients }, (_, i) => registerClient(sc, iteration * 10 + i, history, rng.fork(), stopped));
  const chaos = [networkChaos(s, faults, cluster, rng.fork(), stopped)];
  if (s.crash) chaos.push(crashChaos(cluster, rng.fork(), stopped));
  const changerRng = rng.fork();
  // TinyKV lets the clients work undisturbed for 100 ms first.
  const changer = sleep(100).then(() => runConfChanger(cluster, regionId, run.storeIds, changerRng, stopped, s.leaderRemoval ?? 'direct'));
  await sleep(s.runMs);
  // A slow machine under faults may not have written at all yet: give it up to 10 s more (liveness).
  for (const deadline = Date.now() + 10_000; progress.acked === 0 && Date.now() < deadline;) await sleep(50);
  stop = true;
  await Promise.all(chaos);
  faults.clear();
  changes.push(await changer);
  const results: AppendClientResult[] = await Promise.all(appends);
  await Promise.all(registers);

  if (s.crash && iteration + 1 < s.iterations) {
    const dirs = cluster.all().map((node) => cluster.dataDirOf(node));
    await Promise.all(cluster.all().map((node) => cluster.stopStore(node)));
    await sleep(ELECTION_TIMEOUT_MS);
    await Promise.all(dirs.map((dir) => cluster.startStore(dir)));
  }
  const problems = await Promise.all(results.map((result) => verifyAppends(sc, result, iteration + 1 < s.iterations)));
  for (const result of results) expect(result.violations, `${s.name} (seed ${s.seed}) iteration ${iteration}: scans`).toEqual([]);
  expect(
    problems.filter((p) => p !== undefined),
    `${s.name} (seed ${s.seed}) iteration ${iteration}: final appends`,
  ).toEqual([]);
  const acked = results.reduce((sum, r) => sum + r.acked, 0);
  expect(acked, `${s.name} (seed ${s.seed}) iteration ${iteration}: no append acknowledged`).toBeGreaterThan(0);
  return acked;
}

/** TinyKV's GenericTest with confchange on the threaded cluster. */
async function confChangeTest(s: ConfChangeScenario): Promise<void> {
  const faults = new NetworkFaults(s.seed);
  // The workload's choices come from their own generator: fault decisions happen at thread-timing-dependent moments.
  const rng = new SeededRandom(s.seed ^ 0x5bd1e995);
  const { cluster, sc, regionId } = await startCluster(faults, s.maxRaftLog ? { raftLogGcCountLimit: s.maxRaftLog } : {});
  // Every store, fixed now: a store down at the moment is still one to add a peer on.
  const storeIds = cluster.storeIds();
  expect(storeIds).toHaveLength(STORES);
  // Eight registers, not three: a put without an answer may have happened at any later point, and
  // the checker's search grows as 2^(such puts per key); crashes and conf changes leave many.
  const history = new RegisterHistory(Array.from({ length: 8 }, (_, i) => `reg-${i}`));
  const run: Run = { cluster, sc, regionId, storeIds, faults, rng, history };
  const changes: ConfChangerReport[] = [];
  let acked = 0;
  for (let iteration = 0; iteration < s.iterations; iteration++) {
    acked += await iterate(s, run, iteration, changes);
  }
  const removalsSeen = await removeOneAndCheck(run);
  await addEveryStoreBack(run);
  await expectReplicasEqual(cluster, regionId, s);

  await finalReads(sc, history);
  expect(history.check(), `${s.name} (seed ${s.seed})`).toBeUndefined();
  // Under partitions one register client may see no put through in a short run (the append
  // clients' liveness is checked per iteration); elsewhere its history must hold an acknowledged write.
  if (s.registerClients > 0 && !s.partitions) expect(history.count('put', true), `${s.name}: no register write acknowledged`).toBeGreaterThan(0);
  if (s.unreliable || s.partitions) expect(faults.dropped, 'the faults dropped messages').toBeGreaterThan(0);
  const problems = changes.flatMap((c) => c.problems);
  expect(problems, `${s.name} (seed ${s.seed}): removed stores`).toEqual([]);
  const adds = changes.reduce((n, c) => n + c.adds, 0);
  const removes = changes.reduce((n, c) => n + c.removes, 0);
  expect(adds + removes, `${s.name} (seed ${s.seed}): the confchanger changed nothing`).toBeGreaterThan(0);
  if (s.maxRaftLog) await expectLogBounded(cluster, regionId, s.maxRaftLog);
  cluster.assertNoFatal();
  const checked = changes.reduce((n, c) => n + c.removalsChecked, 0) + removalsSeen;
  console.log(
    `[scenario] ${s.name}: acked ${acked}, adds ${adds}, removes ${removes}, removed stores checked ${checked}, register ops ${[...history.ops.values()].flat().length}, dropped ${faults.dropped}, delayed ${faults.delayed}`,
  );
}

/**
 * With the network healed, removes one follower's peer and checks the removal reached its store:
 * tombstone on disk, none of the region's data left, the region no longer served. Every scenario
 * checks this at least once, whatever its faults let the confchanger see.
 */
async function removeOneAndCheck({ cluster, regionId, storeIds }: Run): Promise<number> {
  const peerCount = () => leaderOf(cluster, regionId)?.region.peers.length ?? 0;
  await waitUntil(() => peerCount() > 0, 10_000);
  if (peerCount() < 2) {
    // Down to one peer: add one first, so there is a follower to remove.
    const members = defined(leaderOf(cluster, regionId), 'the region leader').region.peers;
    const storeId = defined(
      storeIds.find((id) => !members.some((p) => p.storeId === id)),
      'a store without a peer',
    );
    await changePeer(cluster, regionId, ConfChangeType.AddNode, { id: await cluster.scheduler.core.allocId(), storeId });
    // The main thread's view of the leader's region trails the apply that answered the change.
    await waitUntil(() => peerCount() > 1, 5_000);
  }
  const { region, leader } = defined(leaderOf(cluster, regionId), 'the region leader');
  const follower = defined(
    region.peers.find((p) => p.id !== leader.id),
    'a follower',
  );
  await changePeer(cluster, regionId, ConfChangeType.RemoveNode, follower);
  const report: ConfChangerReport = { adds: 0, removes: 1, removalsChecked: 0, problems: [] };
  const reached = await checkRemoved(cluster, regionId, follower.storeId, report, () => false, 15_000);
  expect(reached, `the removal of peer ${follower.id} reached store ${follower.storeId} (tombstone on disk)`).toBe(true);
  expect(report.problems).toEqual([]);
  return report.removalsChecked;
}

/** TinyKV's end state: a peer on every store, each added with a new peer id, one change at a time. */
async function addEveryStoreBack({ cluster, regionId, storeIds }: Run): Promise<void> {
  const members = () => [...(leaderOf(cluster, regionId)?.region.peers ?? [])].map((p) => p.storeId).sort((a, b) => a - b);
  // The main thread's view of the leader's region trails the apply that answered a change, so a
  // store it still shows may have gone: check again once the view has settled.
  for (let pass = 0; pass < 3 && members().join() !== storeIds.join(); pass++) {
    for (const storeId of storeIds) {
      // changePeer sees it done when the leader's region already has a peer on the store.
      await changePeer(cluster, regionId, ConfChangeType.AddNode, { id: await cluster.scheduler.core.allocId(), storeId });
    }
    await waitUntil(() => members().length === storeIds.length, 5_000);
  }
  expect(members()).toEqual([...storeIds]);
}

/** Every store serves the region and, caught up, holds exactly the same data pairs. */
async function expectReplicasEqual(cluster: InProcessCluster, regionId: number, s: ConfChangeScenario): Promise<void> {
  const nodes = cluster.all();
  expect(nodes).toHaveLength(STORES);
  const serving = (node: ClusterNode) => node.store.regions().some((r) => r.id === regionId);
  const agree = () => {
    if (!nodes.every(serving)) return false;
    const first = dataDump(defined(nodes[0], 'a store')).join('\n');
    return nodes.every((node) => dataDump(node).join('\n') === first);
  };
  await waitUntil(agree, 20_000, 100);
  for (const node of nodes) expect(serving(node), `${s.name}: store ${node.storeId} serves the region`).toBe(true);
  const first = dataDump(defined(nodes[0], 'a store'));
  for (const node of nodes.slice(1)) expect(dataDump(node), `${s.name} (seed ${s.seed}): store ${node.storeId}'s data`).toEqual(first);
}

/** TinyKV: applied - truncated <= 2 * maxraftlog on every store once writes stop. */
async function expectLogBounded(cluster: InProcessCluster, regionId: number, limit: number): Promise<void> {
  const gap = (node: ClusterNode) => {
    const state = RaftApplyState.decode(defined(node.engines.kv.get('meta', applyStateKey(regionId)), `apply state on store ${node.storeId}`));
    return state.appliedIndex - defined(state.truncatedState, 'truncated state').index;
  };
  // Log GC is asynchronous (the leader's next GC tick): wait for it on a loaded machine.
  await waitUntil(() => cluster.all().every((node) => gap(node) <= 2 * limit), 20_000, 50);
  for (const node of cluster.all()) expect(gap(node), `store ${node.storeId} applied - truncated`).toBeLessThanOrEqual(2 * limit);
}

describe('TinyKV 3B conf-change scenarios on five threaded stores', () => {
  it('ConfChangeRecover: random stores crash and restart while peers are removed and added; one client', async () => {
    await confChangeTest({
      name: 'conf-change-recover',
      seed: scenarioSeed('conf-change-recover', 301),
      clients: 1,
      registerClients: 1,
      crash: true,
      iterations: 2,
      runMs: 2_000,
    });
  });

  it('ConfChangeRecoverManyClients: the same with ten clients', async () => {
    await confChangeTest({
      name: 'conf-change-recover-many-clients',
      seed: scenarioSeed('conf-change-recover-many-clients', 302),
      clients: 10,
      registerClients: 2,
      crash: true,
      iterations: 2,
      runMs: 2_000,
    });
  });

  it('ConfChangeUnreliable: conf changes while 10% of the messages are dropped and 20% delayed', async () => {
    await confChangeTest({
      name: 'conf-change-unreliable',
      seed: scenarioSeed('conf-change-unreliable', 303),
      clients: 5,
      registerClients: 2,
      unreliable: true,
      iterations: 1,
      runMs: 4_000,
    });
  });

  it('ConfChangeUnreliableRecover: drops, delays and crash-restarts', async () => {
    await confChangeTest({
      name: 'conf-change-unreliable-recover',
      seed: scenarioSeed('conf-change-unreliable-recover', 304),
      clients: 5,
      registerClients: 2,
      unreliable: true,
      crash: true,
      iterations: 2,
      runMs: 2_000,
    });
  });

  it('ConfChangeSnapshotUnreliableRecover: the same with a raft-log GC limit of 10, so peers catch up by snapshot', async () => {
    await confChangeTest({
      name: 'conf-change-snapshot-unreliable-recover',
      seed: scenarioSeed('conf-change-snapshot-unreliable-recover', 305),
      clients: 5,
      registerClients: 2,
      unreliable: true,
      crash: true,
      maxRaftLog: 10,
      iterations: 2,
      runMs: 2_000,
    });
  });

  it('ConfChangeSnapshotUnreliableRecoverConcurrentPartition: and random partitions every election timeout or so', async () => {
    await confChangeTest({
      name: 'conf-change-snapshot-unreliable-recover-partition',
      seed: scenarioSeed('conf-change-snapshot-unreliable-recover-partition', 306),
      clients: 5,
      // Partitions leave most puts without an answer: one register client keeps the checker's search small.
      registerClients: 1,
      unreliable: true,
      crash: true,
      partitions: true,
      maxRaftLog: 10,
      iterations: 2,
      runMs: 2_000,
    });
  });

  // A Snap an apply thread answers is read on the main thread from a read transaction opened when
  // the answer arrives; a leader that applied its own removal in between had its range cleared,
  // and the read saw an empty region (a successful empty scan or an absent get). The main thread
  // now checks the region is still live in that transaction (batch/poller-router.ts
  // openReadSnapshot) and answers RegionNotFound otherwise. This reproducer failed 3 runs of 3
  // before the fix.
  it('a leader removing itself never answers a read from its cleared range', async () => {
    const faults = new NetworkFaults(scenarioSeed('remove-leader-under-reads', 307));
    const { cluster, regionId } = await startCluster(faults, {});
    const empties: string[] = [];
    for (let round = 0; round < 10; round++) {
      await waitUntil(() => (leaderOf(cluster, regionId)?.region.peers.length ?? 0) === STORES, 10_000);
      const { node, leader } = defined(leaderOf(cluster, regionId), 'the region leader');
      // Reads to the leader only, many in flight while it removes itself; 'k' is always there.
      const atLeader = new ScenarioClient(() => [node], 2_000);
      await atLeader.must('put k', (c) => c.put('k', `v${round}`));
      let stop = false;
      const readers = Array.from({ length: 16 }, async () => {
        while (!stop) {
          const read = await atLeader.attempt((c) => c.get('k'));
          if (read.ok && read.value === undefined) empties.push(`round ${round}: store ${node.storeId} (removing itself) read k as absent`);
          if (!read.ok) await sleep(5);
        }
      });
      await sleep(50);
      await changePeer(cluster, regionId, ConfChangeType.RemoveNode, leader);
      await waitUntil(() => !node.store.regions().some((r) => r.id === regionId), 5_000);
      stop = true;
      await Promise.all(readers);
      atLeader.close();
      await changePeer(cluster, regionId, ConfChangeType.AddNode, { id: await cluster.scheduler.core.allocId(), storeId: node.storeId });
    }
    expect(empties).toEqual([]);
  });
});
