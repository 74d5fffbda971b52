/**
 * `tinykv bench`: load generator for TinyKV-TS, the no-op gRPC ceiling and etcd, side by side.
 * The work is in bench/ (bench/bench.ts runs it); this file is the command line.
 */
import { Command, InvalidArgumentError, Option } from 'commander';
import { runBench, BenchError, BenchFailedError, type BenchConfig } from '../../bench/bench.js';
import { createProgress, type ProgressMode } from '../../bench/progress.js';
import { formatJson, formatTable, type BenchReport } from '../../bench/report.js';
import { BENCH_OPS, type BenchOp } from '../../bench/workload.js';
import { TARGET_NAMES, type TargetName } from '../../bench/targets/target.js';
import { parseDurationMs, parseSizeBytes } from '../config/units.js';

/** Thrown by the bench command for runtime failures; print its message (no stack), exit 1. */
export { BenchError } from '../../bench/bench.js';

export interface BenchCommandIo {
  readonly stdout: NodeJS.WritableStream;
  /** Progress bars (when a TTY, or --progress on) and status lines. */
  readonly stderr: NodeJS.WriteStream;
}

interface RawOptions {
  target?: TargetName[];
  addr: string;
  scheduler?: string;
  endpoints?: string[];
  op?: BenchOp[];
  clients?: number[];
  connections?: number;
  keySize: number;
  valueSize: number;
  keyspace: number;
  mixReadRatio: number;
  scanLimit: number;
  duration: number;
  count?: number;
  warmup: number;
  output: 'table' | 'json';
  progress: ProgressMode;
  preload: boolean;
  etcdSerializable: boolean;
  noopInProcess: boolean;
  seed: number;
  stallTimeout: number;
  connectTimeout: number;
  rounds: number;
  serverMetrics?: string[];
  etcdMetrics?: string[];
  batchCommands: boolean;
}

function listOf<T extends string>(allowed: readonly T[], what: string) {
  return (value: string, previous: T[] | undefined): T[] => {
    const items = value
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
    for (const item of items) {
      if (!(allowed as readonly string[]).includes(item))
        throw new InvalidArgumentError(`unknown ${what} "${item}" (expected ${allowed.join(', ')})`);
    }
    return [...(previous ?? []), ...(items as T[])];
  };
}

function strings(value: string, previous: string[] | undefined): string[] {
  return [
    ...(previous ?? []),
    ...value
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean),
  ];
}

function positiveInt(what: string) {
  return (value: string): number => {
    const n = Number(value.replace(/_/g, ''));
    if (!Number.isSafeInteger(n) || n < 1) throw new InvalidArgumentError(`${what} must be a positive integer, got "${value}"`);
    return n;
  };
}

function positiveInts(what: string) {
  const one = positiveInt(what);
  return (value: string, previous: number[] | undefined): number[] => [...(previous ?? []), ...value.split(',').map((s) => one(s.trim()))];
}

function size(what: string, min: number) {
  return (value: string): number => {
    const n = parseSizeBytes(value);
    if (n === undefined || n < min) throw new InvalidArgumentError(`${what} must be a size of at least ${min} B (e.g. 16, 1KiB), got "${value}"`);
    return n;
  };
}

function duration(what: string, allowZero: boolean) {
  return (value: string): number => {
    const ms = parseDurationMs(value);
    if (ms === undefined || (!allowZero && ms === 0))
      throw new InvalidArgumentError(`${what} must be a duration like 500ms, 10s or 1m, got "${value}"`);
    return ms;
  };
}

function ratio(value: string): number {
  const n = Number(value);
  if (!(n >= 0 && n <= 1)) throw new InvalidArgumentError(`--mix-read-ratio must be within 0..1, got "${value}"`);
  return n;
}

function oneOf<T extends string>(allowed: readonly T[], flag: string) {
  return (value: string): T => {
    if (!(allowed as readonly string[]).includes(value))
      throw new InvalidArgumentError(`${flag} must be one of ${allowed.join(', ')}, got "${value}"`);
    return value as T;
  };
}

