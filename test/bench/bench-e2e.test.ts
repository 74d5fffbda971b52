// `tinykv bench` end to end: short runs through the command line against the no-op server (in
// this process: the child-process server needs a build) and against an in-process node.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Command } from 'commander';
import { registerBenchCommand, type BenchCommandIo } from '../../src/cli/bench-command.js';
import { startServer, type TinyKvNode } from '../../src/index.js';
import { silentLogger } from '../../src/log/logger.js';
import { NoopTarget } from '../../bench/targets/noop.js';
import { runBench } from '../../bench/bench.js';
import type { BenchReport, BenchResultJson } from '../../bench/report.js';
import { tempDir } from '../helpers/tmp.js';

function capture(): { io: BenchCommandIo; out: () => string; err: () => string } {
  let out = '';
  let err = '';
  const stdout = { write: (s: string) => ((out += s), true) } as unknown as NodeJS.WritableStream;
  const stderr = { write: (s: string) => ((err += s), true), isTTY: false } as unknown as NodeJS.WriteStream;
  return { io: { stdout, stderr }, out: () => out, err: () => err };
}

async function bench(args: string[]): Promise<{ stdout: string; stderr: string }> {
  const { io, out, err } = capture();
  const program = new Command('tinykv').exitOverride().configureOutput({ writeErr: () => {} });
  registerBenchCommand(program, io);
  await program.parseAsync(['bench', ...args], { from: 'user' });
  return { stdout: out(), stderr: err() };
}

function expectHealthy(r: BenchResultJson, count: number): void {
  expect(r.errors).toBe(0);
  expect(r.ops).toBe(count);
  expect(r.opsPerSec).toBeGreaterThan(0);
  expect(r.latencyMs.p50).toBeGreaterThan(0);
  expect(r.latencyMs.p50).toBeLessThanOrEqual(r.latencyMs.p95);
  expect(r.latencyMs.p95).toBeLessThanOrEqual(r.latencyMs.p99);
  expect(r.latencyMs.p99).toBeLessThanOrEqual(r.latencyMs.max);
}

const SHORT = ['--count', '200', '--clients', '4', '--warmup', '0s', '--keyspace', '200', '--progress', 'off', '--output', 'json'];

let node: TinyKvNode;
let dir: ReturnType<typeof tempDir>;

beforeAll(async () => {
  dir = tempDir('tinykv-bench-');
  // No fsync per write: these tests check the bench, not the disk.
  node = await startServer({ addr: '127.0.0.1:0', statusAddr: '127.0.0.1:0', dataDir: dir.path, logger: silentLogger(), sync: false });
});

afterAll(async () => {
  await node?.close();
  dir?.cleanup();
});

