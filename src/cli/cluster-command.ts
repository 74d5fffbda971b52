/**
 * `tinykv cluster`: a local cluster for trying things out and benchmarking: one scheduler and N
 * store processes on loopback, their addresses printed, all stopped on Ctrl-C (SIGINT/SIGTERM).
 * While it runs, lines on standard input add or stop stores and show stores and leaders
 * (cluster-console.ts).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command, Option } from 'commander';
import { LOG_FORMATS } from '../config/config.js';
import { parseSizeBytes } from '../config/units.js';
import { defined } from '../util/assert.js';
import { UsageError } from './output.js';
import { SchedulerClient } from '../client/scheduler-client.js';
import { startClusterConsole, type ClusterConsoleActions } from './cluster-console.js';

const CLI_PATH = fileURLToPath(new URL('./main.js', import.meta.url));
const START_TIMEOUT_MS = 60_000;

interface ClusterFlags {
  stores: number;
  dataDir: string;
  host: string;
  schedulerPort: number;
  basePort: number;
  initialRegions?: number;
  logLevel: string;
  logFormat: string;
  raftBaseTickMs?: number;
  raftPollers?: string;
  splitKeys?: string;
  regionMaxSize?: string;
  regionSplitSize?: string;
}

function positiveInt(name: string, max: number) {
  return (text: string): number => {
    const value = Number(text);
    if (!Number.isSafeInteger(value) || value < 1 || value > max) throw new UsageError(`${name} must be an integer in 1..${max}`);
    return value;
  };
}

/** A size flag handed to every store as written, once it reads as a size (the store validates the rest). */
function sizeText(name: string) {
  return (text: string): string => {
    if (parseSizeBytes(text) === undefined) throw new UsageError(`${name} must be a size such as "96MiB" or a byte count`);
    return text;
  };
}

interface StartedChild {
  readonly child: ChildProcess;
  readonly addr: string;
  /** The store id a cluster store announces ("tinykv store 4 listening on ..."). */
  readonly storeId?: number;
  /** The status server's URL a store announces ("tinykv status server on http://..."), if any. */
  readonly statusUrl?: string;
  /** What the child is called in messages; a store is renamed by its id once it announces it. */
  readonly label: { name: string };
  /** The start of what the child printed (its announcements), up to STARTUP_OUTPUT_MAX_CHARS. */
  readonly startupOutput: () => string;
}

const STARTUP_OUTPUT_MAX_CHARS = 4096;

/** Starts the CLI with `args` and resolves with its address once it prints "listening on". */
function startChild(args: string[], name: string, print: (text: string) => void): Promise<StartedChild> {
  return new Promise((resolve, reject) => {
    // Node's own flags pass on, so `node --cpu-prof .../main.js cluster` profiles every process.
    const child = spawn(process.execPath, [...process.execArgv, CLI_PATH, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
    const label = { name };
    let buffered = '';
    const timer = setTimeout(() => reject(new Error(`${name} did not start within ${START_TIMEOUT_MS} ms`)), START_TIMEOUT_MS);
    defined(child.stdout, 'stdout of a child spawned with a pipe').on('data', (chunk: Buffer) => {
      if (buffered.length < STARTUP_OUTPUT_MAX_CHARS) buffered += chunk.toString();
      const match = /(?:store (\d+) )?listening on (\S+)/.exec(buffered);
      if (match) {
        clearTimeout(timer);
        const storeId = match[1] === undefined ? undefined : Number(match[1]);
        if (storeId !== undefined) label.name = `store ${storeId}`;
        const statusUrl = /status server on (\S+)/.exec(buffered)?.[1];
        resolve({ child, addr: defined(match[2], 'address in a listening line'), storeId, statusUrl, label, startupOutput: () => buffered });
      }
    });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`${label.name} exited (${signal ?? code}) before it was ready`));
      print(`${label.name} exited (${signal ?? code})`);
    });
  });
}

export function registerClusterCommand(program: Command, print: (text: string) => void): void {
  program
    .command('cluster')
    .description('run a local cluster: a scheduler and N stores as separate processes')
    .option('--stores <n>', 'number of store processes', positiveInt('--stores', 16), 3)
    .option('--data-dir <path>', 'parent directory of every process data directory', './cluster-data')
    .option('--host <host>', 'loopback host to listen on', '127.0.0.1')
    .option(
      '--scheduler-port <port>',
      'scheduler gRPC port; its admin HTTP API takes the next free one',
      positiveInt('--scheduler-port', 65535),
      2379,
    )
    .option('--base-port <port>', 'first store port (then +1 each)', positiveInt('--base-port', 65535), 20160)
    .option('--initial-regions <k>', 'pre-split the key space into K regions at bootstrap', positiveInt('--initial-regions', 1024))
    .option('--raft-base-tick-ms <ms>', 'wall time of one raft tick', positiveInt('--raft-base-tick-ms', 10_000))
    .option('--split-keys <keys>', 'comma-separated split points of the initial regions (passed to the scheduler)')
    .option('--raft-pollers <n>', 'raft poller threads per store (0: peers on the main thread)')
    .option('--region-max-size <size>', "every store's region-max-size: split a region past this", sizeText('--region-max-size'))
    .option('--region-split-size <size>', "every store's region-split-size: what a split leaves on the left", sizeText('--region-split-size'))
    .option('--log-level <level>', 'log level of every process', 'warn')
    .addOption(new Option('--log-format <format>', 'log format of every process: json lines, or pretty text').choices(LOG_FORMATS).default('json'))
    .action((flags: ClusterFlags) => runCluster(flags, print));
}