const HELP_AFTER = `
Each (target, op, clients) combination is one closed-loop run: every client keeps one call in
flight. Runs go one at a time; with several targets each (op, clients) pair runs on every target
back to back (--rounds N alternates N times), and one table compares them with a ratio column
against the noop ceiling. Keys are "k" + a zero-padded index in the keyspace; every op picks a
random key, so puts OVERWRITE keys of the keyspace (the data set stays keyspace keys big). Runs
that read (get, mix, scan) first write every key once (untimed; --no-preload skips it).
--target noop starts a no-op TinyKv gRPC server in a child process (built dist/bench/noop-server.js)
that answers RawGet/RawPut/RawScan at once: the ceiling of gRPC on this machine.
--target etcd drives an etcd v3 cluster with KV.Put and KV.Range (linearizable reads unless
--etcd-serializable); bench/etcd-cluster.sh starts a local 3-member cluster.
--target tinykv sends every call to --addr; on a cluster with several regions (or a leader on
another store) give --scheduler instead: each call then goes to the leader of its key's region,
and region errors refresh the region and retry (reported as retries, not errors, unless retries
run out).
--server-metrics takes the tinykv stores' /metrics URLs (their status ports): each tinykv run then
also reports the stores' own request latency (p50/p99 of the op's gRPC methods, summed over the
stores) and the mean time of the raftstore's stages (append, commit, apply, engine commits),
from a scrape right before and right after the measured phase.

Examples:
  tinykv bench --target noop,tinykv --op put,get --clients 64,1 --duration 10s --rounds 3
  tinykv bench --target noop,tinykv,etcd --endpoints 127.0.0.1:2379,127.0.0.1:22379,127.0.0.1:32379
  tinykv bench --target tinykv --scheduler 127.0.0.1:2379 --op put,get --clients 64
  tinykv bench --target tinykv --server-metrics http://127.0.0.1:20180/metrics --op put
  tinykv bench --op mix --mix-read-ratio 0.9 --count 100000 --output json > result.json
`;

/** Adds `bench` to the CLI. */
export function registerBenchCommand(program: Command, io: BenchCommandIo = { stdout: process.stdout, stderr: process.stderr }): void {
  program
    .command('bench')
    .description('benchmark a TinyKV-TS node, the no-op gRPC ceiling and etcd with the same workload')
    .option(
      '--target <names>',
      `what to drive: ${TARGET_NAMES.join(', ')}; repeat or comma-separate to compare (default: tinykv)`,
      listOf(TARGET_NAMES, 'target'),
    )
    .option('--addr <host:port>', 'tinykv target address', '127.0.0.1:20160')
    .option(
      '--scheduler <host:port>',
      'tinykv target: route each call by region to its leader, asking this scheduler for regions and stores (instead of --addr)',
    )
    .option('--endpoints <list>', 'etcd target endpoints, host:port or http://host:port, comma-separated', strings)
    .option(
      '--batch-commands',
      'tinykv target: send the calls through TinyKv/BatchCommands streams (one per connection) instead of unary calls',
      false,
    )
    .option('--server-metrics <urls>', "tinykv target: the stores' /metrics URLs, comma-separated; adds the server's side to the report", metricsUrls)
    .option(
      '--etcd-metrics <urls>',
      "etcd target: the members' /metrics URLs (host:port of their client URLs), comma-separated; adds their CPU per op",
      metricsUrls,
    )
    .option('--op <ops>', `workload: ${BENCH_OPS.join(', ')}; repeat or comma-separate for several runs (default: put,get)`, listOf(BENCH_OPS, 'op'))
    .option('--clients <n>', 'concurrent clients; comma-separate for several runs, e.g. 64,1 (default: 64)', positiveInts('--clients'))
    .option(
      '--connections <n>',
      'gRPC connections per target (default: min(clients, 4); etcd: at least one per endpoint)',
      positiveInt('--connections'),
    )
    .option('--key-size <bytes>', 'key size', size('--key-size', 1), 16)
    .option('--value-size <bytes>', 'value size', size('--value-size', 0), 256)
    .option('--keyspace <n>', 'distinct keys', positiveInt('--keyspace'), 10_000)
    .option('--mix-read-ratio <r>', 'share of gets in --op mix, 0..1', ratio, 0.5)
    .option('--scan-limit <n>', 'pairs per scan', positiveInt('--scan-limit'), 10)
    .addOption(new Option('--duration <d>', 'measured time per run, e.g. 10s').argParser(duration('--duration', false)).default(10_000, '10s'))
    .option('--count <n>', 'ops per run (all clients together) instead of a duration', positiveInt('--count'))
    .option(
      '--rounds <n>',
      'runs per target of each op and client count, alternating between targets; results merge them',
      positiveInt('--rounds'),
      1,
    )
    .addOption(new Option('--warmup <d>', 'unmeasured load before each run').argParser(duration('--warmup', true)).default(1000, '1s'))
    .option('--output <format>', 'table or json (one JSON document on stdout)', oneOf(['table', 'json'] as const, '--output'), 'table')
    .option(
      '--progress <mode>',
      'progress bar on stderr: auto (when stderr is a TTY), on, off',
      oneOf(['auto', 'on', 'off'] as const, '--progress'),
      'auto',
    )
    .option('--no-preload', 'do not write the keyspace before runs that read')
    .option('--etcd-serializable', 'etcd gets and scans as serializable (member-local) reads instead of linearizable', false)
    .option('--noop-in-process', 'run the no-op server in this process (no build needed; shares the client CPU)', false)
    .option('--seed <n>', 'seed for keys and values', positiveInt('--seed'), 1)
    .addOption(
      new Option('--stall-timeout <d>', 'abandon a run when no call completes for this long')
        .argParser(duration('--stall-timeout', false))
        .default(30_000, '30s'),
    )
    .addOption(
      new Option('--connect-timeout <d>', 'wait this long for a target to accept connections')
        .argParser(duration('--connect-timeout', false))
        .default(5000, '5s'),
    )
    .addHelpText('after', HELP_AFTER)
    .action(async (raw: RawOptions, command: Command) => {
      if (raw.count !== undefined && command.getOptionValueSource('duration') === 'cli') command.error('error: give --duration or --count, not both');
      const config = toConfig(raw);
      if (config.targets.includes('etcd') && config.endpoints.length === 0)
        command.error('error: --target etcd needs --endpoints host:port[,host:port...]');
      await benchAction(config, raw, io);
    });
}

