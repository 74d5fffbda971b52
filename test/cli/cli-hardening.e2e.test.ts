// The CLI with real processes: numbers that are not numbers never reach a server, a bench whose
// calls fail does not exit 0, a bench stopped with Ctrl-C still prints what it measured, and
// `tinykv cluster` names its stores by store id.
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { createServer, type Server as NetServer } from 'node:net';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SchedulerClient } from '../../src/client/scheduler-client.js';
import { CLI_PATH, runCli, startServerProcess, type ServerProcess } from '../helpers/cli-process.js';
import { tempDir } from '../helpers/tmp.js';
import { defined } from '../../src/util/assert.js';

const dirs: Array<ReturnType<typeof tempDir>> = [];
const children: ChildProcess[] = [];
const servers: ServerProcess[] = [];

afterAll(() => {
  for (const server of servers) server.child.kill('SIGKILL');
  for (const child of children) child.kill('SIGKILL');
  for (const dir of dirs) dir.cleanup();
});

function newDir(): string {
  const dir = tempDir('tinykv-cli-hardening-');
  dirs.push(dir);
  return dir.path;
}

/** A standalone node that refuses values over 100 bytes (the bench's default value is 256). */
async function strictServer(): Promise<ServerProcess> {
  const dir = newDir();
  writeFileSync(join(dir, 'strict.toml'), '[limits]\nmax-value-size = "100B"\n');
  const server = await startServerProcess([
    '--standalone',
    '--addr',
    '127.0.0.1:0',
    '--data-dir',
    dir,
    '--config',
    join(dir, 'strict.toml'),
    '--log-level',
    'warn',
  ]);
  servers.push(server);
  return server;
}

interface Spawned {
  readonly child: ChildProcess;
  stdout(): string;
  stderr(): string;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

function spawnCli(args: string[]): Spawned {
  const child = spawn(process.execPath, [CLI_PATH, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let out = '';
  let err = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (err += d));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal })),
  );
  return { child, stdout: () => out, stderr: () => err, exited };
}

