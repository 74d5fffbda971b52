// TinyKV's 3B scenarios with splits and conf changes together (TestSplitConfChangeSnapshotUnreliableRecover3B
// and its ConcurrentPartition variant; GenericTest with unreliable, crash, confchange, split and
// maxraftlog) on the real, threaded store: a scheduler and five stores in this process over gRPC on
// loopback and LMDB, a region max size of 300 bytes so the clients' writes split the key space many
// times, a raft-log GC limit of 10 so peers catch up by snapshot, seeded drops and delays on the
// stores' outgoing Raft messages (test/cluster/faults.ts), stores crash-restarting during and
// between iterations, and TinyKV's confchanger removing and adding peers of random regions through
// their current leaders (conf-changer.ts runRegionsConfChanger). Clients go through tinykv/client on
// the scheduler (split-workload.ts), since scans cross regions. Checks: the append checker, register
// linearizability, a removed store keeping none of the removed region's data, and at the end (network
// healed, every store added back to every region) each region on all five stores, the same layout
// tiling the key space and the same data everywhere, no fatal. Shortened from TinyKV's 3 x 5 s to
// fit CI. Seeds are printed; SCENARIO_SEED=n reruns one.
import { afterEach, describe, expect, it } from 'vitest';
import type { ConfigOverrides } from '../../src/config/config.js';
import { ConfChangeType } from '../../src/proto/eraftpb.js';
import { RaftApplyState } from '../../src/proto/raft_serverpb.js';
import { SeededRandom } from '../../src/raft/index.js';
import { applyStateKey } from '../../src/raftstore/keys.js';
import type { ClusterNode } from '../../src/server/cluster-node.js';
import { defined } from '../../src/util/assert.js';
import { changePeer, ledRegions, runRegionsConfChanger, type ConfChangerReport } from './conf-changer.js';
import { NetworkFaults, scenarioSeed } from './faults.js';
import { InProcessCluster, waitUntil } from './harness.js';
import { divergence, RoutedScenarioClient } from './split-workload.js';
import { appendClient, finalReads, registerClient, RegisterHistory, sleep, verifyAppends, type AppendClientResult } from './workload.js';

/** 10 election ticks of 20 ms (the harness's raftBaseTickMs). */
const ELECTION_TIMEOUT_MS = 200;
/** TinyKV's cluster size for the 3B tests. */
const STORES = 5;
/** TinyKV's maxraftlog for the snapshot tests. */
const MAX_RAFT_LOG = 10;

let running: { cluster: InProcessCluster; sc: RoutedScenarioClient } | undefined;

afterEach(async () => {
  running?.sc.close();
  await running?.cluster.close();
  running = undefined;
});

interface SplitConfChangeScenario {
  readonly name: string;
  readonly seed: number;
  /** Append clients (TinyKV's nclients). */
  readonly clients: number;
  /** Clients recording get/put histories for the linearizability checker. */
  readonly registerClients: number;
  /** Re-partition the stores randomly every election timeout or so (drops continue; no delays). */
  readonly partitions?: boolean;
  readonly raftPollers: number;
  readonly iterations: number;
  readonly runMs: number;
  /** Keep an iteration running past runMs (up to 8 s) until this many appends are acknowledged, so the key space splits. */
  readonly minAcked: number;
}

async function startCluster(faults: NetworkFaults, raftPollers: number): Promise<{ cluster: InProcessCluster; sc: RoutedScenarioClient }> {
  const overrides: ConfigOverrides = {
    raftPollers,
    // A short graceful shutdown: a stopped store is closer to a crashed one, and restarts stay quick.
    gracefulShutdownTimeoutMs: 100,
    // TinyKV's split tests' sizes: one append is about 18 bytes.
    regionMaxSizeBytes: 300,
    regionSplitSizeBytes: 200,
    raftLogGcCountLimit: MAX_RAFT_LOG,
    // TinyKV's test config: split checks every 100 ms, region heartbeats every 100 ms.
    splitRegionCheckTickIntervalMs: 100,
    regionHeartbeatIntervalMs: 100,
  };
  const cluster = await InProcessCluster.start(overrides, faults.seams, { initialStores: STORES });
  running = { cluster, sc: new RoutedScenarioClient(cluster.scheduler.addr) };
  await running.sc.must('first write', (c) => c.put('warm-up', '1'), 20_000);
  return running;
}

/** One scenario's cluster, workload generator and register history. */
interface Run {
  readonly s: SplitConfChangeScenario;
  readonly cluster: InProcessCluster;
  readonly sc: RoutedScenarioClient;
  /** Every store of the cluster, fixed at start: a store down at the moment is still one to add a peer on. */
  readonly storeIds: readonly number[];
  readonly faults: NetworkFaults;
  readonly rng: SeededRandom;
  readonly history: RegisterHistory;
  readonly changes: ConfChangerReport[];
}