function toConfig(raw: RawOptions): BenchConfig {
  const targets: TargetName[] = dedupe(raw.target ?? ['tinykv']);
  const ops: BenchOp[] = dedupe(raw.op ?? ['put', 'get']);
  const clients = dedupe(raw.clients ?? [64]);
  return {
    targets,
    addr: raw.addr,
    ...(raw.scheduler !== undefined ? { scheduler: raw.scheduler } : {}),
    endpoints: raw.endpoints ?? [],
    ops,
    clients,
    connections: raw.connections,
    keySize: raw.keySize,
    valueSize: raw.valueSize,
    keyspace: raw.keyspace,
    mixReadRatio: raw.mixReadRatio,
    scanLimit: raw.scanLimit,
    ...(raw.count !== undefined ? { count: raw.count } : { durationMs: raw.duration }),
    warmupMs: raw.warmup,
    preload: raw.preload,
    etcdSerializable: raw.etcdSerializable,
    noopInProcess: raw.noopInProcess,
    seed: raw.seed,
    stallTimeoutMs: raw.stallTimeout,
    connectTimeoutMs: raw.connectTimeout,
    rounds: raw.rounds,
    ...(raw.serverMetrics ? { serverMetrics: raw.serverMetrics } : {}),
    ...(raw.etcdMetrics ? { etcdMetrics: raw.etcdMetrics } : {}),
    batchCommands: raw.batchCommands,
  };
}

/** Comma-separated http(s) URLs (a host:port gets http:// and /metrics). */
function metricsUrls(value: string): string[] {
  return value
    .split(',')
    .map((part) => part.trim())
    .filter((part) => part.length > 0)
    .map((part) => {
      const url = /^https?:\/\//.test(part) ? part : `http://${part}/metrics`;
      try {
        new URL(url);
      } catch {
        throw new InvalidArgumentError(`a metrics flag takes URLs or host:port, got "${part}"`);
      }
      return url;
    });
}

function dedupe<T>(list: readonly T[]): T[] {
  return [...new Set(list)];
}

/** Exit code of a bench stopped with Ctrl-C (128 + SIGINT), as shells report it. */
const EXIT_INTERRUPTED = 130;

async function benchAction(config: BenchConfig, raw: RawOptions, io: BenchCommandIo): Promise<void> {
  const progress = createProgress(raw.progress, io.stderr);
  const log = (line: string) => void io.stderr.write(`bench: ${line}\n`);
  const print = (report: BenchReport) => void io.stdout.write(raw.output === 'json' ? formatJson(report) : formatTable(report));
  // Ctrl-C stops the load and still prints what was measured; a second Ctrl-C exits at once.
  const interrupt = new AbortController();
  const onSignal = () => {
    if (interrupt.signal.aborted) process.exit(EXIT_INTERRUPTED);
    log('interrupted: stopping the load; Ctrl-C again to quit at once');
    interrupt.abort();
  };
  process.on('SIGINT', onSignal);
  let report: BenchReport;
  try {
    report = await runBench(config, { progress, log, signal: interrupt.signal });
  } catch (err) {
    if (err instanceof BenchFailedError) print(err.report);
    throw err;
  } finally {
    process.off('SIGINT', onSignal);
  }
  print(report);
  if (report.interrupted) {
    log('interrupted: the results above are what was measured until then');
    process.exitCode = EXIT_INTERRUPTED;
    return;
  }
  // Failed calls make the numbers suspect (errors are often fast): the run did not succeed.
  const failed = report.results.filter((r) => r.errors > 0);
  const first = failed[0];
  if (first !== undefined) {
    const errors = failed.reduce((sum, r) => sum + r.errors, 0);
    const calls = report.results.reduce((sum, r) => sum + r.ops + r.errors, 0);
    throw new BenchError(
      `${errors} of ${calls} calls failed (first, in ${first.target} ${first.op} x${first.clients}: ${first.firstError ?? 'unknown'})`,
    );
  }
}