async function waitFor(done: () => boolean, timeoutMs: number, what: string): Promise<void> {
  for (const deadline = Date.now() + timeoutMs; !done();) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('ctl validates its numbers', () => {
  it('--limit abc and --timeout-ms abc exit 2 and contact no server', async () => {
    // A listener that counts who connects: a call the CLI sent would show here.
    let connections = 0;
    const listener: NetServer = createServer((socket) => {
      connections++;
      socket.destroy();
    });
    await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
    const { port } = listener.address() as { port: number };
    const at = ['--addr', `127.0.0.1:${port}`, '--timeout-ms', '2000'];
    try {
      const cases: string[][] = [
        ['ctl', 'raw', 'scan', '--limit', 'abc', ...at],
        ['ctl', 'raw', 'scan', '--limit', '0', ...at],
        ['ctl', 'raw', 'scan', '--limit', '10x', ...at],
        ['ctl', 'raw', 'get', 'k', '--addr', `127.0.0.1:${port}`, '--timeout-ms', 'abc'],
        ['ctl', 'raw', 'put', 'k', 'v', '--addr', `127.0.0.1:${port}`, '--timeout-ms', '-5'],
      ];
      for (const args of cases) {
        const result = await runCli(args);
        expect(result.code, `${args.join(' ')}: ${result.stderr}`).toBe(2);
        expect(result.stderr).toMatch(/must be a positive integer, got "/);
      }
      expect(connections).toBe(0);
    } finally {
      await new Promise((resolve) => listener.close(resolve));
    }
  });
});

describe('bench reports failures', () => {
  it('prints what it measured and exits 1 when calls failed', async () => {
    const server = await strictServer();
    // mix: the gets succeed, every put is refused (ValueTooLarge).
    const result = await runCli(
      [
        'bench',
        '--addr',
        server.addr,
        '--op',
        'mix',
        '--no-preload',
        '--clients',
        '2',
        '--duration',
        '1s',
        '--warmup',
        '0ms',
        '--progress',
        'off',
        '--output',
        'json',
      ],
      60_000,
    );
    expect(result.code, result.stderr).toBe(1);
    const report = JSON.parse(result.stdout) as { results: Array<{ ops: number; errors: number; firstError?: string }> };
    expect(report.results).toHaveLength(1);
    expect(defined(report.results[0], 'report.results[0]').ops).toBeGreaterThan(0);
    expect(defined(report.results[0], 'report.results[0]').errors).toBeGreaterThan(0);
    expect(defined(report.results[0], 'report.results[0]').firstError).toContain('KV:Server:ValueTooLarge');
    expect(result.stderr).toMatch(/^error: \d+ of \d+ calls failed/m);
  });

  it('on Ctrl-C stops the load, prints the partial results and exits 130', async () => {
    const server = await strictServer();
    const bench = spawnCli([
      'bench',
      '--addr',
      server.addr,
      '--op',
      'get,put',
      '--no-preload',
      '--clients',
      '2',
      '--duration',
      '120s',
      '--warmup',
      '0ms',
      '--progress',
      'on',
      '--output',
      'json',
    ]);
    // The progress line (once a second off a TTY) shows gets measured in the get run.
    await waitFor(() => /tinykv get x2 .*\| [1-9]\d* ops \|/.test(bench.stderr()), 60_000, 'gets to be measured');
    const interruptedAt = Date.now();
    bench.child.kill('SIGINT');
    const exit = await bench.exited;
    expect(Date.now() - interruptedAt).toBeLessThan(15_000);
    expect(exit, bench.stderr()).toEqual({ code: 130, signal: null });
    const report = JSON.parse(bench.stdout()) as {
      interrupted?: boolean;
      results: Array<{ op: string; ops: number; errors: number; elapsedMs: number }>;
    };
    expect(report.interrupted).toBe(true);
    // The get run was cut short and reported; the put run never started.
    expect(report.results.map((r) => r.op)).toEqual(['get']);
    expect(defined(report.results[0], 'report.results[0]').ops).toBeGreaterThan(0);
    expect(defined(report.results[0], 'report.results[0]').errors).toBe(0);
    expect(defined(report.results[0], 'report.results[0]').elapsedMs).toBeLessThan(60_000);
    expect(bench.stderr()).toContain('interrupted');
  });
});

describe('tinykv cluster', () => {
  it('labels each store by its store id, as the scheduler knows it', async () => {
    const dataDir = newDir();
    // Ports away from the defaults and below Linux's ephemeral range; the stores' follow the scheduler's.
    const base = 21_000 + Math.floor(Math.random() * 9_000);
    const cluster = spawnCli([
      'cluster',
      '--stores',
      '3',
      '--data-dir',
      dataDir,
      '--scheduler-port',
      String(base),
      '--base-port',
      String(base + 1),
      '--raft-pollers',
      '0',
    ]);
    await waitFor(() => cluster.stdout().includes('cluster ready') || cluster.child.exitCode !== null, 90_000, 'the cluster');
    expect(cluster.stdout(), cluster.stderr()).toContain('cluster ready');
    const labelled = [...cluster.stdout().matchAll(/^store (\d+)\s+(\S+)\s+(\S+)$/gm)].map((m) => ({
      id: Number(m[1]),
      addr: defined(m[2], 'm[2]'),
      dataDir: defined(m[3], 'm[3]'),
    }));
    expect(labelled).toHaveLength(3);

    const scheduler = await SchedulerClient.connect(`127.0.0.1:${base}`);
    try {
      const known = (await scheduler.getAllStores()).map((s) => ({ id: Number(s.id), addr: s.address })).sort((a, b) => a.id - b.id);
      expect(labelled.map(({ id, addr }) => ({ id, addr }))).toEqual(known);
    } finally {
      scheduler.close();
    }
    // Each data directory belongs to the store named beside it.
    for (const store of labelled) expect(store.dataDir.startsWith(join(dataDir, 'store-'))).toBe(true);
    expect(new Set(labelled.map((s) => s.dataDir)).size).toBe(3);
    // Each store serves a status port, printed with its id.
    const statusUrls = [...cluster.stdout().matchAll(/^status\s+store (\d+)\s+(\S+)/gm)].map((m) => ({
      id: Number(m[1]),
      url: defined(m[2], 'm[2]'),
    }));
    expect(statusUrls.map((s) => s.id).sort()).toEqual(labelled.map((s) => s.id).sort());
    for (const { id, url } of statusUrls) {
      expect((await fetch(`${url}/livez`)).status).toBe(200);
      expect(((await (await fetch(`${url}/status`)).json()) as { store_id: number }).store_id).toBe(id);
    }

    cluster.child.kill('SIGINT');
    expect((await cluster.exited).code).toBe(0);
    expect(cluster.stdout()).toContain('cluster stopped');
  });
});
