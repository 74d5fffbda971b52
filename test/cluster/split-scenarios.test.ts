// TinyKV's project 3B split scenarios (reference §3.8; kv/test_raftstore/test_test.go) on the real,
// threaded store: a scheduler and three or five stores in this process, over gRPC on loopback, on
// LMDB, with a region max size of a few hundred bytes so that the clients' writes split the key
// space many times, and faults injected on each store's outgoing Raft messages
// (test/cluster/faults.ts). Some scenarios run two raft pollers per store, so a new region's peer
// often starts on another poller than its parent's. Clients go through tinykv/client on the
// scheduler (split-workload.ts), since scans cross regions. Checkers: TinyKV's per-client append
// check, the register linearizability checker on a few keys, and at the end the same region layout
// tiling the key space and the same data on every store. Seeds are printed; SCENARIO_SEED=n reruns.
import { afterEach, describe, expect, it } from 'vitest';
import { credentials } from '@grpc/grpc-js';
import { fromServiceError } from '../../src/client/errors.js';
import type { ConfigOverrides } from '../../src/config/config.js';
import { RawGetRequest } from '../../src/proto/kvrpcpb.js';
import type { Region } from '../../src/proto/metapb.js';
import { TinyKvClient as TinyKvGrpcClient } from '../../src/proto/tinykvpb.js';
import { SeededRandom } from '../../src/raft/index.js';
import { callUnary } from '../../src/rpc/unary.js';
import type { ClusterNode } from '../../src/server/cluster-node.js';
import { defined } from '../../src/util/assert.js';
import { NetworkFaults, scenarioSeed } from './faults.js';
import { InProcessCluster, waitUntil } from './harness.js';
import { divergence, RoutedScenarioClient } from './split-workload.js';
import { appendClient, finalReads, registerClient, RegisterHistory, sleep, verifyAppends, type AppendClientResult } from './workload.js';

/** 10 election ticks of 20 ms (the harness's raftBaseTickMs). */
const ELECTION_TIMEOUT_MS = 200;

let running: { cluster: InProcessCluster; sc: RoutedScenarioClient } | undefined;

afterEach(async () => {
  running?.sc.close();
  await running?.cluster.close();
  running = undefined;
});

interface SplitSizes {
  readonly maxBytes: number;
  readonly splitBytes: number;
}

async function startCluster(
  faults: NetworkFaults,
  sizes: SplitSizes,
  options: { readonly raftPollers: number; readonly stores?: number },
): Promise<{ cluster: InProcessCluster; sc: RoutedScenarioClient }> {
  const overrides: ConfigOverrides = {
    raftPollers: options.raftPollers,
    // A short graceful shutdown: a stopped store is closer to a crashed one, and restarts stay quick.
    gracefulShutdownTimeoutMs: 100,
    regionMaxSizeBytes: sizes.maxBytes,
    regionSplitSizeBytes: sizes.splitBytes,
    // TinyKV's test config: split checks every 100 ms, region heartbeats every 100 ms.
    splitRegionCheckTickIntervalMs: 100,
    regionHeartbeatIntervalMs: 100,
  };
  const cluster = await InProcessCluster.start(overrides, faults.seams, { initialStores: options.stores ?? 3 });
  running = { cluster, sc: new RoutedScenarioClient(cluster.scheduler.addr) };
  // Up once the bootstrap region elected a leader and a write committed.
  await running.sc.must('first write', (c) => c.put('warm-up', '1'), 20_000);
  return running;
}

/** Waits until every store has the same regions tiling the key space and the same data; fails with what differs. */
async function expectConverged(cluster: InProcessCluster, what: string): Promise<void> {
  await waitUntil(() => divergence(cluster.all()) === undefined, 30_000, 100);
  expect(divergence(cluster.all()), what).toBeUndefined();
}

const regionsOf = (node: ClusterNode): Region[] => node.store.regions();

