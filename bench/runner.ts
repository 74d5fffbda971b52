/**
 * Closed-loop load: N client loops, each with one call in flight, issuing the next call as soon as
 * the previous one returns. A run is a warmup phase (calls made, nothing recorded) followed by the
 * measured phase, which ends after a duration or after a number of ops. Latency is measured per
 * call from just before the request is encoded to the callback, and ops/s is the ops completed in
 * the measured phase over its wall time (until the last call in flight returned).
 */
import { LatencyHistogram } from './histogram.js';
import { silentProgress, type Progress } from './progress.js';
import { createRng, Workload, type BenchOp, type CallKind } from './workload.js';
import type { BenchTarget } from './targets/target.js';

export interface RunSpec {
  readonly op: BenchOp;
  readonly clients: number;
  /** Measured phase length; exactly one of durationMs and count. */
  readonly durationMs?: number;
  /** Ops in the measured phase (all clients together). */
  readonly count?: number;
  readonly warmupMs: number;
  /** The phase is abandoned (calls in flight cancelled) when no call completes for this long. Default 30 s. */
  readonly stallTimeoutMs?: number;
  /** Label for progress, e.g. "noop put x64". */
  readonly label?: string;
  /**
   * Ends the run early (Ctrl-C): the loops stop, calls in flight are cancelled and not counted,
   * and the result covers what was measured until then.
   */
  readonly signal?: AbortSignal;
  /** Awaited between the warmup and the measured phase (a scrape of the server's metrics). */
  readonly beforeMeasure?: () => Promise<void>;
  /** Awaited right after the measured phase. */
  readonly afterMeasure?: () => Promise<void>;
}

export interface RunResult {
  readonly op: BenchOp;
  readonly clients: number;
  /** Successful ops in the measured phase. */
  readonly ops: number;
  /** Failed ops in the measured phase. */
  readonly errors: number;
  /** Calls the target sent again in the measured phase (region errors routed around); not errors. */
  readonly retries: number;
  /** Gets that found no value (not errors; a sign the keyspace was not loaded). */
  readonly misses: number;
  readonly elapsedMs: number;
  readonly opsPerSec: number;
  /** Latency of the successful ops. */
  readonly latency: LatencyHistogram;
  /** For `mix`: latency of the gets and the puts apart. */
  readonly byCall?: Partial<Record<CallKind, LatencyHistogram>>;
  /** The first error's message, when there were errors. */
  readonly firstError?: string;
  /** Set when the stall watchdog ended the run. */
  readonly stalled?: boolean;
  /**
   * CPU time (user + system) this process spent per successful op in the measured phase, in
   * microseconds: the bench client's own cost, taken from the cores the server under test shares.
   */
  readonly clientCpuUsPerOp: number;
}

interface PhaseState {
  issued: number;
  done: number;
  errors: number;
  misses: number;
  stop: boolean;
  stalled: boolean;
  /** Stopped by the caller's signal: calls cut short then are neither ops nor errors. */
  interrupted: boolean;
  firstError: string | undefined;
}

interface PhaseLimits {
  readonly deadline?: number;
  readonly count?: number;
}

const TICK_MS = 200;

export async function runWorkload(target: BenchTarget, workload: Workload, spec: RunSpec, progress: Progress = silentProgress): Promise<RunResult> {
  validateSpec(spec);
  const label = spec.label ?? `${target.name} ${spec.op} x${spec.clients}`;
  const stallMs = spec.stallTimeoutMs ?? 30_000;

  if (spec.warmupMs > 0) {
    const warm = newState();
    progress.begin(`${label} (warmup)`, spec.warmupMs, 'ms');
    const start = performance.now();
    await watch(target, warm, start, stallMs, progress, 'ms', spec.signal, () =>
      runLoops(target, workload, spec, warm, { deadline: start + spec.warmupMs }, undefined, 1),
    );
    progress.end();
    if (warm.stalled) return stalledResult(spec, warm, performance.now() - start);
  }
  if (spec.signal?.aborted) return emptyResult(spec);
  await spec.beforeMeasure?.();

  const state = newState();
  const latency = new LatencyHistogram();
  const byCall = spec.op === 'mix' ? { get: new LatencyHistogram(), put: new LatencyHistogram() } : undefined;
  const unit = spec.durationMs !== undefined ? 'ms' : 'ops';
  progress.begin(label, spec.durationMs ?? spec.count!, unit);
  const retriesStart = target.retries ?? 0;
  const cpuStart = process.cpuUsage();
  const start = performance.now();
  const limits: PhaseLimits = spec.durationMs !== undefined ? { deadline: start + spec.durationMs } : { count: spec.count! };
  await watch(target, state, start, stallMs, progress, unit, spec.signal, () =>
    runLoops(target, workload, spec, state, limits, { latency, byCall }, 2),
  );
  const elapsedMs = performance.now() - start;
  const cpu = process.cpuUsage(cpuStart);
  progress.end();
  await spec.afterMeasure?.();

  return {
    op: spec.op,
    clients: spec.clients,
    ops: state.done,
    errors: state.errors,
    retries: (target.retries ?? 0) - retriesStart,
    misses: state.misses,
    elapsedMs,
    opsPerSec: elapsedMs > 0 ? (state.done * 1000) / elapsedMs : 0,
    latency,
    byCall,
    firstError: state.firstError,
    stalled: state.stalled || undefined,
    clientCpuUsPerOp: state.done > 0 ? (cpu.user + cpu.system) / state.done : 0,
  };
}