/** A store process this command started, with where it lives. */
interface RunningStore extends StartedChild {
  readonly dataDir: string;
}

/**
 * Starts the scheduler, then every store; serves the console (cluster-console.ts) on standard
 * input; runs until SIGINT/SIGTERM, then stops them all.
 */
async function runCluster(flags: ClusterFlags, print: (text: string) => void): Promise<void> {
  const children: ChildProcess[] = [];
  const stores: RunningStore[] = [];
  let schedulerAddr: string;
  try {
    const scheduler = await startSchedulerChild(flags, print);
    children.push(scheduler.child);
    schedulerAddr = scheduler.addr;
    print(`scheduler  ${scheduler.addr}`);
    const started = await Promise.all(
      Array.from({ length: flags.stores }, (_, i) =>
        startStoreChild(flags, scheduler.addr, i, print).then((store) => {
          children.push(store.child);
          return { ...store, dataDir: storeDataDir(flags, i) };
        }),
      ),
    );
    stores.push(...started);
    // By now the scheduler has long announced its admin API (right after it listened), if it serves one.
    const adminUrl = /admin API on (\S+)/.exec(scheduler.startupOutput())?.[1];
    if (adminUrl) {
      print(`admin API  ${adminUrl}  (tinykv ctl --pd ${new URL(adminUrl).origin} ...)`);
      print(`dashboard  ${new URL(adminUrl).origin}/dashboard  (metrics: ${new URL(adminUrl).origin}/metrics)`);
    }
    printStores(stores, print);
    printStatusUrls(stores, print);
    print('cluster ready; Ctrl-C stops every process; type help for commands');
  } catch (err) {
    await stopAll(children);
    throw err;
  }
  const scheduler = lazySchedulerClient(schedulerAddr);
  const commands = startClusterConsole(process.stdin, consoleActions(flags, schedulerAddr, { children, stores }, scheduler.get, print), print);
  await new Promise<void>((resolve) => {
    const handler = () => resolve();
    process.once('SIGINT', handler);
    process.once('SIGTERM', handler);
  });
  commands.close();
  // Reading stdin would keep the process alive after the children are gone.
  process.stdin.destroy();
  scheduler.close();
  await stopAll(children);
  print('cluster stopped');
}

/** One scheduler client, connected on first use (only the console's lookups need it). */
function lazySchedulerClient(addr: string): { get: () => Promise<SchedulerClient>; close: () => void } {
  let client: Promise<SchedulerClient> | undefined;
  return {
    get: () => (client ??= SchedulerClient.connect(addr)),
    close: () => void client?.then((c) => c.close()).catch(() => {}),
  };
}

/** The console's actions on this cluster: more stores at the next port and data dir, stops by id, lookups. */
function consoleActions(
  flags: ClusterFlags,
  schedulerAddr: string,
  running: { children: ChildProcess[]; stores: RunningStore[] },
  scheduler: () => Promise<SchedulerClient>,
  print: (text: string) => void,
): ClusterConsoleActions {
  return {
    addStore: async () => {
      // The next index after every store started so far: a new port and a new, empty data dir.
      const i = running.stores.length;
      const store = await startStoreChild(flags, schedulerAddr, i, print);
      running.children.push(store.child);
      running.stores.push({ ...store, dataDir: storeDataDir(flags, i) });
      const line = storeLine(store.label.name, store.addr, storeDataDir(flags, i), 'scheduler'.length);
      return store.statusUrl ? `${line}\n${statusLine(store.label.name, store.statusUrl)}` : line;
    },
    stopStore: async (storeId) => {
      const store = running.stores.find((s) => s.storeId === storeId && s.child.exitCode === null && s.child.signalCode === null);
      if (!store) return false;
      await stopAll([store.child]);
      return true;
    },
    stores: async () => (await scheduler()).getAllStores(),
    regions: async () => (await scheduler()).scanRegions(Buffer.alloc(0)),
  };
}

function startSchedulerChild(flags: ClusterFlags, print: (text: string) => void): Promise<StartedChild> {
  return startChild(
    [
      'scheduler',
      '--addr',
      `${flags.host}:${flags.schedulerPort}`,
      '--status-addr',
      `${flags.host}:${schedulerStatusPort(flags)}`,
      '--data-dir',
      join(flags.dataDir, 'scheduler'),
      '--initial-stores',
      String(flags.stores),
      '--log-level',
      flags.logLevel,
      '--log-format',
      flags.logFormat,
      ...(flags.initialRegions ? ['--initial-regions', String(flags.initialRegions)] : []),
      ...(flags.splitKeys ? ['--split-keys', flags.splitKeys] : []),
    ],
    'scheduler',
    print,
  );
}