interface SplitScenario {
  readonly name: string;
  readonly seed: number;
  /** Append clients (TinyKV's nclients). */
  readonly clients: number;
  /** Clients recording get/put histories for the linearizability checker. */
  readonly registerClients: number;
  /** Drop 10% of the messages and delay 20% up to 30 ms (stricter than TinyKV, which drops nothing without partitions). */
  readonly unreliable?: boolean;
  /** Stop every store after each iteration and start them again (TinyKV's crash). */
  readonly crash?: boolean;
  readonly raftPollers: number;
  readonly iterations: number;
  readonly runMs: number;
  /**
   * Keep an iteration running past runMs (up to 15 s) until this many appends are acknowledged:
   * a slow machine still writes enough to split the key space several times.
   */
  readonly minAcked: number;
}

/** One iteration's clients and faults; resolves to the append clients' results once stopped. */
async function runIteration(
  s: SplitScenario,
  iteration: number,
  faults: NetworkFaults,
  sc: RoutedScenarioClient,
  history: RegisterHistory,
  rng: SeededRandom,
): Promise<AppendClientResult[]> {
  let stop = false;
  const stopped = () => stop;
  const progress = { acked: 0 };
  const appends = Array.from({ length: s.clients }, (_, i) => appendClient(sc, i, rng.fork(), stopped, progress));
  const registers = Array.from({ length: s.registerClients }, (_, i) => registerClient(sc, iteration * 100 + i, history, rng.fork(), stopped));
  if (s.unreliable) {
    faults.dropRandomly(0.1);
    faults.delayRandomly(0.2, 30);
  }
  await sleep(s.runMs);
  for (const deadline = Date.now() + 15_000; progress.acked < s.minAcked && Date.now() < deadline;) await sleep(50);
  stop = true;
  const results = await Promise.all(appends);
  await Promise.all(registers);
  faults.clear();
  return results;
}

/** TinyKV's GenericTest with split=true on the threaded cluster. */
async function genericSplitTest(s: SplitScenario): Promise<void> {
  const faults = new NetworkFaults(s.seed);
  // The workload's choices come from their own generator: fault decisions happen at thread-timing-dependent moments.
  const rng = new SeededRandom(s.seed ^ 0x5bd1e995);
  // TinyKV's split tests' sizes (300 / 200 bytes): one append is about 18 bytes.
  const { cluster, sc } = await startCluster(faults, { maxBytes: 300, splitBytes: 200 }, { raftPollers: s.raftPollers });
  const history = new RegisterHistory(['reg-a', 'reg-m', 'reg-z']);
  let acked = 0;
  for (let iteration = 0; iteration < s.iterations; iteration++) {
    const results = await runIteration(s, iteration, faults, sc, history, rng);
    if (s.crash) {
      const dirs = cluster.all().map((node) => cluster.dataDirOf(node));
      await Promise.all(cluster.all().map((node) => cluster.stopStore(node)));
      await sleep(ELECTION_TIMEOUT_MS);
      await Promise.all(dirs.map((dir) => cluster.startStore(dir)));
    }
    const label = `${s.name} (seed ${s.seed}) iteration ${iteration}`;
    const problems = await Promise.all(results.map((result) => verifyAppends(sc, result, iteration + 1 < s.iterations)));
    for (const result of results) expect(result.violations, `${label}: scans`).toEqual([]);
    expect(
      problems.filter((p) => p !== undefined),
      `${label}: final appends`,
    ).toEqual([]);
    const iterationAcked = results.reduce((sum, r) => sum + r.acked, 0);
    expect(iterationAcked, `${label}: no append acknowledged`).toBeGreaterThan(0);
    acked += iterationAcked;
    // TinyKV: the region holding "" was split (its end is bounded).
    const first = cluster.all().map((node) => node.store.regionForKey(Buffer.alloc(0))?.endKey.length ?? 0);
    expect(Math.max(...first), `${label}: the first region was never split`).toBeGreaterThan(0);
  }
  await finalReads(sc, history);
  expect(history.check(), `${s.name} (seed ${s.seed})`).toBeUndefined();
  if (s.registerClients > 0) expect(history.count('put', true), `${s.name}: no register write acknowledged`).toBeGreaterThan(0);
  if (s.unreliable) expect(faults.dropped, 'the faults dropped messages').toBeGreaterThan(0);
  await expectConverged(cluster, `${s.name} (seed ${s.seed}): stores converge`);
  cluster.assertNoFatal();
  const regions = regionsOf(defined(cluster.all()[0], 'a store')).length;
  console.log(
    `[scenario] ${s.name}: acked ${acked}, regions ${regions}, register ops ${[...history.ops.values()].flat().length}, dropped ${faults.dropped}, delayed ${faults.delayed}`,
  );
  expect(regions, `${s.name}: the key space split several times`).toBeGreaterThanOrEqual(3);
}