/**
 * Writes every key of the keyspace once (untimed) with `concurrency` loops, so gets and scans find
 * data. Fails on the first error.
 */
export async function preloadKeyspace(
  target: BenchTarget,
  workload: Workload,
  concurrency: number,
  progress: Progress = silentProgress,
  label = `${target.name} preload`,
  signal?: AbortSignal,
): Promise<{ elapsedMs: number }> {
  const start = performance.now();
  let next = 0;
  let done = 0;
  let failure: unknown;
  progress.begin(label, workload.keyspace, 'ops');
  const timer = setInterval(() => progress.update(done, done, (done * 1000) / (performance.now() - start)), TICK_MS);
  const loop = async (lane: number) => {
    while (failure === undefined && next < workload.keyspace && !signal?.aborted) {
      const i = next++;
      try {
        await target.put(workload.keyAt(i), workload.value, lane);
        done++;
      } catch (err) {
        failure ??= err;
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, workload.keyspace)) }, (_, lane) => loop(lane)));
  } finally {
    clearInterval(timer);
    progress.end();
  }
  if (failure !== undefined) throw new Error(`preloading the keyspace on ${target.name} failed: ${describeError(failure)}`);
  return { elapsedMs: performance.now() - start };
}

function validateSpec(spec: RunSpec): void {
  if (!Number.isSafeInteger(spec.clients) || spec.clients < 1) throw new RangeError(`clients must be a positive integer, got ${spec.clients}`);
  if ((spec.durationMs === undefined) === (spec.count === undefined)) throw new RangeError('give exactly one of a duration and an op count');
  if (spec.durationMs !== undefined && !(spec.durationMs > 0)) throw new RangeError('duration must be > 0');
  if (spec.count !== undefined && !(Number.isSafeInteger(spec.count) && spec.count > 0)) throw new RangeError('count must be a positive integer');
}

function newState(): PhaseState {
  return { issued: 0, done: 0, errors: 0, misses: 0, stop: false, stalled: false, interrupted: false, firstError: undefined };
}

/** A run interrupted before its measured phase began: nothing measured. */
function emptyResult(spec: RunSpec): RunResult {
  return {
    op: spec.op,
    clients: spec.clients,
    ops: 0,
    errors: 0,
    retries: 0,
    misses: 0,
    elapsedMs: 0,
    opsPerSec: 0,
    latency: new LatencyHistogram(),
    clientCpuUsPerOp: 0,
  };
}

function stalledResult(spec: RunSpec, state: PhaseState, elapsedMs: number): RunResult {
  return {
    op: spec.op,
    clients: spec.clients,
    ops: 0,
    errors: state.errors,
    retries: 0,
    misses: 0,
    elapsedMs,
    opsPerSec: 0,
    latency: new LatencyHistogram(),
    firstError: state.firstError ?? 'no call completed during warmup',
    stalled: true,
    clientCpuUsPerOp: 0,
  };
}

