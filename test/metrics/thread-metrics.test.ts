// Raftstore metrics counted on store threads (src/metrics/thread-recorder.ts) and summed in the main
// thread's prom-client registry (src/metrics/thread-metrics.ts): sums across threads, counters that
// never go backwards when a thread restarts or ends, one pull per scrape.
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { registerThreadMetrics, type ThreadSnapshot } from '../../src/metrics/thread-metrics.js';
import { HISTOGRAM_NAMES, RaftstoreMetrics, type ThreadMetricsSnapshot } from '../../src/metrics/thread-recorder.js';

/** A recorder on a clock the test moves. */
function recorder(incarnation: string): { metrics: RaftstoreMetrics; advanceMs(ms: number): void } {
  let nowMs = 0;
  const metrics = new RaftstoreMetrics({ nowMs: () => nowMs, incarnation });
  return { metrics, advanceMs: (ms) => (nowMs += ms) };
}

function pulled(thread: string, snapshot: ThreadMetricsSnapshot, queueDepth = 0): ThreadSnapshot {
  return { thread, snapshot, queueDepth };
}

/** The value of one sample line of the Prometheus text, e.g. `tinykv_raftstore_proposals_total{kind="normal"}`. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe('thread recorder', () => {
  it('counts by label and puts durations in fixed buckets', () => {
    const { metrics, advanceMs } = recorder('a');
    metrics.proposal('normal');
    metrics.proposal('normal');
    metrics.proposal('read');
    metrics.snapshot('received', 'failed');
    metrics.leaderChange();
    const startMs = metrics.nowMs();
    advanceMs(3);
    metrics.since(HISTOGRAM_NAMES.appendLog, startMs);
    metrics.observeMs(HISTOGRAM_NAMES.appendLog, 20_000);
    metrics.received(4);
    metrics.queued = () => 2;

    const snapshot = metrics.takeSnapshot();
    expect(snapshot.counters).toEqual([
      { name: 'tinykv_raftstore_proposals_total', labels: { kind: 'normal' }, value: 2 },
      { name: 'tinykv_raftstore_proposals_total', labels: { kind: 'read' }, value: 1 },
      { name: 'tinykv_raftstore_snapshots_total', labels: { direction: 'received', result: 'failed' }, value: 1 },
      { name: 'tinykv_raftstore_leader_changes_total', labels: {}, value: 1 },
    ]);
    const [append] = snapshot.histograms;
    expect(append?.name).toBe('tinykv_raftstore_append_log_duration_seconds');
    expect(append?.count).toBe(2);
    expect(append?.sumSeconds).toBeCloseTo(20.003, 9);
    // 3 ms lands in the 5 ms bucket (index 6); 20 s only in +Inf (the last).
    expect(append?.bucketCounts[6]).toBe(1);
    expect(append?.bucketCounts.at(-1)).toBe(1);
    expect(append?.bucketCounts.reduce((a, b) => a + b, 0)).toBe(2);
    expect(snapshot).toMatchObject({ incarnation: 'a', framesReceived: 4, queued: 2 });
    // A snapshot is a copy: counting on does not change it (it crosses threads by structured clone).
    metrics.proposal('normal');
    expect(snapshot.counters[0]?.value).toBe(2);
  });
});

describe('registerThreadMetrics', () => {
  it('sums counters and histogram buckets across threads, with the issue’s names and labels', async () => {
    const poller = recorder('p');
    const apply = recorder('a');
    poller.metrics.proposal('normal');
    poller.metrics.proposal('conf_change');
    poller.metrics.leaderChange();
    poller.metrics.observeMs(HISTOGRAM_NAMES.commitLog, 2);
    apply.metrics.observeMs(HISTOGRAM_NAMES.apply, 0.5);
    apply.metrics.observeMs(HISTOGRAM_NAMES.apply, 700);
    apply.metrics.snapshot('applied', 'ok');
    const poller2 = recorder('p2');
    poller2.metrics.proposal('normal');
    poller2.metrics.observeMs(HISTOGRAM_NAMES.commitLog, 2);
    // Engine commits: the raft engine on both pollers, the kv engine on the apply thread.
    poller.metrics.engineCommitMs('raft', 0.2);
    poller2.metrics.engineCommitMs('raft', 3);
    apply.metrics.engineCommitMs('kv', 0.04);

    const registry = new Registry();
    registerThreadMetrics(registry, async () => [
      pulled('poller-0', poller.metrics.takeSnapshot(), 3),
      pulled('poller-1', poller2.metrics.takeSnapshot()),
      pulled('apply-0', apply.metrics.takeSnapshot(), 1),
    ]);
    const text = await registry.metrics();
    expect(sample(text, 'tinykv_raftstore_proposals_total{kind="normal"}')).toBe(2);
    expect(sample(text, 'tinykv_raftstore_proposals_total{kind="conf_change"}')).toBe(1);
    expect(sample(text, 'tinykv_raftstore_leader_changes_total')).toBe(1);
    expect(sample(text, 'tinykv_raftstore_snapshots_total{direction="applied",result="ok"}')).toBe(1);
    expect(sample(text, 'tinykv_raftstore_commit_log_duration_seconds_bucket{le="0.001"}')).toBe(0);
    expect(sample(text, 'tinykv_raftstore_commit_log_duration_seconds_bucket{le="0.0025"}')).toBe(2);
    expect(sample(text, 'tinykv_raftstore_commit_log_duration_seconds_count')).toBe(2);
    expect(sample(text, 'tinykv_raftstore_apply_duration_seconds_bucket{le="0.0005"}')).toBe(1);
    expect(sample(text, 'tinykv_raftstore_apply_duration_seconds_bucket{le="1"}')).toBe(2);
    expect(sample(text, 'tinykv_raftstore_apply_duration_seconds_bucket{le="+Inf"}')).toBe(2);
    expect(sample(text, 'tinykv_raftstore_apply_duration_seconds_sum')).toBeCloseTo(0.7005, 9);
    expect(sample(text, 'tinykv_engine_commit_duration_seconds_count{engine="raft"}')).toBe(2);
    expect(sample(text, 'tinykv_engine_commit_duration_seconds_bucket{engine="raft",le="0.00025"}')).toBe(1);
    expect(sample(text, 'tinykv_engine_commit_duration_seconds_sum{engine="raft"}')).toBeCloseTo(0.0032, 9);
    expect(sample(text, 'tinykv_engine_commit_duration_seconds_bucket{engine="kv",le="0.00005"}')).toBe(1);
    expect(sample(text, 'tinykv_engine_commit_duration_seconds_count{engine="kv"}')).toBe(1);
    expect(sample(text, 'tinykv_thread_queue_depth{thread="poller-0"}')).toBe(3);
    expect(sample(text, 'tinykv_thread_queue_depth{thread="apply-0"}')).toBe(1);
    // Every metric the issue names for the raftstore threads, with its type.
    for (const [name, type] of [
      ['tinykv_raftstore_proposals_total', 'counter'],
      ['tinykv_raftstore_snapshots_total', 'counter'],
      ['tinykv_raftstore_leader_changes_total', 'counter'],
      ['tinykv_raftstore_append_log_duration_seconds', 'histogram'],
      ['tinykv_raftstore_commit_log_duration_seconds', 'histogram'],
      ['tinykv_raftstore_apply_duration_seconds', 'histogram'],
      ['tinykv_raftstore_poll_round_duration_seconds', 'histogram'],
      ['tinykv_raftstore_read_index_duration_seconds', 'histogram'],
      ['tinykv_engine_commit_duration_seconds', 'histogram'],
      ['tinykv_thread_queue_depth', 'gauge'],
    ]) {
      expect(text).toContain(`# TYPE ${name} ${type}\n`);
    }
    // A histogram nothing observed yet still shows its buckets, at zero.
    expect(sample(text, 'tinykv_raftstore_poll_round_duration_seconds_count')).toBe(0);
  });

  it('never lets a counter go backwards when a thread restarts or ends', async () => {
    let pulls: ThreadSnapshot[] = [];
    const registry = new Registry();
    registerThreadMetrics(registry, async () => pulls);
    const proposals = async () => sample(await registry.metrics(), 'tinykv_raftstore_proposals_total{kind="normal"}');
    const commits = async () => sample(await registry.metrics(), 'tinykv_raftstore_commit_log_duration_seconds_count');

    const first = recorder('first');
    for (let i = 0; i < 5; i++) first.metrics.proposal('normal');
    first.metrics.observeMs(HISTOGRAM_NAMES.commitLog, 1);
    const other = recorder('other');
    other.metrics.proposal('normal');
    pulls = [pulled('poller-0', first.metrics.takeSnapshot()), pulled('apply-0', other.metrics.takeSnapshot())];
    expect(await proposals()).toBe(6);

    // poller-0 restarted: a new recorder that counted 2 so far. Its first life's 5 stay.
    const second = recorder('second');
    second.metrics.proposal('normal');
    second.metrics.proposal('normal');
    second.metrics.observeMs(HISTOGRAM_NAMES.commitLog, 1);
    pulls = [pulled('poller-0', second.metrics.takeSnapshot()), pulled('apply-0', other.metrics.takeSnapshot())];
    expect(await proposals()).toBe(8);
    expect(await commits()).toBe(2);
    second.metrics.proposal('normal');
    pulls = [pulled('poller-0', second.metrics.takeSnapshot()), pulled('apply-0', other.metrics.takeSnapshot())];
    expect(await proposals()).toBe(9);

    // apply-0 ended (or did not answer in time): what it counted stays; it has no queue depth now.
    pulls = [pulled('poller-0', second.metrics.takeSnapshot())];
    const text = await registry.metrics();
    expect(sample(text, 'tinykv_raftstore_proposals_total{kind="normal"}')).toBe(9);
    expect(text).not.toContain('thread="apply-0"');

    // Counts that fell under the same incarnation are a restart too (a recorder that was replaced).
    const reset = new RaftstoreMetrics({ incarnation: 'second' });
    reset.proposal('normal');
    pulls = [pulled('poller-0', reset.takeSnapshot())];
    expect(await proposals()).toBe(10);
    expect(await commits()).toBe(2);
  });

  it('pulls once per scrape, and a failed pull keeps the last totals', async () => {
    const thread = recorder('t');
    thread.metrics.proposal('split');
    let calls = 0;
    let fail = false;
    const registry = new Registry();
    registerThreadMetrics(registry, async () => {
      calls++;
      if (fail) throw new Error('control port closed');
      return [pulled('poller-0', thread.metrics.takeSnapshot())];
    });
    expect(sample(await registry.metrics(), 'tinykv_raftstore_proposals_total{kind="split"}')).toBe(1);
    expect(calls).toBe(1);
    fail = true;
    expect(sample(await registry.metrics(), 'tinykv_raftstore_proposals_total{kind="split"}')).toBe(1);
    expect(calls).toBe(2);
  });

  it('keeps the recorders of two stores apart', () => {
    const a = new RaftstoreMetrics();
    const b = new RaftstoreMetrics();
    a.proposal('read');
    expect(b.takeSnapshot().counters).toEqual([]);
    expect(a.takeSnapshot().incarnation).not.toBe(b.takeSnapshot().incarnation);
  });
});

describe('a recorder with metrics off (server.metrics = false)', () => {
  it('counts nothing and reads no clock', () => {
    let clockReads = 0;
    const metrics = new RaftstoreMetrics({ enabled: false, incarnation: 'off', nowMs: () => ++clockReads });
    metrics.proposal('normal');
    metrics.snapshot('sent', 'ok');
    metrics.leaderChange();
    metrics.since(HISTOGRAM_NAMES.apply, metrics.nowMs());
    metrics.engineCommitMs('kv', 3);
    const snapshot = metrics.takeSnapshot();
    expect(snapshot.counters).toEqual([]);
    expect(snapshot.histograms).toEqual([]);
    expect(clockReads).toBe(0);
  });
});
