// Thread metrics in the single-thread simulation: each simulated store counts in recorders of its
// own (its poller's and its apply thread's), and a registry over a store keeps its counts across a
// crash and restart of that store (new recorders, so a new incarnation).
import { Registry } from 'prom-client';
import { expect, it } from 'vitest';
import { registerThreadMetrics } from '../../src/metrics/thread-metrics.js';
import { SimCluster, seedFromEnv } from './cluster.js';

function sample(text: string, series: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? 0 : Number(line.slice(series.length + 1));
}

it('counts per simulated store, and a store’s counters survive its restart', async () => {
  const seed = seedFromEnv(131);
  console.log(`[raftstore] sim-metrics: seed ${seed} (replay with RAFTSTORE_SEED=${seed})`);
  // Reads go to the poller, which counts them (the main thread's lease reads are the router's count).
  const cluster = new SimCluster({ stores: 3, seed, localReads: false });
  await cluster.start();
  const registries = new Map<number, Registry>();
  for (const id of [1, 2, 3]) {
    const registry = new Registry();
    registerThreadMetrics(registry, async () => (await cluster.stores.get(id)?.metricsSnapshots()) ?? []);
    registries.set(id, registry);
  }
  const text = (id: number) => registries.get(id)!.metrics();

  const leader = await cluster.waitLeader();
  for (let i = 0; i < 10; i++) await cluster.put(`k${i}`, `v${i}`);
  expect(await cluster.get('k3')).toBe('v3');
  await cluster.run(5);

  const leaderText = await text(leader);
  expect(sample(leaderText, 'tinykv_raftstore_proposals_total{kind="normal"}')).toBeGreaterThanOrEqual(10);
  expect(sample(leaderText, 'tinykv_raftstore_leader_changes_total')).toBeGreaterThanOrEqual(1);
  expect(sample(leaderText, 'tinykv_raftstore_commit_log_duration_seconds_count')).toBeGreaterThanOrEqual(10);
  // A read waits for a ReadIndex round, or is served from the leader's lease.
  const readIndexRounds = sample(leaderText, 'tinykv_raftstore_read_index_duration_seconds_count');
  expect(readIndexRounds + sample(leaderText, 'tinykv_raftstore_lease_reads_total')).toBeGreaterThanOrEqual(1);
  const follower = [1, 2, 3].find((id) => id !== leader)!;
  const before = await text(follower);
  // A follower proposes nothing of its own, yet it appends and applies what the leader replicates.
  expect(sample(before, 'tinykv_raftstore_proposals_total{kind="normal"}')).toBe(0);
  const appliedBefore = sample(before, 'tinykv_raftstore_apply_duration_seconds_count');
  const appendsBefore = sample(before, 'tinykv_raftstore_append_log_duration_seconds_count');
  expect(appliedBefore).toBeGreaterThan(0);
  expect(appendsBefore).toBeGreaterThan(0);

  // The follower crashes and comes back: new recorders, and its registry's counters keep climbing.
  await cluster.crash(follower);
  expect(sample(await text(follower), 'tinykv_raftstore_apply_duration_seconds_count')).toBe(appliedBefore);
  await cluster.restart(follower);
  for (let i = 10; i < 15; i++) await cluster.put(`k${i}`, `v${i}`);
  await cluster.run(10);
  const after = await text(follower);
  // What the restarted store's own recorders counted, on top of what its first life counted.
  const [poller, apply] = await cluster.stores.get(follower)!.metricsSnapshots();
  const freshApplies = apply?.snapshot.histograms.find((h) => h.name === 'tinykv_raftstore_apply_duration_seconds')?.count ?? 0;
  const freshAppends = poller?.snapshot.histograms.find((h) => h.name === 'tinykv_raftstore_append_log_duration_seconds')?.count ?? 0;
  expect(freshApplies).toBeGreaterThan(0);
  expect(sample(after, 'tinykv_raftstore_apply_duration_seconds_count')).toBe(appliedBefore + freshApplies);
  expect(sample(after, 'tinykv_raftstore_append_log_duration_seconds_count')).toBe(appendsBefore + freshAppends);
});
