/**
 * The raftstore's metrics as its threads count them (raft pollers, apply threads, and the
 * single-thread store): plain numbers, no prom-client, so counting costs an increment on the hot
 * path. The main thread pulls a snapshot of each thread's recorder over the control plane and sums
 * them into its registry (thread-metrics.ts). Each store (each thread) owns its recorder: nothing
 * here is global, so the simulation's stores count apart.
 */
import { performance } from 'node:perf_hooks';
import { randomUUID } from 'node:crypto';

/** Upper bounds of every duration histogram, in seconds (from 50 µs, an fsync-free write, to 10 s). */
export const DURATION_BUCKETS_SECONDS: readonly number[] = [
  0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
];

/** The kinds of command a peer proposes (`tinykv_raftstore_proposals_total{kind}`). */
export type ProposalKind = 'normal' | 'read' | 'conf_change' | 'split' | 'transfer_leader';
export type SnapshotDirection = 'sent' | 'received' | 'applied';
export type SnapshotResult = 'ok' | 'failed';

/** Counter names, as the issue fixes them. */
export const COUNTER_NAMES = {
  proposals: 'tinykv_raftstore_proposals_total',
  snapshots: 'tinykv_raftstore_snapshots_total',
  leaderChanges: 'tinykv_raftstore_leader_changes_total',
  leaseReads: 'tinykv_raftstore_lease_reads_total',
} as const;

/** Histogram names, as the issue fixes them. */
export const HISTOGRAM_NAMES = {
  appendLog: 'tinykv_raftstore_append_log_duration_seconds',
  commitLog: 'tinykv_raftstore_commit_log_duration_seconds',
  apply: 'tinykv_raftstore_apply_duration_seconds',
  pollRound: 'tinykv_raftstore_poll_round_duration_seconds',
  readIndex: 'tinykv_raftstore_read_index_duration_seconds',
  /** Labelled by `engine` (raft, kv): the raft pollers commit the raft engine, the apply threads the kv engine. */
  engineCommit: 'tinykv_engine_commit_duration_seconds',
} as const;

/** The engines a store's threads commit to (`tinykv_engine_commit_duration_seconds{engine}`). */
export type EngineName = 'raft' | 'kv';

export type CounterName = (typeof COUNTER_NAMES)[keyof typeof COUNTER_NAMES];
export type HistogramName = (typeof HISTOGRAM_NAMES)[keyof typeof HISTOGRAM_NAMES];

export interface CounterSample {
  readonly name: CounterName;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

export interface HistogramSample {
  readonly name: HistogramName;
  /** Label values of the series ({} for a histogram without labels). */
  readonly labels: Readonly<Record<string, string>>;
  /** Observations per bucket of DURATION_BUCKETS_SECONDS, not cumulative; the last one is +Inf. */
  readonly bucketCounts: readonly number[];
  readonly sumSeconds: number;
  readonly count: number;
}

/** What a thread answers on the control plane's `metricsSnapshot()`: a structured-clone-safe copy. */
export interface ThreadMetricsSnapshot {
  /** Differs for every recorder: a thread that restarted comes back with a new one. */
  readonly incarnation: string;
  readonly counters: readonly CounterSample[];
  readonly histograms: readonly HistogramSample[];
  /** Frames the thread took off its input port (the main thread derives a poller's queue depth). */
  readonly framesReceived: number;
  /** Work queued inside the thread (an apply thread's tasks), sampled now. */
  readonly queued: number;
}

class FixedHistogram {
  readonly bucketCounts: number[] = new Array<number>(DURATION_BUCKETS_SECONDS.length + 1).fill(0);
  sumSeconds = 0;
  count = 0;

