/**
 * `tinykv bench` without the command line: runs every (target, op, clients) combination asked
 * for and returns one report. Runs go one at a time (never two targets at once, which would split
 * the machine between them); each target is connected once and preloaded once when an op reads,
 * and all are closed (the no-op server stopped) at the end.
 */
import { deltaOf, mergeDeltas, METHODS_OF_OP, scrapeAll, summarize, type Samples, type ServerDelta } from './server-metrics.js';
import { machineInfo, buildResults, loadWarning, type BenchReport, type BenchSettings, type MeasuredRun } from './report.js';
import { describeError, mergeRuns, preloadKeyspace, runWorkload, type RunResult } from './runner.js';
import { silentProgress, type Progress } from './progress.js';
import { Workload, type BenchOp } from './workload.js';
import { TinyKvError } from '../src/util/errors.js';
import { EtcdTarget } from './targets/etcd.js';
import { NoopTarget } from './targets/noop.js';
import { TinyKvTarget } from './targets/tinykv.js';
import type { BenchTarget, TargetName } from './targets/target.js';

export interface BenchConfig {
  readonly targets: readonly TargetName[];
  /** tinykv target address. */
  readonly addr: string;
  /** Scheduler of the tinykv target's cluster: route each call by region (instead of everything to `addr`). */
  readonly scheduler?: string;
  /** etcd target endpoints. */
  readonly endpoints: readonly string[];
  readonly ops: readonly BenchOp[];
  /** One run per entry, e.g. [64, 1]. */
  readonly clients: readonly number[];
  /** gRPC channels per target; default min(max clients, 4). */
  readonly connections?: number;
  readonly keySize: number;
  readonly valueSize: number;
  readonly keyspace: number;
  readonly mixReadRatio: number;
  readonly scanLimit: number;
  /** Exactly one of durationMs and count. */
  readonly durationMs?: number;
  readonly count?: number;
  readonly warmupMs: number;
  /** Write the keyspace before runs that read (get, mix, scan). Default true. */
  readonly preload?: boolean;
  readonly etcdSerializable?: boolean;
  /** Start the no-op server in this process instead of a child process. */
  readonly noopInProcess?: boolean;
  readonly seed?: number;
  readonly stallTimeoutMs?: number;
  /** How long to wait for each target's connections. Default 5 s. */
  readonly connectTimeoutMs?: number;
  /**
   * Runs of each (op, clients) per target, alternating between the targets; the report merges
   * them. Default 1. More rounds spread background noise evenly over the targets.
   */
  readonly rounds?: number;
  /**
   * The tinykv target's stores' `/metrics` URLs: each tinykv run then reports the stores' own
   * request latency and where the time went (server-metrics.ts). Empty: client side only.
   */
  readonly serverMetrics?: readonly string[];
  /**
   * The etcd target's members' `/metrics` URLs (their client URLs serve it): each etcd run then
   * reports the members' CPU per op (process_cpu_seconds_total over the measured phase's ops).
   */
  readonly etcdMetrics?: readonly string[];
  /** The tinykv target sends its calls through TinyKv/BatchCommands streams instead of unary calls. */
  readonly batchCommands?: boolean;
}

export interface BenchHooks {
  readonly progress?: Progress;
  /** Status lines (connecting, preloading, ...); the CLI sends them to stderr. */
  readonly log?: (line: string) => void;
  /**
   * Stops the bench early (the CLI aborts it on Ctrl-C): the run in progress ends, no further
   * runs start, and the report holds what was measured, marked `interrupted`.
   */
  readonly signal?: AbortSignal;
  /** Builds a target; tests and embedders may swap one in. */
  readonly createTarget?: (name: TargetName, config: BenchConfig, connections: number) => BenchTarget;
}

export function defaultConnections(config: Pick<BenchConfig, 'connections' | 'clients'>): number {
  return config.connections ?? Math.min(Math.max(...config.clients), 4);
}

export function createTarget(name: TargetName, config: BenchConfig, connections: number): BenchTarget {
  switch (name) {
    case 'tinykv':
      return new TinyKvTarget({
        addr: config.addr,
        scheduler: config.scheduler,
        connections,
        connectTimeoutMs: config.connectTimeoutMs,
        batchCommands: config.batchCommands,
      });
    case 'noop':
      return new NoopTarget({ connections, keySize: config.keySize, valueSize: config.valueSize, inProcess: config.noopInProcess });
    case 'etcd':
      return new EtcdTarget({
        endpoints: config.endpoints,
        connections,
        serializable: config.etcdSerializable,
        connectTimeoutMs: config.connectTimeoutMs,
      });
  }
}

