// The bench report: JSON shape, comparison order and ratios, and the text table.
import { describe, expect, it } from 'vitest';
import { LatencyHistogram } from '../../bench/histogram.js';
import { buildResults, formatJson, formatTable, machineInfo, type BenchReport, type MeasuredRun } from '../../bench/report.js';
import { benchSettings, type BenchConfig } from '../../bench/bench.js';
import { defined } from '../../src/util/assert.js';

function hist(...us: number[]): LatencyHistogram {
  const h = new LatencyHistogram();
  for (const v of us) h.record(v);
  return h;
}

function run(
  target: MeasuredRun['target'],
  op: MeasuredRun['op'],
  clients: number,
  opsPerSec: number,
  extra: Partial<MeasuredRun> = {},
): MeasuredRun {
  return {
    target,
    op,
    clients,
    ops: Math.round(opsPerSec),
    errors: 0,
    retries: 0,
    misses: 0,
    elapsedMs: 1000,
    opsPerSec,
    latency: hist(100, 200, 300, 4000),
    clientCpuUsPerOp: 42.42,
    ...extra,
  };
}

const config: BenchConfig = {
  targets: ['noop', 'tinykv'],
  addr: '127.0.0.1:20160',
  endpoints: [],
  ops: ['put', 'get'],
  clients: [64, 1],
  keySize: 16,
  valueSize: 256,
  keyspace: 1000,
  mixReadRatio: 0.5,
  scanLimit: 10,
  durationMs: 10_000,
  warmupMs: 1000,
};

function report(runs: MeasuredRun[]): BenchReport {
  const settings = benchSettings(config);
  return {
    tool: 'tinykv-bench',
    version: 1,
    startedAt: '2025-01-01T00:00:00.000Z',
    machine: machineInfo(),
    settings,
    targets: { noop: '127.0.0.1:1 (4 connections), child process', tinykv: '127.0.0.1:20160 (4 connections)' },
    results: buildResults(runs, settings),
  };
}

describe('bench report', () => {
  const runs = [
    run('noop', 'put', 64, 10_000),
    run('noop', 'put', 1, 2000),
    run('noop', 'get', 64, 12_000),
    run('noop', 'get', 1, 2500),
    run('tinykv', 'put', 64, 8500),
    run('tinykv', 'put', 1, 1500),
    run('tinykv', 'get', 64, 11_000, { errors: 3, firstError: 'UNAVAILABLE: boom' }),
    run('tinykv', 'get', 1, 2400),
  ];

  it('notes the machine', () => {
    const m = machineInfo();
    expect(m.cores).toBeGreaterThan(0);
    expect(m.cpuModel).not.toBe('');
    expect(m.node).toBe(process.version);
    expect(m.totalMemBytes).toBeGreaterThan(0);
  });

  it('is one JSON document with machine, settings and results in comparison order', () => {
    const doc = JSON.parse(formatJson(report(runs))) as Record<string, unknown>;
    expect(Object.keys(doc)).toEqual(['tool', 'version', 'startedAt', 'machine', 'settings', 'targets', 'results']);
    expect(doc.machine).toMatchObject({
      cpuModel: expect.any(String),
      cores: expect.any(Number),
      totalMemBytes: expect.any(Number),
      node: process.version,
    });
    expect(doc.settings).toMatchObject({
      targets: ['noop', 'tinykv'],
      ops: ['put', 'get'],
      clients: [64, 1],
      connections: 4,
      keySize: 16,
      valueSize: 256,
      durationMs: 10_000,
      count: null,
      putKeys: 'overwrite-random',
    });
    const results = doc.results as Array<Record<string, unknown>>;
    expect(results.map((r) => `${String(r.target)} ${String(r.op)} ${String(r.clients)}`)).toEqual([
      'noop put 64',
      'tinykv put 64',
      'noop put 1',
      'tinykv put 1',
      'noop get 64',
      'tinykv get 64',
      'noop get 1',
      'tinykv get 1',
    ]);
    const first = defined(results[1], 'results[1]');
    expect(first).toMatchObject({
      target: 'tinykv',
      op: 'put',
      clients: 64,
      ops: 8500,
      errors: 0,
      misses: 0,
      elapsedMs: 1000,
      opsPerSec: 8500,
      ratio: 0.85,
      ratioTo: 'noop',
      clientCpuUsPerOp: 42.4,
    });
    // hdr-histogram reports the highest value equivalent to the sample (3 significant digits).
    const close = (ms: number) => expect.closeTo(ms, 2);
    expect(first.latencyMs).toEqual({
      p50: close(0.2),
      p95: close(4),
      p99: close(4),
      p999: close(4),
      max: close(4),
      mean: close(1.15),
      min: close(0.1),
    });
    expect(results[0]).toMatchObject({ ratio: 1 });
    expect(results[5]).toMatchObject({ errors: 3, firstError: 'UNAVAILABLE: boom' });
  });

  it('has no ratio with a single target', () => {
    const settings = benchSettings({ ...config, targets: ['tinykv'] });
    const results = buildResults([run('tinykv', 'put', 64, 100)], settings);
    expect(defined(results[0], 'results[0]').ratio).toBeUndefined();
  });

  it('prints a table with the machine, the settings and a ratio column', () => {
    const text = formatTable(report(runs));
    expect(text).toMatch(/^machine: .* cores, .* GiB RAM, .*node v\d+/m);
    expect(text).toMatch(/^settings: duration 10s \(warmup 1s\), key 16 B, value 256 B/m);
    expect(text).toMatch(/^target\s+op\s+clients\s+ops\/s\s+p50 ms\s+p95 ms\s+p99 ms\s+max ms\s+errors\s+client us\/op\s+vs noop$/m);
    expect(text).toMatch(/^tinykv\s+put\s+64\s+8,500\s+0\.20\s+4\.00\s+4\.00\s+4\.00\s+0\s+42\s+0\.85x$/m);
    expect(text).toContain('tinykv get x64: 3 error(s), first: UNAVAILABLE: boom');
  });
});
