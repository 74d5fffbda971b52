// Raftstore metrics counted on raft poller and apply threads reach the main thread's registry
// (src/metrics/thread-metrics.ts): three stores over gRPC and LMDB, one poller and one apply thread each.
import { Registry } from 'prom-client';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { registerThreadMetrics } from '../../src/metrics/thread-metrics.js';
import { defined } from '../../src/util/assert.js';
import { firstAnswer, InProcessCluster, withClient } from './harness.js';

let cluster: InProcessCluster;

beforeAll(async () => {
  cluster = await InProcessCluster.start({ raftPollers: 1 });
});

afterAll(async () => {
  await cluster.close();
});

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

  const registry = new Registry();
  const router = leader.store;
  registerThreadMetrics(registry, () => defined(router.metricsSnapshots, 'metricsSnapshots of a store').call(router));
  const text = await registry.metrics();
  expect(sample(text, 'tinykv_raftstore_proposals_total{kind="normal"}')).toBeGreaterThanOrEqual(20);
  expect(sample(text, 'tinykv_raftstore_proposals_total{kind="read"}')).toBeGreaterThanOrEqual(5);
  expect(sample(text, 'tinykv_raftstore_leader_changes_total')).toBeGreaterThanOrEqual(1);
  for (const histogram of ['append_log', 'commit_log', 'apply', 'poll_round', 'read_index']) {
    expect(sample(text, `tinykv_raftstore_${histogram}_duration_seconds_count`), histogram).toBeGreaterThan(0);
    expect(sample(text, `tinykv_raftstore_${histogram}_duration_seconds_sum`), histogram).toBeGreaterThan(0);
  }
  // One series per thread, a gauge of what waits for it.
  expect(text).toMatch(/^tinykv_thread_queue_depth\{thread="poller-0"\} \d+$/m);
  expect(text).toMatch(/^tinykv_thread_queue_depth\{thread="apply-0"\} \d+$/m);

  // The followers applied the writes on their apply threads too.
  for (const follower of cluster.all().filter((node) => node !== leader)) {
    const followerRegistry = new Registry();
    registerThreadMetrics(followerRegistry, () => defined(follower.store.metricsSnapshots, 'metricsSnapshots').call(follower.store));
    const followerText = await followerRegistry.metrics();
    expect(sample(followerText, 'tinykv_raftstore_apply_duration_seconds_count')).toBeGreaterThan(0);
    expect(sample(followerText, 'tinykv_raftstore_append_log_duration_seconds_count')).toBeGreaterThan(0);
  }
});
