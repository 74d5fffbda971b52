/**
 * The metrics a store counts on its main thread (gRPC calls, transaction commands and latches,
 * main-thread engine commits) and the ones it reads when scraped (engine sizes, region roles), in
 * one prom-client Registry per store: never the global default registry, so two stores in one
 * process do not collide. Worker threads report into the same registry (part of thread-metrics).
 *
 * This folder imports no layer of the store (txn, storage, raftstore, rpc, server): those report
 * into it, so importing them back would make a cycle.
 *
 * Hot-path cost: a gRPC call (every request) is counted in plain numbers its method's handler
 * holds and read at scrape time; the rarer transaction commands and latch waits use prom-client
 * children bound once per label set.
 */
import { performance } from 'node:perf_hooks';
import { join } from 'node:path';
import { status as GrpcStatus } from '@grpc/grpc-js';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry, exponentialBuckets, type Metric } from 'prom-client';
import { directoryBytes } from '../env/disk-usage.js';

/** 0.1 ms .. ~13 s, doubling: a local call, a disk sync, a stalled election. */
export const LATENCY_BUCKETS_SECONDS: readonly number[] = exponentialBuckets(0.0001, 2, 18);

/** What the scrape-time gauges read from a running store. */
export interface StoreMetricsSource {
  readonly dataDir: string;
  /** The engines' directories under dataDir, each named as the `engine` label (`kv`, `raft`). */
  readonly engineDirs: readonly string[];
  /** Local peers by role; undefined for a standalone node (no Raft). */
  regionRoles?(): { readonly leader: number; readonly follower: number };
  /** Reads the main thread served from leader leases, and reads it sent on because a lease had ended. */
  localReads?(): { readonly served: number; readonly expired: number } | undefined;
}

/**
 * One gRPC method's counts in plain numbers: a call's end is a bucket search and a few additions,
 * no label hashing (prom-client's children hash their labels on every call). The registry reads
 * them at scrape time (grpcMetric below).
 */
export class GrpcMethodMetrics {
  /** Calls by latency bucket, not cumulative; the last one is +Inf. */
  readonly bucketCounts = new Float64Array(LATENCY_BUCKETS_SECONDS.length + 1);
  sumSeconds = 0;
  count = 0;
  /** Calls by gRPC status code (0..16). */
  readonly codeCounts = new Float64Array(GRPC_STATUS_CODES);

  constructor(readonly method: string) {}

  /** A call that started at `startedMs` (performance.now()) ended with `code`. */
  done(code: GrpcStatus, startedMs: number): void {
    const seconds = (performance.now() - startedMs) / 1000;
    let bucket = 0;
    while (bucket < LATENCY_BUCKETS_SECONDS.length && seconds > (LATENCY_BUCKETS_SECONDS[bucket] ?? Infinity)) bucket++;
    this.bucketCounts[bucket] = (this.bucketCounts[bucket] ?? 0) + 1;
    this.sumSeconds += seconds;
    this.count++;
    const slot = code >= 0 && code < GRPC_STATUS_CODES ? code : GrpcStatus.UNKNOWN;
    this.codeCounts[slot] = (this.codeCounts[slot] ?? 0) + 1;
  }
}

/** gRPC defines status codes 0 (OK) to 16 (UNAUTHENTICATED). */
const GRPC_STATUS_CODES = 17;

interface MetricValue {
  readonly metricName?: string;
  readonly labels: Record<string, string | number>;
  readonly value: number;
}

/**
 * A metric prom-client's registry reads through `get()` at scrape time. The registry calls only
 * `get()` and `reset()` on what it holds; its types name only prom-client's own classes, hence the cast.
 */
function pulledMetric(name: string, help: string, type: 'counter' | 'histogram', values: () => MetricValue[]): Metric {
  const read = () => ({ name, help, type, aggregator: 'sum' as const, values: values() });
  const metric = { name, help, type, aggregator: 'sum' as const, get: () => Promise.resolve(read()), reset: () => {} };
  return metric as unknown as Metric;
}

function grpcRequestValues(methods: Iterable<GrpcMethodMetrics>): MetricValue[] {
  const values: MetricValue[] = [];
  for (const method of methods) {
    method.codeCounts.forEach((count, code) => {
      if (count > 0) values.push({ labels: { method: method.method, code: GrpcStatus[code] ?? String(code) }, value: count });
    });
  }
  return values;
}

function grpcDurationValues(methods: Iterable<GrpcMethodMetrics>): MetricValue[] {
  const values: MetricValue[] = [];
  const name = 'tinykv_grpc_request_duration_seconds';
  for (const m of methods) {
    if (m.count === 0) continue;
    let cumulative = 0;
    LATENCY_BUCKETS_SECONDS.forEach((le, i) => {
      cumulative += m.bucketCounts[i] ?? 0;
      values.push({ metricName: `${name}_bucket`, labels: { le, method: m.method }, value: cumulative });
    });
    values.push({ metricName: `${name}_bucket`, labels: { le: '+Inf', method: m.method }, value: m.count });
    values.push({ metricName: `${name}_sum`, labels: { method: m.method }, value: m.sumSeconds });
    values.push({ metricName: `${name}_count`, labels: { method: m.method }, value: m.count });
  }
  return values;
}

export const TXN_RESULTS = ['ok', 'key_error', 'region_error', 'error'] as const;
export type TxnResult = (typeof TXN_RESULTS)[number];

