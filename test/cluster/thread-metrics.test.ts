// Raftstore metrics counted on raft poller and apply threads reach the main thread's registry
// (src/metrics/thread-metrics.ts): three stores over gRPC and LMDB, one poller and one apply thread each.
import { Registry } from 'prom-client';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { registerThreadMetrics } from '../../src/metrics/thread-metrics.js';
import { defined } from '../../src/util/assert.js';
import type { ClusterNode } from '../../src/server/cluster-node.js';
import { firstAnswer, InProcessCluster, withClient } from './harness.js';

let cluster: InProcessCluster;

beforeAll(async () => {
  cluster = await InProcessCluster.start({ raftPollers: 1, raftLogGcCountLimit: 20 });
});

afterAll(async () => {
  await cluster.close();
});

/** The Prometheus text of a registry over one store's thread metrics. */
function scrape(node: ClusterNode): Promise<string> {
  const registry = new Registry();
  registerThreadMetrics(registry, () => defined(node.store.metricsSnapshots, 'metricsSnapshots of a store').call(node.store));
  return registry.metrics();
}

function sample(text: string, series: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? 0 : Number(line.slice(series.length + 1));
}

it('shows proposals, append/commit/apply durations and leader changes counted on the store threads', async () => {
  const { node: leader } = await firstAnswer(
    (addr) => withClient(addr, (c) => c.put('m-0', 'v'), 2_000),
    () => cluster.all(),
  );
  await withClient(leader.addr, async (client) => {
    for (let i = 1; i < 20; i++) await client.put(`m-${i}`, 'v');
    for (let i = 0; i < 5; i++) await client.get(`m-${i}`);
  });

  const text = await scrape(leader);
  expect(sample(text, 'tinykv_raftstore_proposals_total{kind="normal"}')).toBeGreaterThanOrEqual(20);
  // A read is served on the main thread from the leader's lease, or proposed to the poller.
  const proposedReads = sample(text, 'tinykv_raftstore_proposals_total{kind="read"}');
  expect(proposedReads + (leader.store.localReads?.served ?? 0)).toBeGreaterThanOrEqual(5);
  expect(sample(text, 'tinykv_raftstore_leader_changes_total')).toBeGreaterThanOrEqual(1);
  // Lease renewals are ReadIndex rounds of their own, with no reads: only rounds that carried reads are timed.
  for (const histogram of ['append_log', 'commit_log', 'apply', 'poll_round']) {
    expect(sample(text, `tinykv_raftstore_${histogram}_duration_seconds_count`), histogram).toBeGreaterThan(0);
    expect(sample(text, `tinykv_raftstore_${histogram}_duration_seconds_sum`), histogram).toBeGreaterThan(0);
  }
  // Engine commits are timed where they happen: the raft engine on the poller, the kv engine on the apply thread.
  for (const engine of ['raft', 'kv']) {
    expect(sample(text, `tinykv_engine_commit_duration_seconds_count{engine="${engine}"}`), engine).toBeGreaterThan(0);
    expect(sample(text, `tinykv_engine_commit_duration_seconds_bucket{engine="${engine}",le="+Inf"}`), engine).toBeGreaterThan(0);
  }
  expect(text.match(/^# TYPE tinykv_engine_commit_duration_seconds histogram$/gm)).toHaveLength(1);
  // One series per thread, a gauge of what waits for it.
  expect(text).toMatch(/^tinykv_thread_queue_depth\{thread="poller-0"\} \d+$/m);
  expect(text).toMatch(/^tinykv_thread_queue_depth\{thread="apply-0"\} \d+$/m);

  // The followers applied the writes on their apply threads too.
  for (const follower of cluster.all().filter((node) => node !== leader)) {
    const followerText = await scrape(follower);
    expect(sample(followerText, 'tinykv_raftstore_apply_duration_seconds_count')).toBeGreaterThan(0);
    expect(sample(followerText, 'tinykv_raftstore_append_log_duration_seconds_count')).toBeGreaterThan(0);
  }
});

it('counts a snapshot sent by the leader, received and applied by a follower that fell behind', async () => {
  const { node: leader } = await firstAnswer(
    (addr) => withClient(addr, (c) => c.put('s-first', 'v'), 2_000),
    () => cluster.all(),
  );
  const follower = defined(
    cluster.all().find((node) => node !== leader),
    'a follower',
  );
  const dataDir = follower.config.dataDir;
  await cluster.stopStore(follower);
  // Past the raft-log GC limit: the follower can only catch up by snapshot.
  await withClient(leader.addr, async (client) => {
    for (let i = 0; i < 60; i++) await client.put(`s-${i}`, 'v');
  });
  await new Promise((resolve) => setTimeout(resolve, 500)); // several GC ticks on the leader
  const restarted = await cluster.startStore(dataDir);
  const applied = 'tinykv_raftstore_snapshots_total{direction="applied",result="ok"}';
  let received = await scrape(restarted);
  for (const deadline = Date.now() + 20_000; sample(received, applied) < 1 && Date.now() < deadline;) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    received = await scrape(restarted);
  }
  expect(sample(received, 'tinykv_raftstore_snapshots_total{direction="received",result="ok"}')).toBeGreaterThanOrEqual(1);
  expect(sample(received, applied)).toBeGreaterThanOrEqual(1);
  expect(sample(await scrape(leader), 'tinykv_raftstore_snapshots_total{direction="sent",result="ok"}')).toBeGreaterThanOrEqual(1);
});
