// The bench's server side: Prometheus text parsed, two scrapes differenced for the run's methods,
// several stores summed, rounds merged, and quantiles read off the buckets as Prometheus does.
import { describe, expect, it } from 'vitest';
import { bucketQuantile, deltaOf, mergeDeltas, parseSamples, summarize } from '../../bench/server-metrics.js';
import { describeServerSide } from '../../bench/report.js';

/** A store's /metrics with `puts` RawPut requests spread over the 1 ms and 2 ms buckets, and stage sums. */
function exposition(putsUnder1Ms: number, putsUnder2Ms: number, appendCount: number): string {
  const total = putsUnder1Ms + putsUnder2Ms;
  return [
    '# HELP tinykv_grpc_request_duration_seconds Time from a gRPC request arriving to its answer, by method',
    '# TYPE tinykv_grpc_request_duration_seconds histogram',
    `tinykv_grpc_request_duration_seconds_bucket{method="RawPut",le="0.001"} ${putsUnder1Ms}`,
    `tinykv_grpc_request_duration_seconds_bucket{method="RawPut",le="0.002"} ${total}`,
    `tinykv_grpc_request_duration_seconds_bucket{method="RawPut",le="+Inf"} ${total}`,
    `tinykv_grpc_request_duration_seconds_sum{method="RawPut"} ${total * 0.0012}`,
    `tinykv_grpc_request_duration_seconds_count{method="RawPut"} ${total}`,
    'tinykv_grpc_request_duration_seconds_bucket{method="RawGet",le="0.001"} 7',
    'tinykv_grpc_request_duration_seconds_bucket{method="RawGet",le="+Inf"} 7',
    'tinykv_grpc_request_duration_seconds_count{method="RawGet"} 7',
    `tinykv_raftstore_append_log_duration_seconds_sum ${appendCount * 0.0005}`,
    `tinykv_raftstore_append_log_duration_seconds_count ${appendCount}`,
    `tinykv_engine_commit_duration_seconds_sum{engine="kv"} ${appendCount * 0.0001}`,
    `tinykv_engine_commit_duration_seconds_count{engine="kv"} ${appendCount}`,
    `process_cpu_seconds_total ${appendCount * 0.001}`,
    'not a sample line {',
  ].join('\n');
}

describe('server side of a bench run', () => {
  it('parses samples with their labels sorted, skipping comments and junk', () => {
    const samples = parseSamples(exposition(3, 1, 2));
    expect(samples.get('tinykv_grpc_request_duration_seconds_bucket{le="0.001",method="RawPut"}')).toBe(3);
    expect(samples.get('tinykv_grpc_request_duration_seconds_bucket{le="+Inf",method="RawPut"}')).toBe(4);
    expect(samples.get('tinykv_raftstore_append_log_duration_seconds_count')).toBe(2);
    expect([...samples.keys()].some((key) => key.startsWith('#') || key.startsWith('not'))).toBe(false);
  });

  it("differences two scrapes for the run's methods only, and reads quantiles from the buckets", () => {
    const before = parseSamples(exposition(100, 0, 10));
    // 100 more puts: 50 under 1 ms, 50 between 1 and 2 ms; 40 more appends.
    const after = parseSamples(exposition(150, 50, 50));
    const delta = deltaOf(before, after, ['RawPut']);
    expect(delta.requests).toBe(100);
    const summary = summarize(delta);
    // The median is the 50th request: the top of the 1 ms bucket; p99 interpolates inside (1, 2] ms.
    expect(summary.p50Ms).toBeCloseTo(1, 6);
    expect(summary.p99Ms).toBeCloseTo(1.98, 6);
    expect(summary.stages.append).toEqual({ count: 40, meanMs: 0.5 });
    expect(summary.stages.kvEngineCommit).toEqual({ count: 40, meanMs: 0.1 });
    expect(summary.stages.commit).toBeUndefined();
    // 40 appends' worth of CPU (40 ms) over 100 requests.
    expect(summary.cpuUsPerRequest).toBeCloseTo(400, 6);
  });

  it("reads another server's CPU per op from its process metrics alone (etcd), and prints only that", () => {
    const before = parseSamples('process_cpu_seconds_total 10\ngrpc_server_handled_total{grpc_method="Put"} 5\n');
    const after = parseSamples('process_cpu_seconds_total 10.5\ngrpc_server_handled_total{grpc_method="Put"} 2505\n');
    // No tinykv request histogram: the bench's own count of measured ops stands in (bench.ts runOne).
    const delta = { ...deltaOf(before, after, ['RawPut']), requests: 2_500 };
    const summary = summarize(delta);
    expect(summary.cpuUsPerRequest).toBeCloseTo(200, 6);
    expect(describeServerSide(summary)).toBe('2,500 ops, server CPU 200 us/op');
  });

  it('merges rounds by adding their differences', () => {
    const a = deltaOf(parseSamples(exposition(0, 0, 0)), parseSamples(exposition(10, 0, 4)), ['RawPut']);
    const b = deltaOf(parseSamples(exposition(0, 0, 0)), parseSamples(exposition(0, 10, 6)), ['RawPut']);
    const merged = summarize(mergeDeltas(a, b));
    expect(merged.requests).toBe(20);
    expect(merged.p50Ms).toBeCloseTo(1, 6);
    expect(merged.stages.append?.count).toBe(10);
  });

  it('gives the largest finite bound for a quantile in the +Inf bucket, and 0 with no requests', () => {
    expect(
      bucketQuantile(
        new Map([
          [0.001, 1],
          [Infinity, 10],
        ]),
        0.99,
      ),
    ).toBe(0.001);
    expect(bucketQuantile(new Map(), 0.5)).toBe(0);
  });
});