/** One transaction command's bound result counters. */
export class TxnCommandMetrics {
  private readonly byResult: Readonly<Record<TxnResult, Counter.Internal>>;

  constructor(command: string, commands: Counter<'command' | 'result'>) {
    this.byResult = {
      ok: commands.labels(command, 'ok'),
      key_error: commands.labels(command, 'key_error'),
      region_error: commands.labels(command, 'region_error'),
      error: commands.labels(command, 'error'),
    };
  }

  record(result: TxnResult): void {
    this.byResult[result].inc();
  }
}

export class StoreMetrics {
  readonly registry = new Registry();
  private source: StoreMetricsSource | undefined;
  private readonly grpcMethods = new Map<string, GrpcMethodMetrics>();
  private readonly txnCommands: Counter<'command' | 'result'>;
  /** Time a transaction command waited for its latches (0 when none was held). */
  readonly latchWaitSeconds: Histogram;
  private readonly engineCommitSeconds: Histogram<'engine'> | undefined;

  /**
   * `engineCommitsOnThreads`: the engines are committed on worker threads (a cluster store's raft
   * pollers and apply threads), whose recorders export tinykv_engine_commit_duration_seconds
   * (thread-metrics.ts); this registry then leaves that name to them.
   */
  constructor(options: { readonly engineCommitsOnThreads?: boolean } = {}) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });
    const methods = this.grpcMethods.values.bind(this.grpcMethods);
    this.registry.registerMetric(
      pulledMetric('tinykv_grpc_requests_total', 'gRPC requests answered, by method and status code', 'counter', () => grpcRequestValues(methods())),
    );
    this.registry.registerMetric(
      pulledMetric('tinykv_grpc_request_duration_seconds', 'Time from a gRPC request arriving to its answer, by method', 'histogram', () =>
        grpcDurationValues(methods()),
      ),
    );
    this.registry.registerMetric(
      pulledMetric(
        'tinykv_local_reads_total',
        'Reads the main thread served straight from a leader lease (served), and reads of a leased region it passed to the raft poller because the lease had ended (expired)',
        'counter',
        () => {
          const counts = this.source?.localReads?.();
          if (!counts) return [];
          return [
            { metricName: 'tinykv_local_reads_total', labels: { result: 'served' }, value: counts.served },
            { metricName: 'tinykv_local_reads_total', labels: { result: 'expired' }, value: counts.expired },
          ];
        },
      ),
    );
    this.txnCommands = new Counter({
      name: 'tinykv_txn_commands_total',
      help: 'Transaction commands, by command and result (ok, key_error, region_error, error)',
      labelNames: ['command', 'result'],
      registers,
    });
    this.latchWaitSeconds = new Histogram({
      name: 'tinykv_txn_latch_wait_duration_seconds',
      help: 'Time a transaction command waited for its key latches',
      buckets: [...LATENCY_BUCKETS_SECONDS],
      registers,
    });
    this.engineCommitSeconds = options.engineCommitsOnThreads
      ? undefined
      : new Histogram({
          name: 'tinykv_engine_commit_duration_seconds',
          help: 'Time of one engine write batch committed on the main thread, by engine',
          labelNames: ['engine'],
          buckets: [...LATENCY_BUCKETS_SECONDS],
          registers,
        });
    this.registerScrapeGauges();
  }

  /** Where the scrape-time gauges read from; until set they report nothing. */
  observe(source: StoreMetricsSource): void {
    this.source = source;
  }

  /** The counts of one method, shared by every handler of it. */
  grpcMethod(method: string): GrpcMethodMetrics {
    let metrics = this.grpcMethods.get(method);
    if (metrics === undefined) this.grpcMethods.set(method, (metrics = new GrpcMethodMetrics(method)));
    return metrics;
  }

  txnCommand(command: string): TxnCommandMetrics {
    return new TxnCommandMetrics(command, this.txnCommands);
  }

  /** Records one commit's seconds for `engine`; bind once and call per commit. */
  engineCommit(engine: string): (seconds: number) => void {
    const child = this.engineCommitSeconds?.labels(engine);
    return (seconds) => child?.observe(seconds);
  }

  private registerScrapeGauges(): void {
    const engineSize: Gauge<'engine'> = new Gauge({
      name: 'tinykv_engine_size_bytes',
      help: "Bytes an engine's LMDB files take on disk, by engine",
      labelNames: ['engine'],
      registers: [this.registry],
      collect: () => this.collectEngineSizes(engineSize),
    });
    const regions: Gauge<'role'> = new Gauge({
      name: 'tinykv_raftstore_regions',
      help: 'Region peers on this store, by role (leader, follower)',
      labelNames: ['role'],
      registers: [this.registry],
      collect: () => {
        const roles = this.source?.regionRoles?.();
        if (!roles) return;
        regions.labels('leader').set(roles.leader);
        regions.labels('follower').set(roles.follower);
      },
    });
  }

  private async collectEngineSizes(gauge: Gauge<'engine'>): Promise<void> {
    const source = this.source;
    if (!source) return;
    const sizes = await Promise.all(source.engineDirs.map((dir) => directoryBytes(join(source.dataDir, dir))));
    source.engineDirs.forEach((dir, i) => gauge.labels(dir).set(sizes[i] ?? 0));
  }
}