export function benchSettings(config: BenchConfig): BenchSettings {
  return {
    targets: [...config.targets],
    ops: [...config.ops],
    clients: [...config.clients],
    connections: defaultConnections(config),
    keySize: config.keySize,
    valueSize: config.valueSize,
    keyspace: config.keyspace,
    putKeys: 'overwrite-random',
    mixReadRatio: config.mixReadRatio,
    scanLimit: config.scanLimit,
    durationMs: config.durationMs ?? null,
    count: config.count ?? null,
    warmupMs: config.warmupMs,
    rounds: config.rounds ?? 1,
    preload: (config.preload ?? true) && config.ops.some(Workload.needsPreload),
    seed: config.seed ?? 1,
    ...(config.targets.includes('tinykv') ? (config.scheduler !== undefined ? { scheduler: config.scheduler } : { addr: config.addr }) : {}),
    ...(config.targets.includes('etcd')
      ? { endpoints: [...config.endpoints], etcdReads: config.etcdSerializable ? ('serializable' as const) : ('linearizable' as const) }
      : {}),
  };
}

/**
 * A bench that could not be run or gave nothing to report: a target would not connect, the no-op
 * server is not built, the preload failed, or every op of a run failed. The message says which;
 * a CLI prints it (no stack) and exits 1.
 */
export class BenchError extends TinyKvError {
  constructor(message: string, options?: { cause?: unknown }, code: string = BenchErrorCode.NotRunnable) {
    super(code, message, {}, { cause: options?.cause });
  }
}

/** Stable codes of the bench's errors (docs/errors.md, Bench). */
export const BenchErrorCode = {
  /** A target would not connect, the no-op server is not built, or the preload failed. */
  NotRunnable: 'KV:Bench:NotRunnable',
  /** Calls of a run failed: the numbers are not a result (the report is still printed). */
  RunFailed: 'KV:Bench:RunFailed',
  /** One call failed: a gRPC status, or an error the store put in its response. */
  CallFailed: 'KV:Bench:CallFailed',
} as const;

/** Every op of at least one run failed; the report (with the errors) is still attached. */
export class BenchFailedError extends BenchError {
  constructor(
    message: string,
    readonly report: BenchReport,
  ) {
    super(message, {}, BenchErrorCode.RunFailed);
  }
}

export async function runBench(config: BenchConfig, hooks: BenchHooks = {}): Promise<BenchReport> {
  if (config.targets.length === 0) throw new Error('no target given');
  if (config.ops.length === 0) throw new Error('no op given');
  if (config.clients.length === 0) throw new Error('no client count given');
  const context: RunContext = {
    config,
    hooks,
    progress: hooks.progress ?? silentProgress,
    log: hooks.log ?? (() => {}),
    workload: new Workload({
      keySize: config.keySize,
      valueSize: config.valueSize,
      keyspace: config.keyspace,
      readRatio: config.mixReadRatio,
      scanLimit: config.scanLimit,
      seed: config.seed,
    }),
    settings: benchSettings(config),
  };
  const startedAt = new Date().toISOString();
  const machine = machineInfo();
  const warning = loadWarning(machine);
  if (warning) context.log(warning);
  const where: Partial<Record<TargetName, string>> = {};
  let runs: MeasuredRun[] = [];
  // Every target is connected (and preloaded) first; then each (op, clients) pair runs on every
  // target back to back, so a comparison is not skewed by whatever else the machine did between
  // one target's runs and the next's. Idle connections to the other targets cost nothing.
  const targets: BenchTarget[] = [];
  try {
    await connectTargets(context, targets, where);
    runs = await runMatrix(context, targets);
  } finally {
    for (const target of targets) await target.close().catch(() => {});
  }
  const report: BenchReport = {
    tool: 'tinykv-bench',
    version: 1,
    startedAt,
    machine,
    settings: context.settings,
    targets: where,
    results: buildResults(runs, context.settings),
    ...(hooks.signal?.aborted ? { interrupted: true } : {}),
  };
  return checkedReport(report);
}

/** What every step of a bench shares. */
interface RunContext {
  readonly config: BenchConfig;
  readonly hooks: BenchHooks;
  readonly progress: Progress;
  readonly log: (line: string) => void;
  readonly workload: Workload;
  readonly settings: BenchSettings;
}

