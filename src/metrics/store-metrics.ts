/**
 * The metrics a store counts on its main thread (gRPC calls, transaction commands and latches,
 * main-thread engine commits) and the ones it reads when scraped (engine sizes, region roles), in
 * one prom-client Registry per store: never the global default registry, so two stores in one
 * process do not collide. Worker threads report into the same registry (part of thread-metrics).
 *
 * This folder imports no layer of the store (txn, storage, raftstore, rpc, server): those report
 * into it, so importing them back would make a cycle.
 *
 * Hot-path cost: every labelled child is bound once (per method, per command and result) and
 * each call does one histogram observe and one counter increment, no label objects.
 */
import { performance } from 'node:perf_hooks';
import { join } from 'node:path';
import { status as GrpcStatus } from '@grpc/grpc-js';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry, exponentialBuckets } from 'prom-client';
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
}

/** One gRPC method's bound children: a call's end is one observe and one increment. */
export class GrpcMethodMetrics {
  /** Indexed by gRPC status code; bound on first use of the code. */
  private readonly byCode: Array<Counter.Internal | undefined> = [];
  private readonly durationSeconds: Histogram.Internal<'method'>;

  constructor(
    private readonly method: string,
    private readonly requests: Counter<'method' | 'code'>,
    duration: Histogram<'method'>,
  ) {
    this.durationSeconds = duration.labels(method);
    this.byCode[GrpcStatus.OK] = requests.labels(method, GrpcStatus[GrpcStatus.OK]);
  }

  /** A call that started at `startedMs` (performance.now()) ended with `code`. */
  done(code: GrpcStatus, startedMs: number): void {
    this.durationSeconds.observe((performance.now() - startedMs) / 1000);
    const counter = (this.byCode[code] ??= this.requests.labels(this.method, GrpcStatus[code] ?? String(code)));
    counter.inc();
  }
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
  private readonly grpcRequests: Counter<'method' | 'code'>;
  private readonly grpcDuration: Histogram<'method'>;
  private readonly txnCommands: Counter<'command' | 'result'>;
  /** Time a transaction command waited for its latches (0 when none was held). */
  readonly latchWaitSeconds: Histogram;
  private readonly engineCommitSeconds: Histogram<'engine'>;

  constructor() {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });
    this.grpcRequests = new Counter({
      name: 'tinykv_grpc_requests_total',
      help: 'gRPC requests answered, by method and status code',
      labelNames: ['method', 'code'],
      registers,
    });
    this.grpcDuration = new Histogram({
      name: 'tinykv_grpc_request_duration_seconds',
      help: 'Time from a gRPC request arriving to its answer, by method',
      labelNames: ['method'],
      buckets: [...LATENCY_BUCKETS_SECONDS],
      registers,
    });
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
    this.engineCommitSeconds = new Histogram({
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

  grpcMethod(method: string): GrpcMethodMetrics {
    return new GrpcMethodMetrics(method, this.grpcRequests, this.grpcDuration);
  }

  txnCommand(command: string): TxnCommandMetrics {
    return new TxnCommandMetrics(command, this.txnCommands);
  }

  /** Records one commit's seconds for `engine`; bind once and call per commit. */
  engineCommit(engine: string): (seconds: number) => void {
    const child = this.engineCommitSeconds.labels(engine);
    return (seconds) => child.observe(seconds);
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
