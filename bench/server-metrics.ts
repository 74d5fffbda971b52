/**
 * The server's side of a bench run, from the stores' Prometheus `/metrics`: scraped right before
 * and right after the measured phase, the difference says how long the stores took to answer the
 * run's requests (tinykv_grpc_request_duration_seconds of the op's methods) and where that time went
 * (the raftstore's append, commit, apply and engine-commit histograms). Several stores' scrapes add
 * up series by series; rounds of one run add up difference by difference.
 */

/** A scrape: every sample by its series (`name{label="value",...}` with labels sorted). */
export type Samples = ReadonlyMap<string, number>;

/** The gRPC methods a bench op calls on a TinyKV store. */
export const METHODS_OF_OP: Readonly<Record<string, readonly string[]>> = {
  put: ['RawPut'],
  get: ['RawGet'],
  mix: ['RawGet', 'RawPut'],
  scan: ['RawScan'],
};

/** Where a request's time goes on the stores, by histogram (seconds): the report shows each one's mean. */
export const STAGES = {
  append: 'tinykv_raftstore_append_log_duration_seconds',
  commit: 'tinykv_raftstore_commit_log_duration_seconds',
  apply: 'tinykv_raftstore_apply_duration_seconds',
  raftEngineCommit: 'tinykv_engine_commit_duration_seconds{engine="raft"}',
  kvEngineCommit: 'tinykv_engine_commit_duration_seconds{engine="kv"}',
} as const;
export type StageName = keyof typeof STAGES;

const REQUEST_HISTOGRAM = 'tinykv_grpc_request_duration_seconds';

/** What the stores counted during a run (differences of two scrapes). */
export interface ServerDelta {
  /** Requests of the run's methods by bucket upper bound (seconds; Infinity last), cumulative. */
  readonly requestBuckets: ReadonlyMap<number, number>;
  readonly requests: number;
  readonly requestSeconds: number;
  readonly stages: Readonly<Record<StageName, { readonly count: number; readonly seconds: number }>>;
  /** CPU the scraped processes used (process_cpu_seconds_total, summed over them). */
  readonly cpuSeconds: number;
}

/** The report's view of a ServerDelta (milliseconds). */
export interface ServerSideJson {
  readonly requests: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly meanMs: number;
  /** Mean of each stage's observations, and how many there were. */
  readonly stages: Partial<Record<StageName, { readonly count: number; readonly meanMs: number }>>;
  /** The scraped processes' CPU per request of the run (µs): the server's cost of an op. */
  readonly cpuUsPerRequest: number;
}

const SAMPLE_LINE = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})?\s+(\S+)/;
const LABEL = /(\w+)="((?:[^"\\]|\\.)*)"/g;

/** Parses the Prometheus text format's samples (comments and malformed lines are skipped). */
export function parseSamples(text: string): Map<string, number> {
  const samples = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const match = SAMPLE_LINE.exec(line);
    if (!match) continue;
    const [, name, labelText, valueText] = match;
    const value = Number(valueText === '+Inf' ? Infinity : valueText);
    if (!Number.isFinite(value)) continue;
    const labels = [...(labelText ?? '').matchAll(LABEL)]
      .map(([, k, v]) => [k ?? '', v ?? ''] as const)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    const key = labels.length === 0 ? (name ?? '') : `${name}{${labels.map(([k, v]) => `${k}="${v}"`).join(',')}}`;
    samples.set(key, (samples.get(key) ?? 0) + value);
  }
  return samples;
}

/** Scrapes every URL and adds their samples up; undefined when none answered. */
export async function scrapeAll(urls: readonly string[], timeoutMs = 3_000): Promise<Samples | undefined> {
  const texts = await Promise.all(
    urls.map(async (url) => {
      try {
        const response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
        return response.ok ? await response.text() : undefined;
      } catch {
        return undefined;
      }
    }),
  );
  const answered = texts.filter((text): text is string => text !== undefined);
  if (answered.length === 0) return undefined;
  const total = new Map<string, number>();
  for (const text of answered) for (const [key, value] of parseSamples(text)) total.set(key, (total.get(key) ?? 0) + value);
  return total;
}

const diff = (before: Samples, after: Samples, key: string) => Math.max(0, (after.get(key) ?? 0) - (before.get(key) ?? 0));