/** Runs `body` while ticking progress and watching for a stall. */
async function watch(
  target: BenchTarget,
  state: PhaseState,
  start: number,
  stallMs: number,
  progress: Progress,
  unit: 'ms' | 'ops',
  signal: AbortSignal | undefined,
  body: () => Promise<void>,
): Promise<void> {
  let lastSeen = -1;
  let lastChange = start;
  const interrupt = () => {
    if (state.stop) return;
    state.stop = true;
    state.interrupted = true;
    target.cancelInFlight();
  };
  if (signal?.aborted) interrupt();
  signal?.addEventListener('abort', interrupt);
  const timer = setInterval(() => {
    const now = performance.now();
    const seen = state.done + state.errors;
    if (seen !== lastSeen) {
      lastSeen = seen;
      lastChange = now;
    } else if (now - lastChange > stallMs && !state.stop) {
      state.stop = true;
      state.stalled = true;
      state.firstError ??= `no call completed for ${stallMs} ms; calls in flight were cancelled`;
      target.cancelInFlight();
    }
    const elapsed = now - start;
    progress.update(unit === 'ms' ? elapsed : state.done, state.done, elapsed > 0 ? (state.done * 1000) / elapsed : 0);
  }, TICK_MS);
  try {
    await body();
  } finally {
    clearInterval(timer);
    signal?.removeEventListener('abort', interrupt);
  }
}

interface Recorders {
  readonly latency: LatencyHistogram;
  readonly byCall: Partial<Record<CallKind, LatencyHistogram>> | undefined;
}

function runLoops(
  target: BenchTarget,
  workload: Workload,
  spec: RunSpec,
  state: PhaseState,
  limits: PhaseLimits,
  rec: Recorders | undefined,
  phase: number,
): Promise<void> {
  const loops: Array<Promise<void>> = [];
  for (let lane = 0; lane < spec.clients; lane++) loops.push(clientLoop(target, workload, spec.op, lane, state, limits, rec, phase));
  return Promise.all(loops).then(() => undefined);
}

async function clientLoop(
  target: BenchTarget,
  workload: Workload,
  op: BenchOp,
  lane: number,
  state: PhaseState,
  limits: PhaseLimits,
  rec: Recorders | undefined,
  phase: number,
): Promise<void> {
  const rng = createRng((workload.seed * 1_000_003 + lane * 7919 + phase) >>> 0);
  const { deadline, count } = limits;
  const value = workload.value;
  const scanLimit = workload.scanLimit;
  while (!state.stop) {
    if (count !== undefined) {
      if (state.issued >= count) break;
      state.issued++;
    }
    const call = workload.nextCall(op, rng);
    const key = workload.randomKey(rng);
    const t0 = performance.now();
    let t1: number;
    try {
      if (call === 'get') {
        if (!(await target.get(key, lane))) state.misses++;
      } else if (call === 'put') {
        await target.put(key, value, lane);
      } else {
        await target.scan(key, scanLimit, lane);
      }
      t1 = performance.now();
      if (state.stop) break; // cancelled by the watchdog while in flight: not a sample
      state.done++;
      if (rec) {
        const us = (t1 - t0) * 1000;
        rec.latency.record(us);
        rec.byCall?.[call]?.record(us);
      }
    } catch (err) {
      t1 = performance.now();
      if (state.interrupted) break; // cancelled because the user stopped the bench: not a failure
      state.errors++;
      state.firstError ??= describeError(err);
    }
    if (deadline !== undefined && t1 >= deadline) break;
  }
}

/**
 * Two runs of the same op and clients as one: ops, errors and time summed, histograms merged
 * (into `a`'s), so ops/s is total ops over total measured time.
 */
export function mergeRuns(a: RunResult, b: RunResult): RunResult {
  a.latency.add(b.latency);
  if (a.byCall && b.byCall) {
    for (const call of ['get', 'put', 'scan'] as const) {
      const into = a.byCall[call];
      const from = b.byCall[call];
      if (into && from) into.add(from);
    }
  }
  const ops = a.ops + b.ops;
  const elapsedMs = a.elapsedMs + b.elapsedMs;
  return {
    ...a,
    ops,
    errors: a.errors + b.errors,
    retries: a.retries + b.retries,
    misses: a.misses + b.misses,
    elapsedMs,
    opsPerSec: elapsedMs > 0 ? (ops * 1000) / elapsedMs : 0,
    firstError: a.firstError ?? b.firstError,
    stalled: a.stalled || b.stalled || undefined,
    clientCpuUsPerOp: ops > 0 ? (a.clientCpuUsPerOp * a.ops + b.clientCpuUsPerOp * b.ops) / ops : 0,
  };
}

export function describeError(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