/**
 * The scheduler's admin API port: the one after its gRPC port (what `tinykv ctl --scheduler`
 * assumes) unless a store takes that one, then the first port after the stores.
 */
function schedulerStatusPort(flags: ClusterFlags): number {
  const next = flags.schedulerPort + 1;
  const takenByStore = next >= flags.basePort && next < flags.basePort + flags.stores;
  const port = takenByStore ? flags.basePort + flags.stores : next;
  if (port > 65_535) throw new UsageError('no port is left for the scheduler admin API; lower --base-port or --scheduler-port');
  return port;
}

/**
 * The i-th store's port (from 0): base-port + i, past the scheduler's ports. A store added while
 * the cluster runs (index >= --stores) must not take the admin API's port, which may be the first
 * one after the initial stores.
 */
function storePort(flags: ClusterFlags, i: number): number {
  const reserved = new Set([flags.schedulerPort, schedulerStatusPort(flags)]);
  let port = flags.basePort - 1;
  for (let left = i; left >= 0; left--) {
    port++;
    while (reserved.has(port)) port++;
  }
  if (port > 65_535) throw new UsageError('no port is left for another store; lower --base-port');
  return port;
}

/** The i-th store (from 0): port storePort(i), data in <data-dir>/store-<i + 1>. */
function startStoreChild(flags: ClusterFlags, schedulerAddr: string, i: number, print: (text: string) => void): Promise<StartedChild> {
  return startChild(
    [
      'server',
      '--scheduler',
      schedulerAddr,
      '--addr',
      `${flags.host}:${storePort(flags, i)}`,
      '--data-dir',
      storeDataDir(flags, i),
      '--status-addr',
      `${flags.host}:${storeStatusPort(flags, i)}`,
      '--log-level',
      flags.logLevel,
      '--log-format',
      flags.logFormat,
      ...(flags.raftBaseTickMs ? ['--raft-base-tick-ms', String(flags.raftBaseTickMs)] : []),
      ...(flags.raftPollers !== undefined ? ['--raft-pollers', flags.raftPollers] : []),
      ...(flags.regionMaxSize !== undefined ? ['--region-max-size', flags.regionMaxSize] : []),
      ...(flags.regionSplitSize !== undefined ? ['--region-split-size', flags.regionSplitSize] : []),
    ],
    `the store in ${storeDataDir(flags, i)}`,
    print,
  );
}

/** Status ports sit this far above store ports (TiKV's 20160 and 20180). */
const STATUS_PORT_OFFSET = 20;

/**
 * The i-th store's status port: its store port + STATUS_PORT_OFFSET (20180, 20181, ... by default)
 * when no port of the cluster takes that one; else, and for stores the console adds later, 0 (a
 * free port, which the store announces and the console prints).
 */
function storeStatusPort(flags: ClusterFlags, i: number): number {
  if (i >= flags.stores) return 0;
  const port = storePort(flags, i) + STATUS_PORT_OFFSET;
  const taken = new Set([flags.schedulerPort, schedulerStatusPort(flags)]);
  for (let store = 0; store < flags.stores; store++) taken.add(storePort(flags, store));
  return port > 65_535 || taken.has(port) ? 0 : port;
}

function storeDataDir(flags: ClusterFlags, i: number): string {
  return join(flags.dataDir, `store-${i + 1}`);
}

/**
 * Stores are named by the id the scheduler gave them (what its API, region peers and logs say),
 * not by start order; the data directory tells which process it is.
 */
function printStores(stores: readonly RunningStore[], print: (text: string) => void): void {
  const byId = [...stores].sort((a, b) => (a.storeId ?? 0) - (b.storeId ?? 0));
  const width = Math.max(...byId.map((store) => store.label.name.length), 'scheduler'.length);
  for (const store of byId) print(storeLine(store.label.name, store.addr, store.dataDir, width));
}

/** One line per store with a status server: `status  store 1  http://...` (its /metrics, /status, ...). */
function printStatusUrls(stores: readonly RunningStore[], print: (text: string) => void): void {
  const byId = [...stores].sort((a, b) => (a.storeId ?? 0) - (b.storeId ?? 0));
  for (const store of byId) if (store.statusUrl) print(statusLine(store.label.name, store.statusUrl));
}

function statusLine(name: string, url: string): string {
  return `status     ${name}  ${url}  (/metrics /livez /readyz /status /config)`;
}

function storeLine(name: string, addr: string, dataDir: string, width: number): string {
  return `${name.padEnd(width)}  ${addr}  ${dataDir}`;
}

/** SIGTERM to every child still running; resolves once all have exited. */
async function stopAll(children: readonly ChildProcess[]): Promise<void> {
  await Promise.all(
    children.map(
      (child) =>
        new Promise<void>((resolve) => {
          if (child.exitCode !== null || child.signalCode !== null) return resolve();
          child.once('exit', () => resolve());
          child.kill('SIGTERM');
        }),
    ),
  );
}