describe('tinykv bench', () => {
  it('runs put, get, mix and scan against the no-op server', async () => {
    const { stdout, stderr } = await bench(['--target', 'noop', '--noop-in-process', '--op', 'put,get,mix,scan', ...SHORT]);
    const report = JSON.parse(stdout) as BenchReport;
    expect(report.tool).toBe('tinykv-bench');
    expect(report.settings).toMatchObject({ targets: ['noop'], ops: ['put', 'get', 'mix', 'scan'], clients: [4], connections: 4, count: 200 });
    expect(report.results.map((r) => r.op)).toEqual(['put', 'get', 'mix', 'scan']);
    for (const r of report.results) expectHealthy(r, 200);
    const mix = report.results.find((r) => r.op === 'mix')!;
    expect((mix.byCall?.get?.ops ?? 0) + (mix.byCall?.put?.ops ?? 0)).toBe(200);
    expect(stderr).toContain('noop: connecting');
  });

  it('runs against a TinyKV-TS node, preloading the keyspace so every get finds its key', async () => {
    const { stdout } = await bench(['--target', 'tinykv', '--addr', node.addr, '--op', 'put,get,scan', ...SHORT]);
    const report = JSON.parse(stdout) as BenchReport;
    expect(report.results).toHaveLength(3);
    for (const r of report.results) {
      expect(r.target).toBe('tinykv');
      expectHealthy(r, 200);
      expect(r.misses).toBe(0);
    }
  });

  it("adds the store's side from its /metrics: exactly the measured phase's requests, their latency and engine commits", async () => {
    const metricsUrl = `http://${node.statusAddr}/metrics`;
    const { stdout } = await bench(['--target', 'tinykv', '--addr', node.addr, '--server-metrics', metricsUrl, '--op', 'put', ...SHORT]);
    const [put] = (JSON.parse(stdout) as BenchReport).results;
    expectHealthy(put!, 200);
    const server = put!.server!;
    expect(server.requests).toBe(200);
    expect(server.p50Ms).toBeGreaterThan(0);
    expect(server.p50Ms).toBeLessThanOrEqual(server.p99Ms);
    // The server answers before the client hears back: its median is not above the client's p99.
    expect(server.p50Ms).toBeLessThanOrEqual(put!.latencyMs.p99);
    expect(server.stages.kvEngineCommit?.count).toBeGreaterThan(0);
    const table = await bench([
      '--target',
      'tinykv',
      '--addr',
      node.addr,
      '--server-metrics',
      node.statusAddr!,
      '--op',
      'put',
      ...SHORT.slice(0, -2),
    ]);
    expect(table.stdout).toMatch(
      /^server side .*\n^tinykv put x4: 200 requests, p50 [\d.]+ ms, p99 [\d.]+ ms, mean [\d.]+ ms(, server CPU [\d,]+ us\/op)?; kv-engine commit/m,
    );
  });

  it('drives TinyKv/BatchCommands streams with --batch-commands, direct and routed', async () => {
    for (const where of [
      ['--addr', node.addr],
      ['--scheduler', node.addr],
    ]) {
      const { stdout } = await bench(['--target', 'tinykv', ...where, '--batch-commands', '--op', 'put,get,scan', ...SHORT]);
      const report = JSON.parse(stdout) as BenchReport;
      expect(report.targets.tinykv).toMatch(/BatchCommands streams/);
      for (const r of report.results) {
        expectHealthy(r, 200);
        expect(r.misses).toBe(0);
      }
    }
  });

  it('routes by region through --scheduler; a standalone node stands in for the scheduler as one region', async () => {
    const { stdout } = await bench(['--target', 'tinykv', '--scheduler', node.addr, '--op', 'put,get,scan', ...SHORT]);
    const report = JSON.parse(stdout) as BenchReport;
    expect(report.settings.scheduler).toBe(node.addr);
    expect(report.targets.tinykv).toMatch(/standalone, routed/);
    for (const r of report.results) {
      expectHealthy(r, 200);
      expect(r.retries).toBe(0);
      expect(r.misses).toBe(0);
    }
  });

  it('compares targets side by side in one table with a ratio to the no-op ceiling', async () => {
    const { stdout } = await bench(['--target', 'noop,tinykv', '--addr', node.addr, '--noop-in-process', '--op', 'put', ...SHORT.slice(0, -2)]);
    expect(stdout).toMatch(/^machine: .*cores/m);
    expect(stdout).toMatch(/vs noop$/m);
    expect(stdout).toMatch(/^noop\s+put\s+4\s+.*1\.00x$/m);
    expect(stdout).toMatch(/^tinykv\s+put\s+4\s+.*\d\.\d\dx$/m);
  });

  it('runs for a duration with several client counts, in rounds merged per target', async () => {
    const report = await runBench({
      targets: ['tinykv'],
      rounds: 2,
      addr: node.addr,
      endpoints: [],
      ops: ['get'],
      clients: [2, 1],
      keySize: 16,
      valueSize: 64,
      keyspace: 50,
      mixReadRatio: 0.5,
      scanLimit: 10,
      durationMs: 150,
      warmupMs: 50,
    });
    expect(report.results.map((r) => r.clients)).toEqual([2, 1]);
    for (const r of report.results) {
      expect(r.ops).toBeGreaterThan(0);
      expect(r.errors).toBe(0);
      expect(r.elapsedMs).toBeGreaterThanOrEqual(300);
      expect(r.latencyMs.p50).toBeLessThanOrEqual(r.latencyMs.p99);
    }
  });

  it('counts failed calls, and fails (still printing the report) when every op failed', async () => {
    const { io, out } = capture();
    const program = new Command('tinykv').exitOverride().configureOutput({ writeErr: () => {} });
    registerBenchCommand(program, io);
    const args = [
      'bench',
      '--target',
      'tinykv',
      '--addr',
      node.addr,
      '--op',
      'put',
      '--key-size',
      '2000',
      '--count',
      '20',
      '--clients',
      '2',
      '--warmup',
      '0s',
      '--output',
      'json',
    ];
    await expect(program.parseAsync(args, { from: 'user' })).rejects.toThrow(/every op failed in 1 run\(s\): tinykv put x2: .*KeyTooLarge/);
    const report = JSON.parse(out()) as BenchReport;
    expect(report.results[0]).toMatchObject({ ops: 0, errors: 20, firstError: expect.stringMatching(/^INVALID_ARGUMENT: .*KeyTooLarge/) });
  });

  it('fails clearly when nothing serves the address', async () => {
    await expect(bench(['--target', 'tinykv', '--addr', '127.0.0.1:1', '--connect-timeout', '300ms', ...SHORT])).rejects.toThrow(
      /cannot connect to 127\.0\.0\.1:1/,
    );
  });

  it('rejects bad options', async () => {
    await expect(bench(['--target', 'mysql'])).rejects.toThrow(/unknown target "mysql"/);
    await expect(bench(['--op', 'delete'])).rejects.toThrow(/unknown op "delete"/);
    await expect(bench(['--count', '10', '--duration', '1s'])).rejects.toThrow(/not both/);
    await expect(bench(['--target', 'etcd'])).rejects.toThrow(/--endpoints/);
  });

  // The global test setup builds dist/; the CLI spawns this script the same way.
  const compiledNoop = fileURLToPath(new URL('../../dist/bench/noop-server.js', import.meta.url));
  it.skipIf(!existsSync(compiledNoop))('runs the compiled no-op server as a child process and stops it', async () => {
    const target = new NoopTarget({ connections: 2, keySize: 16, valueSize: 100, serverScript: compiledNoop });
    await target.connect();
    try {
      expect(target.description).toMatch(/^127\.0\.0\.1:\d+ \(2 connections\), child process$/);
      await target.put(Buffer.from('k1'), Buffer.from('v'), 0);
      expect(await target.get(Buffer.from('k1'), 1)).toBe(true);
      expect(await target.scan(Buffer.from('k'), 7, 0)).toBe(7);
    } finally {
      await target.close();
    }
    await expect(target.get(Buffer.from('k1'), 0)).rejects.toThrow(/not connected/);
  });

  it('asks for a build when the compiled no-op server is missing', async () => {
    const target = new NoopTarget({ connections: 1, keySize: 16, valueSize: 8, serverScript: '/nonexistent/noop-server.js' });
    await expect(target.connect()).rejects.toThrow(/not built.*npm run build/);
  });
});
