/** The bench report: one JSON document (`--output json`) or a text table with the machine noted. */
import type { ServerSideJson } from './server-metrics.js';
import os from 'node:os';
import type { LatencySummary } from './histogram.js';
import type { RunResult } from './runner.js';
import type { BenchOp, CallKind } from './workload.js';
import type { TargetName } from './targets/target.js';
import { defined } from '../src/util/assert.js';

export interface MachineInfo {
  readonly cpuModel: string;
  /** Logical CPUs; client and servers share them. */
  readonly cores: number;
  readonly totalMemBytes: number;
  readonly node: string;
  readonly platform: string;
  readonly osRelease: string;
  readonly arch: string;
  /** 1-minute load average when the bench started (0 where the OS has none). */
  readonly loadAvg1m: number;
}

export interface BenchSettings {
  readonly targets: readonly TargetName[];
  readonly ops: readonly BenchOp[];
  readonly clients: readonly number[];
  /** gRPC channels per target (etcd: at least one per endpoint). */
  readonly connections: number;
  readonly keySize: number;
  readonly valueSize: number;
  readonly keyspace: number;
  /** How puts pick keys. */
  readonly putKeys: 'overwrite-random';
  readonly mixReadRatio: number;
  readonly scanLimit: number;
  readonly durationMs: number | null;
  readonly count: number | null;
  readonly warmupMs: number;
  /** Runs per (op, clients, target), alternating between targets and merged in the results. */
  readonly rounds: number;
  /** Whether the keyspace was written before the runs (only when an op reads). */
  readonly preload: boolean;
  readonly seed: number;
  readonly addr?: string;
  /** tinykv target routed by region through this scheduler. */
  readonly scheduler?: string;
  readonly endpoints?: readonly string[];
  readonly etcdReads?: 'linearizable' | 'serializable';
}

export interface LatencyJson {
  readonly p50: number;
  readonly p95: number;
  readonly p99: number;
  readonly p999: number;
  readonly max: number;
  readonly mean: number;
  readonly min: number;
}

export interface BenchResultJson {
  readonly target: TargetName;
  readonly op: BenchOp;
  readonly clients: number;
  readonly ops: number;
  readonly errors: number;
  /** Calls sent again after a region error (routed tinykv target); not counted as errors. */
  readonly retries: number;
  readonly misses: number;
  readonly elapsedMs: number;
  readonly opsPerSec: number;
  /** Milliseconds. */
  readonly latencyMs: LatencyJson;
  /** ops/s over the baseline's ops/s (noop when it ran) for the same op and clients. */
  readonly ratio?: number;
  readonly ratioTo?: TargetName;
  /** `mix` only: the gets and the puts apart. */
  readonly byCall?: Partial<Record<CallKind, { readonly ops: number; readonly opsPerSec: number; readonly latencyMs: LatencyJson }>>;
  /** CPU the bench client itself spent per op (µs); the rest of the machine served the target. */
  readonly clientCpuUsPerOp: number;
  readonly firstError?: string;
  readonly stalled?: boolean;
  /** The stores' side (their /metrics before and after the measured phase), when given. */
  readonly server?: ServerSideJson;
}

export interface BenchReport {
  readonly tool: 'tinykv-bench';
  readonly version: 1;
  readonly startedAt: string;
  readonly machine: MachineInfo;
  readonly settings: BenchSettings;
  /** Where each target ran (addresses, connections, process). */
  readonly targets: Partial<Record<TargetName, string>>;
  readonly results: BenchResultJson[];
  /** Set when the bench was stopped (Ctrl-C) before every run finished: the results measured until then. */
  readonly interrupted?: boolean;
}

export function machineInfo(): MachineInfo {
  const cpus = os.cpus();
  return {
    cpuModel: cpus[0]?.model.trim() || 'unknown',
    cores: cpus.length || os.availableParallelism(),
    totalMemBytes: os.totalmem(),
    node: process.version,
    platform: os.platform(),
    osRelease: os.release(),
    arch: os.arch(),
    loadAvg1m: Math.round(defined(os.loadavg()[0], '1-minute load average') * 100) / 100,
  };
}

/** A warning when other work already loaded the machine as the bench started, else undefined. */
export function loadWarning(m: MachineInfo): string | undefined {
  if (m.loadAvg1m < m.cores * 0.75) return undefined;
  return `warning: the 1-minute load average was ${m.loadAvg1m} on ${m.cores} cores when the bench started; other work competes for the CPU, so these numbers are noisy`;
}

export interface MeasuredRun extends RunResult {
  readonly target: TargetName;
  /** The stores' side of the run, when their /metrics were given. */
  readonly server?: ServerSideJson;
}