/** Drops (10%) and delays (20%, up to 30 ms); with partitions, drops and a new random partition every election timeout or so. */
async function networkChaos(run: Run, rng: SeededRandom, stopped: () => boolean): Promise<void> {
  const { s, faults } = run;
  if (!s.partitions) {
    faults.dropRandomly(0.1);
    faults.delayRandomly(0.2, 30);
    return;
  }
  while (!stopped()) {
    faults.clear();
    faults.partitionRandomly(run.storeIds);
    faults.dropRandomly(0.1);
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

/** Stops every store, then starts them all again on their data (TinyKV's crash between iterations). */
async function restartAll(cluster: InProcessCluster): Promise<void> {
  const dirs = cluster.all().map((node) => cluster.dataDirOf(node));
  await Promise.all(cluster.all().map((node) => cluster.stopStore(node)));
  await sleep(ELECTION_TIMEOUT_MS);
  await Promise.all(dirs.map((dir) => cluster.startStore(dir)));
}

/** One iteration: clients, faults, crashes and the confchanger; then every store restarts and the appends are checked. */
async function iterate(run: Run, iteration: number): Promise<number> {
  const { s, cluster, sc, faults, rng, history } = run;
  let stop = false;
  const stopped = () => stop;
  const progress = { acked: 0 };
  const appends = Array.from({ length: s.clients }, (_, i) => appendClient(sc, i, rng.fork(), stopped, progress));
  const registers = Array.from({ length: s.registerClients }, (_, i) => registerClient(sc, iteration * 100 + i, history, rng.fork(), stopped));
  const chaos = [networkChaos(run, rng.fork(), stopped), crashChaos(cluster, rng.fork(), stopped)];
  const changerRng = rng.fork();
  // TinyKV lets the clients work undisturbed for 100 ms first.
  const changer = sleep(100).then(() => runRegionsConfChanger(cluster, run.storeIds, changerRng, stopped));
  await sleep(s.runMs);
  for (const deadline = Date.now() + 8_000; progress.acked < s.minAcked && Date.now() < deadline;) await sleep(50);
  stop = true;
  await Promise.all(chaos);
  faults.clear();
  run.changes.push(await changer);
  const results: AppendClientResult[] = await Promise.all(appends);
  await Promise.all(registers);
  await restartAll(cluster);

  const label = `${s.name} (seed ${s.seed}) iteration ${iteration}`;
  const problems = await Promise.all(results.map((result) => verifyAppends(sc, result, iteration + 1 < s.iterations)));
  for (const result of results) expect(result.violations, `${label}: scans`).toEqual([]);
  expect(
    problems.filter((p) => p !== undefined),
    `${label}: final appends`,
  ).toEqual([]);
  const acked = results.reduce((sum, r) => sum + r.acked, 0);
  expect(acked, `${label}: no append acknowledged`).toBeGreaterThan(0);
  return acked;
}

/** A peer on every store in one region, added one at a time with new peer ids through its leader. */
async function addEveryStore(cluster: InProcessCluster, regionId: number, storeIds: readonly number[]): Promise<boolean> {
  const members = () => {
    const region = ledRegions(cluster).find((r) => r.id === regionId);
    return [...(region?.peers ?? [])].map((p) => p.storeId).sort((a, b) => a - b);
  };
  for (const storeId of storeIds) {
    // changePeer sees it done when the leader's region already has a peer on the store.
    await changePeer(cluster, regionId, ConfChangeType.AddNode, { id: await cluster.scheduler.core.allocId(), storeId });
  }
  // The main thread's view of the leader's region trails the apply that answered a change.
  await waitUntil(() => members().length === storeIds.length, 5_000);
  return members().join() === storeIds.join();
}

/**
 * TinyKV's end state, for every region (a store may be missing from some regions only): each
 * region led somewhere gets a peer on every store. Regions are done in parallel, and again until
 * every region some store leads has all stores.
 */
async function addEveryStoreEverywhere({ cluster, storeIds }: Run): Promise<void> {
  const complete = new Set<number>();
  for (let pass = 0; pass < 5; pass++) {
    await waitUntil(() => ledRegions(cluster).length > 0, 10_000);
    const todo = ledRegions(cluster).filter((r) => !complete.has(r.id));
    if (todo.length === 0) return;
    const done = await Promise.all(todo.map((r) => addEveryStore(cluster, r.id, storeIds)));
    todo.forEach((r, i) => done[i] && complete.add(r.id));
    await sleep(ELECTION_TIMEOUT_MS);
  }
}

/** Every region some store leads has a peer on each store, in the leader's view. */
function regionsWithoutAllStores(cluster: InProcessCluster, storeIds: readonly number[]): string[] {
  return ledRegions(cluster)
    .filter((r) => r.peers.length !== storeIds.length || !storeIds.every((id) => r.peers.some((p) => p.storeId === id)))
    .map((r) => `region ${r.id} on stores ${r.peers.map((p) => p.storeId).join(',')}`);
}

/** TinyKV: applied - truncated <= 2 * maxraftlog for every region on every store once writes stop. */
async function expectLogsBounded(cluster: InProcessCluster): Promise<void> {
  const gaps = (node: ClusterNode) =>
    node.store.regions().map((region) => {
      const state = RaftApplyState.decode(defined(node.engines.kv.get('meta', applyStateKey(region.id)), `apply state of region ${region.id}`));
      return { store: node.storeId, region: region.id, gap: state.appliedIndex - defined(state.truncatedState, 'truncated state').index };
    });
  const over = () =>
    cluster
      .all()
      .flatMap(gaps)
      .filter(({ gap }) => gap > 2 * MAX_RAFT_LOG);
  // Log GC is asynchronous (the leader's next GC tick): wait for it on a loaded machine.
  await waitUntil(() => over().length === 0, 20_000, 100);
  expect(over(), 'applied - truncated per region and store').toEqual([]);
}

/** TinyKV's GenericTest with unreliable, crash, confchange, split and maxraftlog (and partitions) on the threaded cluster. */
async function splitConfChangeTest(s: SplitConfChangeScenario): Promise<void> {
  const faults = new NetworkFaults(s.seed);
  // The workload's choices come from their own generator: fault decisions happen at thread-timing-dependent moments.
  const rng = new SeededRandom(s.seed ^ 0x5bd1e995);
  const { cluster, sc } = await startCluster(faults, s.raftPollers);
  const storeIds = cluster.storeIds();
  expect(storeIds).toHaveLength(STORES);
  // Eight registers: a put without an answer may have happened at any later point, and the
  // checker's search grows as 2^(such puts per key); crashes and conf changes leave many.
  const history = new RegisterHistory(Array.from({ length: 8 }, (_, i) => `reg-${i}`));
  const run: Run = { s, cluster, sc, storeIds, faults, rng, history, changes: [] };
  let acked = 0;
  for (let iteration = 0; iteration < s.iterations; iteration++) acked += await iterate(run, iteration);

  await addEveryStoreEverywhere(run);
  await waitUntil(() => divergence(cluster.all()) === undefined && regionsWithoutAllStores(cluster, storeIds).length === 0, 30_000, 100);
  expect(regionsWithoutAllStores(cluster, storeIds), `${s.name} (seed ${s.seed}): regions missing a store`).toEqual([]);
  expect(divergence(cluster.all()), `${s.name} (seed ${s.seed}): stores converge`).toBeUndefined();
  for (const node of cluster.all())
    expect(
      node.store.regions().every((r) => r.peers.length === STORES),
      `store ${node.storeId}'s regions`,
    ).toBe(true);

  await finalReads(sc, history);
  expect(history.check(), `${s.name} (seed ${s.seed})`).toBeUndefined();
  if (!s.partitions) expect(history.count('put', true), `${s.name}: no register write acknowledged`).toBeGreaterThan(0);
  expect(faults.dropped, 'the faults dropped messages').toBeGreaterThan(0);
  const problems = run.changes.flatMap((c) => c.problems);
  expect(problems, `${s.name} (seed ${s.seed}): removed stores`).toEqual([]);
  const adds = run.changes.reduce((n, c) => n + c.adds, 0);
  const removes = run.changes.reduce((n, c) => n + c.removes, 0);
  expect(adds + removes, `${s.name} (seed ${s.seed}): the confchanger changed nothing`).toBeGreaterThan(0);
  const regions = defined(cluster.all()[0], 'a store').store.regions().length;
  expect(regions, `${s.name} (seed ${s.seed}): the key space never split`).toBeGreaterThanOrEqual(2);
  await expectLogsBounded(cluster);
  cluster.assertNoFatal();
  const checked = run.changes.reduce((n, c) => n + c.removalsChecked, 0);
  console.log(
    `[scenario] ${s.name}: acked ${acked}, regions ${regions}, adds ${adds}, removes ${removes}, removed stores checked ${checked}, register ops ${[...history.ops.values()].flat().length}, dropped ${faults.dropped}, delayed ${faults.delayed}`,
  );
}

// These found that a store crash-restarted right after applying its own peer's removal did not
// start again (a Normal region record without a peer on the store); the store now finishes that
// destroy on start (batch/store.ts loadPeers).
describe('TinyKV 3B split + conf-change scenarios on five threaded stores', () => {
  it('SplitConfChangeSnapshotUnreliableRecover: splits, conf changes on random regions, drops, delays, crash-restarts, log GC at 10', async () => {
    await splitConfChangeTest({
      name: 'split-conf-change-snapshot-unreliable-recover',
      seed: scenarioSeed('split-conf-change-snapshot-unreliable-recover', 401),
      clients: 5,
      registerClients: 2,
      raftPollers: 2,
      iterations: 2,
      runMs: 2_500,
      minAcked: 40,
    });
  });

  it('SplitConfChangeSnapshotUnreliableRecoverConcurrentPartition: and random partitions every election timeout or so', async () => {
    await splitConfChangeTest({
      name: 'split-conf-change-snapshot-unreliable-recover-partition',
      seed: scenarioSeed('split-conf-change-snapshot-unreliable-recover-partition', 402),
      clients: 5,
      // Partitions leave most puts without an answer: one register client keeps the checker's search small.
      registerClients: 1,
      partitions: true,
      raftPollers: 1,
      iterations: 2,
      runMs: 2_500,
      minAcked: 30,
    });
  });
});