/** What the stores counted between two scrapes, for requests of `methods`. */
export function deltaOf(before: Samples, after: Samples, methods: readonly string[]): ServerDelta {
  const requestBuckets = new Map<number, number>();
  let requests = 0;
  let requestSeconds = 0;
  for (const method of methods) {
    const prefix = `${REQUEST_HISTOGRAM}_bucket{le="`;
    for (const key of after.keys()) {
      if (!key.startsWith(prefix) || !key.endsWith(`",method="${method}"}`)) continue;
      const le = key.slice(prefix.length, key.indexOf('"', prefix.length));
      const bound = le === '+Inf' ? Infinity : Number(le);
      requestBuckets.set(bound, (requestBuckets.get(bound) ?? 0) + diff(before, after, key));
    }
    requests += diff(before, after, `${REQUEST_HISTOGRAM}_count{method="${method}"}`);
    requestSeconds += diff(before, after, `${REQUEST_HISTOGRAM}_sum{method="${method}"}`);
  }
  const stages = {} as Record<StageName, { count: number; seconds: number }>;
  for (const [stage, series] of Object.entries(STAGES) as Array<[StageName, string]>) {
    stages[stage] = { count: diff(before, after, withSuffix(series, '_count')), seconds: diff(before, after, withSuffix(series, '_sum')) };
  }
  return { requestBuckets, requests, requestSeconds, stages, cpuSeconds: diff(before, after, 'process_cpu_seconds_total') };
}

/** `name{labels}` with a suffix on the name. */
function withSuffix(series: string, suffix: string): string {
  const brace = series.indexOf('{');
  return brace < 0 ? `${series}${suffix}` : `${series.slice(0, brace)}${suffix}${series.slice(brace)}`;
}

/** Two runs' differences together (rounds of one run). */
export function mergeDeltas(a: ServerDelta, b: ServerDelta): ServerDelta {
  const requestBuckets = new Map(a.requestBuckets);
  for (const [bound, count] of b.requestBuckets) requestBuckets.set(bound, (requestBuckets.get(bound) ?? 0) + count);
  const stages = {} as Record<StageName, { count: number; seconds: number }>;
  for (const stage of Object.keys(STAGES) as StageName[]) {
    stages[stage] = { count: a.stages[stage].count + b.stages[stage].count, seconds: a.stages[stage].seconds + b.stages[stage].seconds };
  }
  return {
    requestBuckets,
    requests: a.requests + b.requests,
    requestSeconds: a.requestSeconds + b.requestSeconds,
    stages,
    cpuSeconds: a.cpuSeconds + b.cpuSeconds,
  };
}

/**
 * The q-quantile of cumulative buckets, interpolated linearly inside the bucket it falls in (as
 * Prometheus's histogram_quantile does); in the +Inf bucket, the largest finite bound.
 */
export function bucketQuantile(buckets: ReadonlyMap<number, number>, q: number): number {
  const sorted = [...buckets].sort(([a], [b]) => a - b);
  const total = sorted.at(-1)?.[1] ?? 0;
  if (total === 0) return 0;
  const rank = q * total;
  let lowerBound = 0;
  let lowerCount = 0;
  for (const [bound, count] of sorted) {
    if (count >= rank) {
      if (bound === Infinity) return lowerBound;
      const inBucket = count - lowerCount;
      return inBucket === 0 ? bound : lowerBound + (bound - lowerBound) * ((rank - lowerCount) / inBucket);
    }
    lowerBound = bound;
    lowerCount = count;
  }
  return lowerBound;
}

const ms = (seconds: number) => Math.round(seconds * 1_000_000) / 1_000;

export function summarize(delta: ServerDelta): ServerSideJson {
  const stages: ServerSideJson['stages'] = {};
  for (const [stage, { count, seconds }] of Object.entries(delta.stages) as Array<[StageName, { count: number; seconds: number }]>) {
    if (count > 0) stages[stage] = { count, meanMs: ms(seconds / count) };
  }
  return {
    requests: delta.requests,
    p50Ms: ms(bucketQuantile(delta.requestBuckets, 0.5)),
    p99Ms: ms(bucketQuantile(delta.requestBuckets, 0.99)),
    meanMs: delta.requests > 0 ? ms(delta.requestSeconds / delta.requests) : 0,
    stages,
    cpuUsPerRequest: delta.requests > 0 ? Math.round((delta.cpuSeconds / delta.requests) * 1e7) / 10 : 0,
  };
}
