/**
 * The raftstore's thread metrics in the main thread's prom-client registry. Threads count in their
 * own recorders (thread-recorder.ts); at every scrape the metrics here pull one snapshot of each
 * thread (one pull shared by every metric of the scrape) and sum them: counters and histogram
 * buckets add up across threads.
 *
 * Nothing counted is lost and no counter goes backwards: per thread the last snapshot is kept, so a
 * thread that ended (or does not answer in time) still counts what it counted; a thread that comes
 * back with a new recorder (a new incarnation, or counts below the last ones) has its old totals
 * moved into a base that stays.
 */
import type { Registry } from 'prom-client';
import {
  COUNTER_NAMES,
  DURATION_BUCKETS_SECONDS,
  HISTOGRAM_NAMES,
  type CounterName,
  type CounterSample,
  type HistogramName,
  type HistogramSample,
  type ThreadMetricsSnapshot,
} from './thread-recorder.js';

/** One thread's snapshot as the main thread pulled it. */
export interface ThreadSnapshot {
  /** The thread's label: "poller-0", "apply-1", "main" (a store polling on the main thread). */
  readonly thread: string;
  readonly snapshot: ThreadMetricsSnapshot;
  /** Frames waiting for the thread (`tinykv_thread_queue_depth{thread}`). */
  readonly queueDepth: number;
}

/** Pulls a snapshot of every live thread; a thread that cannot answer is left out. */
export type ThreadSnapshotSource = () => Promise<readonly ThreadSnapshot[]>;

export const QUEUE_DEPTH_METRIC = 'tinykv_thread_queue_depth';

const HELP: Record<CounterName | HistogramName, string> = {
  [COUNTER_NAMES.proposals]: 'Commands proposed to Raft by the leaders of this store, by kind.',
  [COUNTER_NAMES.snapshots]: 'Region snapshots sent (handed to the transport), received (accepted by the gate) and applied, by result.',
  [COUNTER_NAMES.leaderChanges]: 'Times a peer of this store became leader.',
  [COUNTER_NAMES.leaseReads]:
    'Reads a raft poller served from its leader lease, without a ReadIndex round (the main thread counts its own in tinykv_local_reads_total).',
  [HISTOGRAM_NAMES.appendLog]: 'Raft-log write (one group commit) of a poll round.',
  [HISTOGRAM_NAMES.commitLog]: 'From proposing a command to its entry committing, on the leader.',
  [HISTOGRAM_NAMES.apply]: 'Applying one batch of committed entries on the apply system.',
  [HISTOGRAM_NAMES.pollRound]: 'One poll round of a raft poller (every peer with a Ready).',
  [HISTOGRAM_NAMES.readIndex]: 'From asking Raft for a ReadIndex to its confirmation.',
  [HISTOGRAM_NAMES.engineCommit]: 'One write batch committed to an engine by a raft poller (raft) or an apply thread (kv), by engine.',
};

/** A series' key: its name and label values. */
const seriesKey = (sample: { readonly name: string; readonly labels: Readonly<Record<string, string>> }) =>
  `${sample.name}|${JSON.stringify(sample.labels)}`;

/** Summed series: counters and histograms by name and label values. */
export class MetricTotals {
  readonly counters = new Map<string, CounterSample>();
  readonly histograms = new Map<string, HistogramSample>();

  add(snapshot: Pick<ThreadMetricsSnapshot, 'counters' | 'histograms'>): void {
    for (const sample of snapshot.counters) {
      const key = seriesKey(sample);
      const total = this.counters.get(key);
      this.counters.set(key, { ...sample, value: (total?.value ?? 0) + sample.value });
    }
    for (const sample of snapshot.histograms) {
      const key = seriesKey(sample);
      const total = this.histograms.get(key);
      this.histograms.set(key, {
        name: sample.name,
        labels: sample.labels,
        bucketCounts: sample.bucketCounts.map((count, i) => count + (total?.bucketCounts[i] ?? 0)),
        sumSeconds: sample.sumSeconds + (total?.sumSeconds ?? 0),
        count: sample.count + (total?.count ?? 0),
      });
    }
  }

  toSnapshot(): Pick<ThreadMetricsSnapshot, 'counters' | 'histograms'> {
    return { counters: [...this.counters.values()], histograms: [...this.histograms.values()] };
  }
}

interface ThreadTotals {
  /** What earlier incarnations of the thread counted. */
  readonly base: MetricTotals;
  last: ThreadMetricsSnapshot;
}

/** Whether `next` comes from a recorder other than the one `last` came from. */
function restarted(last: ThreadMetricsSnapshot, next: ThreadMetricsSnapshot): boolean {
  if (last.incarnation !== next.incarnation) return true;
  const now = new Map(next.counters.map((c) => [seriesKey(c), c.value]));
  const counterFell = last.counters.some((c) => (now.get(seriesKey(c)) ?? 0) < c.value);
  const histogramCounts = new Map(next.histograms.map((h) => [seriesKey(h), h.count]));
  return counterFell || last.histograms.some((h) => (histogramCounts.get(seriesKey(h)) ?? 0) < h.count);
}

/** Cumulative totals over every thread and every incarnation of it. */
export class ThreadMetricsAggregator {
  private readonly threads = new Map<string, ThreadTotals>();
  private queueDepths: ReadonlyMap<string, number> = new Map();

