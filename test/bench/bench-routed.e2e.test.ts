// `tinykv bench --scheduler` end to end with real processes from the CLI: a scheduler and three
// stores whose key space is pre-split into four regions at the bench's own key boundaries. Routed
// by region, a run meets no error; sent to one store (no --scheduler), the same run gets region
// errors for the regions that store does not lead.
import type { ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BenchReport } from '../../bench/report.js';
import { SchedulerClient } from '../../src/client/scheduler-client.js';
import { defined } from '../../src/util/assert.js';
import { runCli, startSchedulerProcess, startServerProcess, type ServerProcess } from '../helpers/cli-process.js';
import { tempDir } from '../helpers/tmp.js';

// Keys are "k" + 4 digits (--key-size 5 --keyspace 100): each region holds a quarter of them.
const SPLIT_KEYS = 'k0025,k0050,k0075';
const REGIONS = 4;
const RUN = ['bench', '--target', 'tinykv', '--op', 'put,get', '--count', '300', '--clients', '4', '--warmup', '0s'];
const SHAPE = ['--keyspace', '100', '--key-size', '5', '--progress', 'off', '--output', 'json', '--connect-timeout', '10s'];

const children: ChildProcess[] = [];
const dir = tempDir('tinykv-bench-routed-');
let scheduler: SchedulerClient;
let schedulerAddr = '';
/** By store id. */
const stores = new Map<number, ServerProcess>();
let dataDirs: string[] = [];

async function startStore(dataDir: string, addr = '127.0.0.1:0'): Promise<ServerProcess> {
  const args = ['--scheduler', schedulerAddr, '--addr', addr, '--data-dir', dataDir, '--raft-base-tick-ms', '20', '--log-level', 'warn'];
  const store = await startServerProcess(args);
  children.push(store.child);
  return store;
}

/** The store id leading each region once the scheduler has heard of a leader for all of them. */
async function leaders(deadlineMs = 30_000): Promise<number[]> {
  const deadline = Date.now() + deadlineMs;
  for (;;) {
    const lookups = await scheduler.scanRegions(Buffer.alloc(0)).catch(() => []);
    const led = lookups.map((l) => l.leader?.storeId ?? 0);
    if (led.length === REGIONS && led.every((id) => id !== 0)) return led;
    if (Date.now() > deadline) throw new Error(`regions without a known leader: ${JSON.stringify(lookups)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Maps store ids to the processes by the address each store registered. */
async function identifyStores(processes: readonly ServerProcess[]): Promise<void> {
  stores.clear();
  for (const store of await scheduler.getAllStores()) {
    const proc = processes.find((p) => p.addr === store.address);
    if (proc !== undefined) stores.set(Number(store.id), proc);
  }
}

async function bench(args: string[], run: readonly string[] = RUN): Promise<{ code: number | null; report: BenchReport; stderr: string }> {
  const result = await runCli([...run, ...SHAPE, ...args], 90_000);
  return { code: result.code, report: JSON.parse(result.stdout) as BenchReport, stderr: result.stderr };
}

beforeAll(async () => {
  const started = await startSchedulerProcess(join(dir.path, 'scheduler'), 3, (child) => children.push(child), ['--split-keys', SPLIT_KEYS]);
  schedulerAddr = started.addr;
  scheduler = await SchedulerClient.connect(schedulerAddr);
  dataDirs = [1, 2, 3].map((n) => join(dir.path, `store-${n}`));
  let processes = await Promise.all(dataDirs.map((d) => startStore(d)));
  await identifyStores(processes);
  // The stores elect the regions' leaders on their own; when one store won them all, restart it
  // (same address and data) so the others take some over.
  for (let attempt = 0; new Set(await leaders()).size < 2; attempt++) {
    if (attempt === 3) throw new Error('the region leaders stayed on one store');
    const only = defined(stores.get(defined((await leaders())[0], 'leader')), 'the leading store');
    only.child.kill('SIGKILL');
    await only.exited;
    const index = processes.indexOf(only);
    const restarted = await startStore(defined(dataDirs[index], 'its data dir'), only.addr);
    processes = processes.map((p) => (p === only ? restarted : p));
    await identifyStores(processes);
    await new Promise((r) => setTimeout(r, 1000));
  }
}, 120_000);

afterAll(async () => {
  scheduler?.close();
  // A child killed by a signal keeps exitCode null: signalCode tells it has exited.
  const running = children.filter((child) => child.exitCode === null && child.signalCode === null);
  const exits = running.map((child) => new Promise((r) => child.once('exit', r)));
  for (const child of running) child.kill('SIGKILL');
  await Promise.all(exits);
  dir.cleanup();
});

describe('tinykv bench --scheduler on a 3-store cluster with 4 regions', () => {
  it('routes every call to its region leader: no error across regions led from different stores', async () => {
    const led = await leaders();
    expect(new Set(led).size).toBeGreaterThanOrEqual(2);
    const { code, report, stderr } = await bench(['--scheduler', schedulerAddr]);
    expect(code, stderr).toBe(0);
    expect(report.settings.scheduler).toBe(schedulerAddr);
    expect(report.targets.tinykv).toMatch(/4 regions led from [23] stores/);
    for (const result of report.results) {
      expect(result.errors, result.firstError).toBe(0);
      expect(result.ops).toBe(300);
      expect(result.misses).toBe(0);
    }
  }, 120_000);

  it('without --scheduler, the same run against one store gets region errors', async () => {
    const led = await leaders();
    // A store that does not lead every region: calls for the others come back with region errors.
    const [storeId] = [...stores.keys()].filter((id) => led.some((leader) => leader !== id));
    const store = defined(stores.get(defined(storeId, 'a store')), 'its process');
    const { code, report } = await bench(['--addr', store.addr, '--no-preload']);
    expect(code).toBe(1);
    const errors = report.results.reduce((sum, r) => sum + r.errors, 0);
    expect(errors).toBeGreaterThan(0);
    expect(report.results.every((r) => r.retries === 0)).toBe(true);
    expect(report.results.map((r) => r.firstError)).toContainEqual(expect.stringMatching(/region error/));
  }, 120_000);

  it('retries around a region leader killed mid-run: retries counted, no error', async () => {
    const led = await leaders();
    const victim = defined(stores.get(defined(led[0], 'a leader')), 'its process');
    const run = ['bench', '--target', 'tinykv', '--op', 'put', '--duration', '6s', '--clients', '4', '--warmup', '0s', '--no-preload'];
    const running = bench(['--scheduler', schedulerAddr], run);
    await new Promise((r) => setTimeout(r, 2500));
    victim.child.kill('SIGKILL');
    const { code, report, stderr } = await running;
    expect(code, stderr).toBe(0);
    const [result] = report.results;
    expect(result?.errors, result?.firstError).toBe(0);
    expect(result?.retries).toBeGreaterThan(0);
  }, 120_000);
});