function latencyJson(s: LatencySummary): LatencyJson {
  return { p50: s.p50Ms, p95: s.p95Ms, p99: s.p99Ms, p999: s.p999Ms, max: s.maxMs, mean: s.meanMs, min: s.minMs };
}

const round2 = (n: number) => Math.round(n * 100) / 100;

/**
 * Results in comparison order (op, then clients, then target, each in the order asked), with the
 * ratio to the baseline when several targets ran: noop when it is one of them, else the first.
 */
export function buildResults(runs: readonly MeasuredRun[], settings: Pick<BenchSettings, 'targets' | 'ops' | 'clients'>): BenchResultJson[] {
  const order = (list: readonly unknown[], v: unknown) => list.indexOf(v);
  const sorted = [...runs].sort(
    (a, b) =>
      order(settings.ops, a.op) - order(settings.ops, b.op) ||
      order(settings.clients, a.clients) - order(settings.clients, b.clients) ||
      order(settings.targets, a.target) - order(settings.targets, b.target),
  );
  const baseline: TargetName | undefined =
    settings.targets.length > 1 ? (settings.targets.includes('noop') ? 'noop' : settings.targets[0]) : undefined;
  return sorted.map((run) => {
    const base = baseline ? runs.find((r) => r.target === baseline && r.op === run.op && r.clients === run.clients) : undefined;
    const byCall = run.byCall
      ? Object.fromEntries(
          Object.entries(run.byCall).map(([call, h]) => {
            const hist = h;
            return [call, { ops: hist.count, opsPerSec: round2((hist.count * 1000) / run.elapsedMs), latencyMs: latencyJson(hist.summary()) }];
          }),
        )
      : undefined;
    return {
      target: run.target,
      op: run.op,
      clients: run.clients,
      ops: run.ops,
      errors: run.errors,
      retries: run.retries,
      misses: run.misses,
      elapsedMs: Math.round(run.elapsedMs),
      opsPerSec: round2(run.opsPerSec),
      latencyMs: latencyJson(run.latency.summary()),
      clientCpuUsPerOp: Math.round(run.clientCpuUsPerOp * 10) / 10,
      ...(base && base.opsPerSec > 0 ? { ratio: Math.round((run.opsPerSec / base.opsPerSec) * 1000) / 1000, ratioTo: baseline } : {}),
      ...(byCall ? { byCall } : {}),
      ...(run.firstError !== undefined ? { firstError: run.firstError } : {}),
      ...(run.stalled ? { stalled: true } : {}),
      ...(run.server ? { server: run.server } : {}),
    };
  });
}

export function formatJson(report: BenchReport): string {
  return `${JSON.stringify(report, null, 2)}\n`;
}

const GiB = 1024 ** 3;

