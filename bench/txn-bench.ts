/**
 * Transaction throughput and latency of `tinykv/client` against one node.
 *
 *   node dist/bench/txn-bench.js [--addr host:port] [--clients 64] [--keys 1|4] [--duration 10s]
 *       [--warmup 1s] [--keyspace 10000] [--value-size 64] [--connections 4] [--no-sync] [--json]
 *
 * Each of `--clients` concurrent workers runs read-write transactions back to back through
 * client.transaction(): read `--keys` distinct random keys, write each back incremented, commit
 * (2PC). Write conflicts are retried inside transaction(); a transaction's latency covers all its
 * attempts. `--clients` and `--keys` take comma lists (e.g. `--clients 64,1 --keys 1,4`): every
 * combination runs, one after another. Without `--addr` an in-process standalone node is started
 * in a temporary directory (on LMDB; `--no-sync` turns fsync off) and removed afterwards; note
 * that it then shares this process's event loop with the clients.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { startServer } from '../src/server/start-server.js';
import type { TinyKvNode } from '../src/server/node.js';
import { silentLogger } from '../src/log/logger.js';
import { connect, type TinyKvClient } from '../src/client/index.js';
import { LatencyHistogram, type LatencySummary } from './histogram.js';
import { machineInfo, describeMachine, type MachineInfo } from './report.js';
import { mulberry32 } from '../src/raft/rng.js';
import { defined } from '../src/util/assert.js';

interface Settings {
  readonly addr: string | undefined;
  readonly clients: number[];
  readonly keys: number[];
  readonly durationMs: number;
  readonly warmupMs: number;
  readonly keyspace: number;
  readonly valueSize: number;
  readonly connections: number | undefined;
  readonly sync: boolean;
  readonly json: boolean;
  readonly seed: number;
}

interface RunResult {
  readonly clients: number;
  readonly keysPerTxn: number;
  readonly connections: number;
  readonly durationMs: number;
  readonly txns: number;
  readonly txnPerSec: number;
  /** Attempts beyond the first (write conflicts and other retryable failures). */
  readonly retries: number;
  /** Transactions that failed even after retrying. */
  readonly errors: number;
  readonly firstError: string | undefined;
  readonly latencyMs: LatencySummary;
}

const USAGE = `usage: node dist/bench/txn-bench.js [--addr host:port] [--clients 64[,1]] [--keys 1|4[,..]] [--duration 10s]
       [--warmup 1s] [--keyspace 10000] [--value-size 64] [--connections N] [--no-sync] [--seed N] [--json]`;

export function parseDuration(text: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(text.trim());
  if (!match) throw new Error(`bad duration "${text}" (e.g. 10s, 500ms, 1m)`);
  const n = Number(match[1]);
  const unit = match[2] ?? 's';
  return Math.round(unit === 'ms' ? n : unit === 's' ? n * 1000 : n * 60_000);
}

function parseList(text: string, name: string): number[] {
  const values = text.split(',').map((part) => Number(part.trim()));
  if (values.length === 0 || values.some((v) => !Number.isInteger(v) || v < 1)) throw new Error(`--${name} takes positive integers, got "${text}"`);
  return values;
}