  /** Takes one pull's snapshots; threads missing from it keep what they counted. */
  update(snapshots: readonly ThreadSnapshot[]): void {
    for (const { thread, snapshot } of snapshots) {
      const totals = this.threads.get(thread);
      if (!totals) {
        this.threads.set(thread, { base: new MetricTotals(), last: snapshot });
        continue;
      }
      if (restarted(totals.last, snapshot)) totals.base.add(totals.last);
      totals.last = snapshot;
    }
    // A gauge: only what the threads answering now have waiting.
    this.queueDepths = new Map(snapshots.map(({ thread, queueDepth }) => [thread, queueDepth]));
  }

  totals(): MetricTotals {
    const sum = new MetricTotals();
    for (const { base, last } of this.threads.values()) {
      sum.add(base.toSnapshot());
      sum.add(last);
    }
    return sum;
  }

  queueDepth(): ReadonlyMap<string, number> {
    return this.queueDepths;
  }
}

/** What a prom-client Registry reads of a metric (its `get()`), for metrics computed at scrape time. */
interface PulledMetric {
  readonly name: string;
  readonly help: string;
  readonly type: 'counter' | 'gauge' | 'histogram';
  readonly aggregator: 'sum';
  get(): Promise<{ name: string; help: string; type: string; aggregator: 'sum'; values: MetricValue[] }>;
  reset(): void;
}

interface MetricValue {
  readonly value: number;
  readonly labels: Record<string, string | number>;
  readonly metricName?: string;
}

function pulled(name: string, help: string, type: PulledMetric['type'], values: () => Promise<MetricValue[]>): PulledMetric {
  return {
    name,
    help,
    type,
    aggregator: 'sum',
    get: async () => ({ name, help, type, aggregator: 'sum', values: await values() }),
    reset: () => {},
  };
}

/** One series of a histogram; `labels` are the series' own (none for an empty unlabelled histogram). */
function histogramValues(name: HistogramName, labels: Readonly<Record<string, string>>, sample: HistogramSample | undefined): MetricValue[] {
  const values: MetricValue[] = [];
  let cumulative = 0;
  DURATION_BUCKETS_SECONDS.forEach((le, i) => {
    cumulative += sample?.bucketCounts[i] ?? 0;
    values.push({ metricName: `${name}_bucket`, labels: { ...labels, le }, value: cumulative });
  });
  values.push({ metricName: `${name}_bucket`, labels: { ...labels, le: '+Inf' }, value: sample?.count ?? 0 });
  values.push({ metricName: `${name}_sum`, labels: { ...labels }, value: sample?.sumSeconds ?? 0 });
  values.push({ metricName: `${name}_count`, labels: { ...labels }, value: sample?.count ?? 0 });
  return values;
}

/** Every series of a histogram; an unlabelled one reads as empty buckets before anything was observed. */
function histogramSeries(name: HistogramName, totals: MetricTotals): MetricValue[] {
  const series = [...totals.histograms.values()].filter((sample) => sample.name === name);
  if (series.length === 0) return name === HISTOGRAM_NAMES.engineCommit ? [] : histogramValues(name, {}, undefined);
  return series.flatMap((sample) => histogramValues(name, sample.labels, sample));
}

/**
 * Registers the thread metrics on `registry`, pulled from `source` at scrape time. Concurrent
 * reads of the metrics (one scrape reads them all at once) share one pull. Returns the aggregator
 * (for tests and for a caller that wants the totals without a scrape).
 */
export function registerThreadMetrics(registry: Registry, source: ThreadSnapshotSource): ThreadMetricsAggregator {
  const aggregator = new ThreadMetricsAggregator();
  let pulling: Promise<void> | undefined;
  const refresh = (): Promise<void> => {
    // The source leaves out threads that do not answer; should it fail as a whole, the scrape
    // still shows the totals of the last pull rather than failing.
    pulling ??= source()
      .then(
        (snapshots) => aggregator.update(snapshots),
        () => {},
      )
      .finally(() => (pulling = undefined));
    return pulling;
  };
  const metrics: PulledMetric[] = [];
  for (const name of Object.values(COUNTER_NAMES)) {
    metrics.push(
      pulled(name, HELP[name], 'counter', async () => {
        await refresh();
        const series = [...aggregator.totals().counters.values()].filter((sample) => sample.name === name);
        // A counter without labels reads 0 before anything was counted, as prom-client's do.
        if (series.length === 0 && name === COUNTER_NAMES.leaderChanges) return [{ labels: {}, value: 0 }];
        return series.map(({ labels, value }) => ({ labels: { ...labels }, value }));
      }),
    );
  }
  for (const name of Object.values(HISTOGRAM_NAMES)) {
    metrics.push(
      pulled(name, HELP[name], 'histogram', async () => {
        await refresh();
        return histogramSeries(name, aggregator.totals());
      }),
    );
  }
  metrics.push(
    pulled(QUEUE_DEPTH_METRIC, 'Frames (or apply tasks) waiting for a raft poller or apply thread.', 'gauge', async () => {
      await refresh();
      return [...aggregator.queueDepth()].map(([thread, value]) => ({ labels: { thread }, value }));
    }),
  );
  // The registry takes any object with its metric interface; prom-client's type lists only its classes.
  for (const metric of metrics) registry.registerMetric(metric as unknown as Parameters<Registry['registerMetric']>[0]);
  return aggregator;
}