function formatDurationMs(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`;
}

export function describeMachine(m: MachineInfo): string {
  return `${m.cpuModel}, ${m.cores} cores, ${(m.totalMemBytes / GiB).toFixed(1)} GiB RAM, ${m.platform} ${m.osRelease} ${m.arch}, node ${m.node}, load ${m.loadAvg1m}`;
}

export function describeSettings(s: BenchSettings): string {
  const length = s.durationMs !== null ? `duration ${formatDurationMs(s.durationMs)}` : `${s.count} ops`;
  const parts = [
    `${length} (warmup ${formatDurationMs(s.warmupMs)})${s.rounds > 1 ? ` x ${s.rounds} rounds` : ''}`,
    `key ${s.keySize} B`,
    `value ${s.valueSize} B`,
    `keyspace ${s.keyspace} (${s.preload ? 'preloaded, ' : ''}puts overwrite random keys)`,
    `${s.connections} connection${s.connections === 1 ? '' : 's'} per target`,
  ];
  if (s.ops.includes('mix')) parts.push(`mix ${Math.round(s.mixReadRatio * 100)}% reads`);
  if (s.ops.includes('scan')) parts.push(`scan limit ${s.scanLimit}`);
  if (s.targets.includes('etcd') && s.etcdReads) parts.push(`etcd ${s.etcdReads} reads`);
  return parts.join(', ');
}

const fmtInt = (n: number) => Math.round(n).toLocaleString('en-US');
const fmtMs = (n: number) => (n >= 100 ? n.toFixed(1) : n.toFixed(2));

export function formatTable(report: BenchReport): string {
  const lines: string[] = [];
  lines.push(`tinykv bench ${report.startedAt}`);
  lines.push(`machine:  ${describeMachine(report.machine)} (client and servers share it)`);
  lines.push(`settings: ${describeSettings(report.settings)}`);
  for (const [name, where] of Object.entries(report.targets)) lines.push(`${`${name}:`.padEnd(9)} ${where}`);
  if (report.interrupted) lines.push('INTERRUPTED: stopped with Ctrl-C; the results are what was measured until then');
  lines.push('');

  const ratioTo = report.results.find((r) => r.ratioTo)?.ratioTo;
  const header = ['target', 'op', 'clients', 'ops/s', 'p50 ms', 'p95 ms', 'p99 ms', 'max ms', 'errors', 'client us/op'];
  if (ratioTo) header.push(`vs ${ratioTo}`);
  const rows: string[][] = [header];
  const notes: string[] = [];
  const serverLines: string[] = [];
  for (const r of report.results) {
    const row = [
      r.target,
      r.op,
      String(r.clients),
      fmtInt(r.opsPerSec),
      fmtMs(r.latencyMs.p50),
      fmtMs(r.latencyMs.p95),
      fmtMs(r.latencyMs.p99),
      fmtMs(r.latencyMs.max),
      fmtInt(r.errors),
      fmtInt(r.clientCpuUsPerOp),
    ];
    if (ratioTo) row.push(r.ratio !== undefined ? `${r.ratio.toFixed(2)}x` : '-');
    rows.push(row);
    for (const [call, c] of Object.entries(r.byCall ?? {})) {
      const sub = [
        '',
        `  ${call}`,
        '',
        fmtInt(c.opsPerSec),
        fmtMs(c.latencyMs.p50),
        fmtMs(c.latencyMs.p95),
        fmtMs(c.latencyMs.p99),
        fmtMs(c.latencyMs.max),
        '',
        '',
      ];
      if (ratioTo) sub.push('');
      rows.push(sub);
    }
    const what = `${r.target} ${r.op} x${r.clients}`;
    if (r.firstError !== undefined) notes.push(`${what}: ${r.errors} error(s), first: ${r.firstError}${r.stalled ? ' (stalled)' : ''}`);
    if (r.retries > 0) notes.push(`${what}: ${r.retries} call(s) retried after a region error or an unreachable store (not errors)`);
    if (r.misses > 0) notes.push(`${what}: ${r.misses} get(s) found no value`);
    if (r.server) serverLines.push(`${what}: ${describeServerSide(r.server)}`);
  }
  const numeric = new Set([2, 3, 4, 5, 6, 7, 8, 9, 10]);
  const widths = header.map((_, i) => Math.max(...rows.map((row) => (row[i] ?? '').length)));
  for (const row of rows)
    lines.push(
      row
        .map((cell, i) => (numeric.has(i) ? cell.padStart(widths[i] ?? 0) : cell.padEnd(widths[i] ?? 0)))
        .join('  ')
        .trimEnd(),
    );
  lines.push('', 'client us/op: CPU the bench process itself used per op (time the server under test could not use)');
  if (serverLines.length > 0) {
    lines.push('', "server side (the servers' /metrics over each measured phase; stage times are means per observation):", ...serverLines);
  }
  const warning = loadWarning(report.machine);
  if (warning) notes.push(warning);
  if (notes.length > 0) lines.push('', ...notes);
  return `${lines.join('\n')}\n`;
}

const STAGE_LABELS: Record<string, string> = {
  append: 'append',
  commit: 'commit',
  apply: 'apply',
  raftEngineCommit: 'raft-engine commit',
  kvEngineCommit: 'kv-engine commit',
};

/** "12,345 requests p50 1.20 ms p99 4.50 ms mean 1.50 ms; append 0.80 ms (2,000x), ..." */
export function describeServerSide(server: ServerSideJson): string {
  const stages = Object.entries(server.stages).map(([stage, s]) => `${STAGE_LABELS[stage] ?? stage} ${fmtMs(s.meanMs)} ms (${fmtInt(s.count)}x)`);
  const cpu = server.cpuUsPerRequest > 0 ? `, server CPU ${fmtInt(server.cpuUsPerRequest)} us/op` : '';
  // A server whose metrics have no request histogram of ours (etcd): its CPU per measured op only.
  if (server.meanMs === 0 && server.p99Ms === 0 && stages.length === 0) return `${fmtInt(server.requests)} ops${cpu}`;
  const head = `${fmtInt(server.requests)} requests, p50 ${fmtMs(server.p50Ms)} ms, p99 ${fmtMs(server.p99Ms)} ms, mean ${fmtMs(server.meanMs)} ms${cpu}`;
  return stages.length > 0 ? `${head}; ${stages.join(', ')}` : head;
}