function parseSettings(argv: string[]): Settings {
  const { values } = parseArgs({
    args: argv,
    options: {
      addr: { type: 'string' },
      clients: { type: 'string', default: '64' },
      keys: { type: 'string', default: '1' },
      duration: { type: 'string', default: '10s' },
      warmup: { type: 'string', default: '1s' },
      keyspace: { type: 'string', default: '10000' },
      'value-size': { type: 'string', default: '64' },
      connections: { type: 'string' },
      'no-sync': { type: 'boolean', default: false },
      seed: { type: 'string' },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  const keyspace = defined(parseList(values.keyspace, 'keyspace')[0], '--keyspace value');
  const keys = parseList(values.keys, 'keys');
  if (keys.some((k) => k > keyspace)) throw new Error('--keys must not exceed --keyspace');
  return {
    addr: values.addr,
    clients: parseList(values.clients, 'clients'),
    keys,
    durationMs: parseDuration(values.duration),
    warmupMs: parseDuration(values.warmup),
    keyspace,
    valueSize: defined(parseList(values['value-size'], 'value-size')[0], '--value-size value'),
    connections: values.connections === undefined ? undefined : parseList(values.connections, 'connections')[0],
    sync: !values['no-sync'],
    json: values.json,
    seed: values.seed === undefined ? Math.floor(Math.random() * 2 ** 31) : Number(values.seed),
  };
}

/** A seeded generator of floats in [0, 1) (mulberry32, shared with the Raft library). */
const rng = mulberry32;

const keyOf = (i: number) => `bench-txn-${String(i).padStart(8, '0')}`;

/** A value of `size` bytes starting with the decimal counter. */
function valueOf(counter: number, size: number): Buffer {
  const text = String(counter);
  const out = Buffer.alloc(Math.max(size, text.length), 0x2e);
  out.write(text);
  return out;
}

const counterOf = (value: Buffer | undefined) => (value === undefined ? 0 : Number.parseInt(value.toString('latin1'), 10) || 0);

async function preload(client: TinyKvClient, settings: Settings): Promise<void> {
  const batch = 1000;
  for (let start = 0; start < settings.keyspace; start += batch) {
    await client.transaction(async (txn) => {
      for (let i = start; i < Math.min(settings.keyspace, start + batch); i++) txn.put(keyOf(i), valueOf(0, settings.valueSize));
    });
  }
}

async function runOnce(clients: TinyKvClient[], settings: Settings, workers: number, keysPerTxn: number, seed: number): Promise<RunResult> {
  const random = rng(seed);
  const histogram = new LatencyHistogram();
  let measuring = false;
  let stop = false;
  let txns = 0;
  let attempts = 0;
  let errors = 0;
  let firstError: string | undefined;

  const pickKeys = (): string[] => {
    const chosen = new Set<number>();
    while (chosen.size < keysPerTxn) chosen.add(Math.floor(random() * settings.keyspace));
    return [...chosen].map(keyOf);
  };

  const worker = async (index: number): Promise<void> => {
    const client = defined(clients[index % clients.length], 'client of a worker');
    while (!stop) {
      const keys = pickKeys();
      const started = performance.now();
      let tries = 0;
      try {
        await client.transaction(
          async (txn) => {
            tries++;
            const values = await txn.batchGet(keys);
            keys.forEach((key, i) => txn.put(key, valueOf(counterOf(values[i]) + 1, settings.valueSize)));
          },
          { maxAttempts: 20, backoffBaseMs: 2, backoffMaxMs: 100 },
        );
        if (measuring) {
          histogram.record((performance.now() - started) * 1000);
          txns++;
          attempts += tries;
        }
      } catch (err) {
        if (measuring) {
          errors++;
          attempts += tries;
          firstError ??= err instanceof Error ? err.message : String(err);
        }
      }
    }
  };

  const running = Array.from({ length: workers }, (_, i) => worker(i));
  await new Promise((r) => setTimeout(r, settings.warmupMs));
  measuring = true;
  const startedAt = performance.now();
  await new Promise((r) => setTimeout(r, settings.durationMs));
  measuring = false;
  const elapsedMs = performance.now() - startedAt;
  stop = true;
  await Promise.all(running);
  const latencyMs = histogram.summary();
  histogram.destroy();
  return {
    clients: workers,
    keysPerTxn,
    connections: clients.length,
    durationMs: Math.round(elapsedMs),
    txns,
    txnPerSec: Math.round((txns / elapsedMs) * 1000 * 10) / 10,
    retries: attempts - txns - errors,
    errors,
    firstError,
    latencyMs,
  };
}

function formatRun(r: RunResult): string {
  const l = r.latencyMs;
  const retryPct = r.txns === 0 ? 0 : Math.round((r.retries / r.txns) * 1000) / 10;
  return (
    `${r.keysPerTxn}-key txn, ${String(r.clients).padStart(3)} clients (${r.connections} conn): ` +
    `${r.txnPerSec.toFixed(1).padStart(8)} txn/s  p50 ${l.p50Ms.toFixed(2)} ms  p99 ${l.p99Ms.toFixed(2)} ms  max ${l.maxMs.toFixed(1)} ms  ` +
    `(${r.txns} txns, ${r.retries} retries = ${retryPct}%, ${r.errors} errors${r.firstError ? `: ${r.firstError}` : ''})`
  );
}

export async function main(argv: string[]): Promise<void> {
  const settings = parseSettings(argv);
  const machine: MachineInfo = machineInfo();
  let node: TinyKvNode | undefined;
  let dataDir: string | undefined;
  let addr = settings.addr;
  if (addr === undefined) {
    dataDir = mkdtempSync(join(tmpdir(), 'tinykv-txn-bench-'));
    node = await startServer({ addr: '127.0.0.1:0', dataDir, sync: settings.sync, logger: silentLogger() });
    addr = node.addr;
  }
  const target = node === undefined ? `node at ${addr}` : `in-process standalone node at ${addr} (LMDB, sync=${settings.sync})`;
  const log = (line: string) => {
    if (!settings.json) console.log(line);
  };
  log(`tinykv txn-bench: read-write transactions via tinykv/client, ${settings.durationMs / 1000}s each (warmup ${settings.warmupMs / 1000}s)`);
  log(`target: ${target}; keyspace ${settings.keyspace}, values ${settings.valueSize} B, seed ${settings.seed}`);
  log(`machine: ${describeMachine(machine)}`);
  const results: RunResult[] = [];
  const maxConnections = settings.connections ?? Math.min(4, Math.max(...settings.clients));
  const clients: TinyKvClient[] = [];
  try {
    for (let i = 0; i < maxConnections; i++) clients.push(await connect({ addr }));
    process.stderr.write(`preloading ${settings.keyspace} keys...\n`);
    await preload(defined(clients[0], 'first client'), settings);
    let run = 0;
    for (const keys of settings.keys) {
      for (const workers of settings.clients) {
        const connections = Math.min(maxConnections, workers);
        const result = await runOnce(clients.slice(0, connections), settings, workers, keys, settings.seed + run++);
        results.push(result);
        log(formatRun(result));
      }
    }
  } finally {
    await Promise.all(clients.map((c) => c.close()));
    await node?.close();
    if (dataDir !== undefined) rmSync(dataDir, { recursive: true, force: true });
  }
  if (settings.json) {
    console.log(JSON.stringify({ settings: { ...settings, target }, machine, results }, null, 2));
  }
}

const invokedDirectly = process.argv[1] !== undefined && import.meta.url === new URL(`file://${process.argv[1]}`).href;
if (invokedDirectly) {
  main(process.argv.slice(2)).then(
    () => process.exit(0),
    (err: unknown) => {
      console.error(err instanceof Error ? err.message : err);
      console.error(USAGE);
      process.exit(2);
    },
  );
}