  observe(seconds: number): void {
    let bucket = 0;
    while (bucket < DURATION_BUCKETS_SECONDS.length && seconds > (DURATION_BUCKETS_SECONDS[bucket] ?? Infinity)) bucket++;
    this.bucketCounts[bucket] = (this.bucketCounts[bucket] ?? 0) + 1;
    this.sumSeconds += seconds;
    this.count++;
  }
}

interface Counter {
  readonly name: CounterName;
  readonly labels: Readonly<Record<string, string>>;
  value: number;
}

export interface RaftstoreMetricsOptions {
  /** A monotonic clock in milliseconds; default performance.now (durations only, never decisions). */
  readonly nowMs?: () => number;
  /** Default a random id. */
  readonly incarnation?: string;
  /**
   * Default true. False (server.metrics = false) makes every count a no-op and the clock read 0:
   * the switch that measures what counting costs the hot path.
   */
  readonly enabled?: boolean;
}

/** One thread's raftstore metrics. */
export class RaftstoreMetrics {
  readonly nowMs: () => number;
  private readonly incarnation: string;
  /** Series by name, then by a key of their label values, created on first use (no string built per count). */
  private readonly counters = new Map<CounterName, Map<string, Counter>>();
  private readonly histograms = new Map<HistogramName, FixedHistogram>();
  /** Engine commit durations by engine (the one labelled histogram). */
  private readonly engineCommits = new Map<EngineName, FixedHistogram>();
  private framesReceived = 0;
  /** Sampled into each snapshot (an apply thread's queue). */
  queued: () => number = () => 0;

  private readonly enabled: boolean;

  constructor(options: RaftstoreMetricsOptions = {}) {
    this.enabled = options.enabled ?? true;
    this.nowMs = this.enabled ? (options.nowMs ?? (() => performance.now())) : () => 0;
    this.incarnation = options.incarnation ?? randomUUID();
  }

  proposal(kind: ProposalKind): void {
    if (!this.enabled) return;
    this.count(COUNTER_NAMES.proposals, kind, { kind });
  }

  snapshot(direction: SnapshotDirection, result: SnapshotResult): void {
    if (!this.enabled) return;
    this.count(COUNTER_NAMES.snapshots, `${direction}/${result}`, { direction, result });
  }

  leaderChange(): void {
    if (!this.enabled) return;
    this.count(COUNTER_NAMES.leaderChanges, '', {});
  }

  /** Reads a raft poller served from its leader's lease, with no ReadIndex round. */
  leaseReads(reads: number): void {
    if (!this.enabled) return;
    this.count(COUNTER_NAMES.leaseReads, '', {}, reads);
  }

  /** A duration that started at `startMs` of this recorder's clock ends now. */
  since(name: HistogramName, startMs: number): void {
    this.observeMs(name, this.nowMs() - startMs);
  }

  observeMs(name: HistogramName, durationMs: number): void {
    if (!this.enabled) return;
    let histogram = this.histograms.get(name);
    if (!histogram) this.histograms.set(name, (histogram = new FixedHistogram()));
    histogram.observe(Math.max(0, durationMs) / 1000);
  }

  /** One write batch committed to `engine`, which took `durationMs`. */
  engineCommitMs(engine: EngineName, durationMs: number): void {
    if (!this.enabled) return;
    let histogram = this.engineCommits.get(engine);
    if (!histogram) this.engineCommits.set(engine, (histogram = new FixedHistogram()));
    histogram.observe(Math.max(0, durationMs) / 1000);
  }

  /** Frames taken off the thread's input port. */
  received(frames: number): void {
    this.framesReceived += frames;
  }

  /** A copy of everything counted so far. */
  takeSnapshot(): ThreadMetricsSnapshot {
    return {
      incarnation: this.incarnation,
      counters: [...this.counters.values()].flatMap((series) => [...series.values()].map(({ name, labels, value }) => ({ name, labels, value }))),
      histograms: [
        ...[...this.histograms].map(([name, h]) => sampleOf(name, {}, h)),
        ...[...this.engineCommits].map(([engine, h]) => sampleOf(HISTOGRAM_NAMES.engineCommit, { engine }, h)),
      ],
      framesReceived: this.framesReceived,
      queued: this.queued(),
    };
  }

  private count(name: CounterName, labelKey: string, labels: Record<string, string>, amount = 1): void {
    let series = this.counters.get(name);
    if (!series) this.counters.set(name, (series = new Map()));
    const counter = series.get(labelKey);
    if (counter) counter.value += amount;
    else series.set(labelKey, { name, labels, value: amount });
  }
}

function sampleOf(name: HistogramName, labels: Record<string, string>, h: FixedHistogram): HistogramSample {
  return { name, labels, bucketCounts: [...h.bucketCounts], sumSeconds: h.sumSeconds, count: h.count };
}