/** Connects every target in order (pushing each onto `targets` so the caller closes it) and preloads those that store data. */
async function connectTargets(context: RunContext, targets: BenchTarget[], where: Partial<Record<TargetName, string>>): Promise<void> {
  const { config, hooks, log, workload } = context;
  const make = hooks.createTarget ?? createTarget;
  for (const name of config.targets) {
    if (hooks.signal?.aborted) break;
    log(`${name}: connecting`);
    let target: BenchTarget;
    try {
      target = make(name, config, context.settings.connections);
      await target.connect();
    } catch (err) {
      throw new BenchError(`${name}: ${describeError(err)}`, { cause: err });
    }
    targets.push(target);
    where[name] = target.description;
    // The no-op server stores nothing, so there is nothing to preload.
    if (context.settings.preload && name !== 'noop') {
      log(`${name}: preloading ${workload.keyspace} keys`);
      const { elapsedMs } = await preloadKeyspace(target, workload, Math.max(...config.clients), context.progress, undefined, hooks.signal).catch(
        (err: unknown) => {
          throw new BenchError(describeError(err), { cause: err });
        },
      );
      log(`${name}: preloaded in ${Math.round(elapsedMs)} ms`);
    }
  }
}

/** Runs every (op, clients) pair on every target, round after round, merging a target's rounds into one result. */
async function runMatrix(context: RunContext, targets: readonly BenchTarget[]): Promise<MeasuredRun[]> {
  const { config, hooks } = context;
  const runs: MeasuredRun[] = [];
  const rounds = config.rounds ?? 1;
  for (const op of config.ops) {
    for (const clients of config.clients) {
      const merged = new Map<BenchTarget, RunResult>();
      const server = new Map<BenchTarget, ServerDelta>();
      for (let round = 1; round <= rounds; round++) {
        for (const target of targets) {
          if (hooks.signal?.aborted) break;
          const label = `${target.name} ${op} x${clients}${rounds > 1 ? ` (round ${round}/${rounds})` : ''}`;
          const { result, serverDelta } = await runOne(context, target, op, clients, label);
          // A run interrupted before it measured anything adds nothing to the report.
          if (hooks.signal?.aborted && result.ops === 0 && result.errors === 0) continue;
          if (serverDelta) {
            const earlier = server.get(target);
            server.set(target, earlier ? mergeDeltas(earlier, serverDelta) : serverDelta);
          }
          context.log(`${label}: ${Math.round(result.opsPerSec)} ops/s, ${result.errors} errors${hooks.signal?.aborted ? ' (interrupted)' : ''}`);
          const previous = merged.get(target);
          merged.set(target, previous ? mergeRuns(previous, result) : result);
        }
      }
      for (const [target, result] of merged) {
        const delta = server.get(target);
        runs.push({ ...result, target: target.name, ...(delta ? { server: summarize(delta) } : {}) });
      }
    }
  }
  return runs;
}

async function runOne(
  context: RunContext,
  target: BenchTarget,
  op: BenchOp,
  clients: number,
  label: string,
): Promise<{ result: RunResult; serverDelta?: ServerDelta }> {
  const { config, hooks } = context;
  const urls = target.name === 'tinykv' ? (config.serverMetrics ?? []) : target.name === 'etcd' ? (config.etcdMetrics ?? []) : [];
  let before: Samples | undefined;
  let after: Samples | undefined;
  const result = await runWorkload(
    target,
    context.workload,
    {
      op,
      clients,
      durationMs: config.durationMs,
      count: config.count,
      warmupMs: config.warmupMs,
      stallTimeoutMs: config.stallTimeoutMs,
      label,
      signal: hooks.signal,
      ...(urls.length > 0
        ? {
            beforeMeasure: async () => void (before = await scrapeAll(urls)),
            afterMeasure: async () => void (after = await scrapeAll(urls)),
          }
        : {}),
    },
    context.progress,
  );
  if (urls.length > 0 && (!before || !after)) context.log(`${label}: no store answered at ${urls.join(', ')}; server side left out`);
  let serverDelta = before && after ? deltaOf(before, after, METHODS_OF_OP[op] ?? []) : undefined;
  // etcd counts no tinykv requests: its CPU is per op the bench measured in the same phase.
  if (serverDelta && target.name !== 'tinykv') serverDelta = { ...serverDelta, requests: result.ops };
  return { result, serverDelta };
}

/** The report, or BenchFailedError (carrying it) when every op of some run failed. */
function checkedReport(report: BenchReport): BenchReport {
  // Interrupted: what was measured is the answer, whatever it holds.
  if (report.interrupted) return report;
  const failed = report.results.filter((r) => r.ops === 0 && (r.errors > 0 || r.stalled));
  if (failed.length > 0) {
    const which = failed.map((r) => `${r.target} ${r.op} x${r.clients}: ${r.firstError ?? 'failed'}`).join('; ');
    throw new BenchFailedError(`every op failed in ${failed.length} run(s): ${which}`, report);
  }
  return report;
}