/** RawGet of `key` sent to the store leading `region`, naming that region: the response's region error. */
async function getThroughRegion(cluster: InProcessCluster, region: Region, key: string) {
  for (const deadline = Date.now() + 10_000; ; await sleep(50)) {
    const leader = cluster.all().find((node) => node.store.leaderRegions().some((led) => led.region.id === region.id));
    const peer = leader && region.peers.find((p) => p.storeId === leader.storeId);
    if (leader && peer) {
      const grpc = new TinyKvGrpcClient(leader.addr, credentials.createInsecure());
      try {
        const context = { regionId: BigInt(region.id), regionEpoch: region.regionEpoch, peer };
        const response = await callUnary(
          grpc,
          grpc.rawGet,
          RawGetRequest.fromPartial({ context, key: Buffer.from(key) }),
          { timeoutMs: 2_000 },
          (err) => fromServiceError(err, 'raw'),
        );
        // Leadership moved between the lookup and the call: look again.
        if (response.regionError?.notLeader === undefined) return response.regionError;
      } finally {
        grpc.close();
      }
    }
    if (Date.now() > deadline) throw new Error(`no leader of region ${region.id} answered`);
  }
}

describe('TinyKV 3B split scenarios on threaded stores', () => {
  it('one split: a cut-off store catches up with the split; a key sent to the old region is KeyNotInRegion', async () => {
    const faults = new NetworkFaults(scenarioSeed('one-split', 301));
    // TinyKV's TestOneSplit3B: five stores, region max / split size 800 / 500 bytes.
    const { cluster, sc } = await startCluster(faults, { maxBytes: 800, splitBytes: 500 }, { raftPollers: 2, stores: 5 });
    await sc.must('put k1', (c) => c.put('k1', 'v1'));
    await sc.must('put k2', (c) => c.put('k2', 'v2'));
    const ids = cluster.storeIds();
    const cutOffId = defined(ids.at(-1), 'the last store');
    const cutOff = defined(cluster.nodes.get(cutOffId), 'the cut-off store');
    // A store of the majority: it sees the split.
    const someStore = defined(cluster.nodes.get(defined(ids[0], 'the first store')), 'a store');
    const region = defined(someStore.store.regionForKey(Buffer.from('k1')), 'the region of k1');
    expect(someStore.store.regionForKey(Buffer.from('k2'))?.id).toBe(region.id);
    faults.partition(
      ids.filter((id) => id !== cutOffId),
      [cutOffId],
    );
    // About 800 bytes more: past the max size, so the region splits. Twenty at a time (TinyKV's
    // are sequential; the order does not matter here and a loaded machine writes them sooner).
    for (let start = 100; start < 200; start += 20) {
      await Promise.all(Array.from({ length: 20 }, (_, j) => sc.must(`put k${start + j}`, (c) => c.put(`k${start + j}`, `v${start + j}`))));
    }
    const majority = cluster.all().filter((node) => node !== cutOff);
    // A split takes a split-check tick, AskSplit and a Raft round; on a loaded 2-core machine (CI
    // beside other work) that took more than 10 s once.
    await waitUntil(
      () => majority.every((node) => node.store.regionForKey(Buffer.from('k1'))?.id !== node.store.regionForKey(Buffer.from('k2'))?.id),
      30_000,
      50,
    );
    await sleep(200);
    // The cut-off store knows nothing of it.
    expect(cutOff.store.regions().map((r) => r.id)).toEqual([region.id]);
    faults.clear();

    const left = defined(someStore.store.regionForKey(Buffer.from('k1')), 'left');
    const right = defined(someStore.store.regionForKey(Buffer.from('k2')), 'right');
    expect(left.id).not.toBe(right.id);
    expect(Buffer.from(left.startKey).equals(Buffer.from(region.startKey))).toBe(true);
    expect(Buffer.from(left.endKey).equals(Buffer.from(right.startKey))).toBe(true);
    expect(Buffer.from(right.endKey).equals(Buffer.from(region.endKey))).toBe(true);
    // TinyKV keeps the old region id on the left.
    expect(left.id).toBe(region.id);

    const regionError = await getThroughRegion(cluster, left, 'k2');
    expect(regionError?.keyNotInRegion, `region error ${JSON.stringify(regionError)}`).toBeDefined();
    expect(regionError?.keyNotInRegion?.regionId).toBe(left.id);

    // The cut-off store applies the split and serves both halves' data.
    await waitUntil(() => cutOff.engines.kv.get('default', Buffer.from('k100'))?.toString() === 'v100', 10_000, 50);
    expect(cutOff.engines.kv.get('default', Buffer.from('k100'))?.toString()).toBe('v100');
    await expectConverged(cluster, 'one-split: stores converge');
    expect((await sc.must('get k2', (c) => c.get('k2')))?.toString()).toBe('v2');
    expect((await sc.must('scan', (c) => c.scan('k', 'l', 200))).length).toBe(102);
    cluster.assertNoFatal();
  });

  it('split recover: one client; every store restarts after each iteration', async () => {
    await genericSplitTest({
      name: 'split-recover',
      seed: scenarioSeed('split-recover', 302),
      clients: 1,
      registerClients: 1,
      crash: true,
      raftPollers: 1,
      iterations: 2,
      runMs: 2_000,
      minAcked: 45,
    });
  });

  it('split recover, many clients: twenty clients; every store restarts after each iteration', async () => {
    await genericSplitTest({
      name: 'split-recover-many-clients',
      seed: scenarioSeed('split-recover-many-clients', 303),
      clients: 20,
      registerClients: 2,
      crash: true,
      raftPollers: 2,
      iterations: 2,
      runMs: 2_000,
      minAcked: 30,
    });
  });

  // Once failed about one run in twenty: a poller read a split's new region with lmdb-js's read
  // transaction of the event-loop turn, which predated the apply thread's commit, so the new region's
  // peer never started on that store (Engine.getLatest, test/engine/cross-thread-reads.test.ts).
  it('split unreliable: five clients while 10% of the messages are dropped and 20% delayed', async () => {
    await genericSplitTest({
      name: 'split-unreliable',
      seed: scenarioSeed('split-unreliable', 304),
      clients: 5,
      registerClients: 2,
      unreliable: true,
      raftPollers: 2,
      iterations: 1,
      runMs: 3_000,
      minAcked: 50,
    });
  });

  it('split unreliable recover: drops and delays, every store restarts after each iteration', async () => {
    await genericSplitTest({
      name: 'split-unreliable-recover',
      seed: scenarioSeed('split-unreliable-recover', 305),
      clients: 5,
      registerClients: 2,
      unreliable: true,
      crash: true,
      raftPollers: 1,
      iterations: 2,
      runMs: 2_000,
      minAcked: 30,
    });
  });
});
