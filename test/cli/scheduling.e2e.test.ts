// End to end: the scheduler schedules a cluster of real `tinykv server` processes started from the
// CLI, while clients keep writing. A scheduler pre-splits the key space into REGIONS regions on
// three stores, which are filled with about 1 MiB each through tinykv/client. Then, with raw
// writers of unique keys and register clients (checked for linearizability) running throughout:
//   1. two more stores start; regions (by count and by size) and leaders spread over all five;
//   2. one store is killed -9; once it is Down its replicas are made again on live stores;
//   3. `tinykv ctl store delete` drains another store: Offline, then Tombstone, and its process
//      stops by itself (a fatal line, exit code 70);
//   4. `tinykv ctl operator add transfer-leader` moves a leader, and `ctl operator show` says so.
// At the end every acknowledged write reads back, every register history is linearizable, and no
// process failed but the killed and the drained ones. Each phase prints one
// `[scheduling-e2e] <phase>: <seconds> s, <regions> regions, <MiB> MiB` line.
import { mulberry32 } from '../../src/raft/rng.js';
import { sleep, waitForSeeded } from '../helpers/seeded-wait.js';
import type { ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClientError, connect, type TinyKvClient } from '../../src/client/index.js';
import { defined } from '../../src/util/assert.js';
import { RegisterHistory } from '../cluster/workload.js';
import { runCli, startSchedulerProcess, startServerProcess, type ServerProcess } from '../helpers/cli-process.js';
import { FAIL_STOP_EXIT_CODE, internalFailureLines, unhealthyReason } from '../helpers/store-health.js';
import { tempDir } from '../helpers/tmp.js';

// The seed replays the keys chosen (not the timing): TINYKV_SCHEDULING_E2E_SEED=<seed printed>.
const SEED = Number(process.env['TINYKV_SCHEDULING_E2E_SEED'] ?? Date.now() % 1_000_000);
/**
 * Enough regions for the ±20% criteria to be reachable under the schedulers' own thresholds: 24
 * leaders on 5 stores (mean 4.8) allow 4..5 each, and balance-leader stops only at a gap below 2,
 * so its resting state is within; 72 replicas (mean 14.4) allow 12..17, and balance-region stops
 * at a gap of at most 2 regions' size.
 */
const REGIONS = 24;
const PRELOAD_VALUE_BYTES = 16 * 1024;
/** About 1 MiB of data per region, so sizes (not just the 1 MiB an empty region counts) are balanced. */
const PRELOAD_KEYS = REGIONS * 64;
const WRITER_VALUE_BYTES = 1024;
const RAW_WRITERS = 3;
const REGISTER_CLIENTS = 2;
const REGISTER_KEYS = 8;
/** A register history is closed and a new one (fresh keys) begun past this many ops, to stay well within the checker's 400 ops per key. */
const REGISTER_OPS_PER_HISTORY = 1_000;
const MAX_STORE_DOWN_TIME = '10s';
const BALANCE_TOLERANCE = 0.2;
const PHASE_TIMEOUT_MS = 100_000;
/** The fatal line of a store that learns it is a tombstone (src/server/cluster-node.ts). */
const TOMBSTONE_LINE = /was removed from the cluster/;

const base = tempDir('tinykv-scheduling-e2e-');
const processes: ChildProcess[] = [];

interface StoreSlot {
  readonly storeId: number;
  readonly server: ServerProcess;
}

let schedulerAddr: string;
let adminUrl: string;
let schedulerChild: ChildProcess;
let client: TinyKvClient;
const slots: StoreSlot[] = [];

/** A seeded generator (mulberry32), so a failing run's choices can be replayed. */
const rng = mulberry32;

function waitFor(done: () => Promise<boolean> | boolean, timeoutMs: number, what: string | (() => string)): Promise<void> {
  return waitForSeeded(SEED, done, timeoutMs, what, 250);
}

// ---- the admin API, as PD's JSON ----

interface StoreJson {
  readonly store: { readonly id: number; readonly address: string; readonly state_name: string };
  readonly status: { readonly region_count: number; readonly region_size: number; readonly leader_count: number };
}

interface RegionJson {
  readonly id: number;
  readonly peers: ReadonlyArray<{ readonly id: number; readonly store_id: number }>;
  readonly leader?: { readonly store_id: number };
  readonly down_peers?: readonly unknown[];
  readonly pending_peers?: readonly unknown[];
  readonly approximate_size?: number;
}

async function api<T>(path: string): Promise<T> {
  const response = await fetch(`${adminUrl}${path}`, { signal: AbortSignal.timeout(10_000) });
  if (!response.ok) throw new Error(`GET ${path}: ${response.status} ${await response.text()}`);
  return (await response.json()) as T;
}

const stores = async (): Promise<StoreJson[]> => (await api<{ stores: StoreJson[] }>('/stores')).stores;
const regions = async (): Promise<RegionJson[]> => (await api<{ regions: RegionJson[] }>('/regions')).regions;

/** `tinykv ctl VERB... --pd URL --output json`: its parsed output (exit 0 required). */
async function ctl(args: readonly string[]): Promise<unknown> {
  const result = await runCli(['ctl', ...args, '--pd', adminUrl, '--output', 'json']);
  expect(result.code, `seed ${SEED}: tinykv ctl ${args.join(' ')}: ${result.stderr}`).toBe(0);
  return result.stdout.trim() === '' ? undefined : JSON.parse(result.stdout);
}

/** Region count and the data the scheduler knows of (sum of approximate sizes, MiB), for the phase lines. */
async function dataAmount(): Promise<{ regions: number; mib: number }> {
  const all = await regions();
  return { regions: all.length, mib: all.reduce((sum, r) => sum + (r.approximate_size ?? 0), 0) };
}

async function report(phase: string, startedMs: number): Promise<void> {
  const { regions: count, mib } = await dataAmount();
  console.log(`[scheduling-e2e] ${phase}: ${((Date.now() - startedMs) / 1000).toFixed(1)} s, ${count} regions, ${mib} MiB`);
}

/** Every value within ±tolerance of their mean. */
function spread(values: readonly number[]): boolean {
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  return values.every((v) => Math.abs(v - mean) <= BALANCE_TOLERANCE * mean);
}

// ---- processes ----

function storeArgs(): string[] {
  return [
    '--scheduler',
    schedulerAddr,
    '--addr',
    '127.0.0.1:0',
    '--config',
    join(base.path, 'store.toml'),
    '--raft-base-tick-ms',
    '50',
    '--raft-pollers',
    '1',
    '--reserve-space',
    '0',
    '--log-level',
    'warn',
  ];
}

async function startStore(n: number): Promise<ServerProcess> {
  const server = await startServerProcess([...storeArgs(), '--data-dir', join(base.path, `store-${n}`)]);
  processes.push(server.child);
  return server;
}

/** Looks the started stores up in the scheduler by address. */
async function register(started: readonly ServerProcess[]): Promise<StoreSlot[]> {
  const known = await stores();
  return started.map((server) => ({
    storeId: defined(
      known.find((s) => s.store.address === server.addr),
      `store at ${server.addr}`,
    ).store.id,
    server,
  }));
}

/**
 * Why some process failed; empty when none did. The killed store may only have been killed (no
 * failure logged before), and the drained one may only have stopped for being a tombstone.
 */
function processFailures(killed: StoreSlot, drained: StoreSlot): string[] {
  const failures = slots.flatMap((slot) => {
    const log = slot.server.stderr();
    if (slot === killed) return internalFailureLines(log).map((line) => `store ${slot.storeId} (before kill -9): ${line}`);
    if (slot === drained) return internalFailureLines(log).filter((line) => !TOMBSTONE_LINE.test(line));
    return unhealthyReason(`store ${slot.storeId}`, slot.server.child, log) ?? [];
  });
  return schedulerChild.exitCode === null ? failures : [...failures, `the scheduler exited with ${schedulerChild.exitCode}`];
}

beforeAll(async () => {
  writeFileSync(
    join(base.path, 'store.toml'),
    '[raftstore]\nsplit-region-check-tick-interval = "1s"\npd-heartbeat-tick-interval = "200ms"\npd-store-heartbeat-tick-interval = "200ms"\n',
  );
  ({
    addr: schedulerAddr,
    adminUrl,
    child: schedulerChild,
  } = await startSchedulerProcess(join(base.path, 'scheduler'), 3, (child) => processes.push(child), [
    '--initial-regions',
    String(REGIONS),
    '--max-store-down-time',
    MAX_STORE_DOWN_TIME,
  ]));
  // All three at once: the scheduler bootstraps the cluster once three stores registered.
  const started = await Promise.all([1, 2, 3].map((n) => startStore(n)));
  client = await connect({ scheduler: schedulerAddr, requestTimeoutMs: 3_000 });
  slots.push(...(await register(started)));
  console.log(`[scheduling-e2e] seed=${SEED}`);
}, 60_000);

afterAll(async () => {
  await client?.close();
  for (const child of processes) child.kill('SIGKILL');
  base.cleanup();
});

// ---- workloads ----

/** A raw key in the region of its first two bytes (the regions are cut at two-byte boundaries). */
function spreadKey(random: () => number, tag: string): Buffer {
  return Buffer.concat([Buffer.from([Math.floor(random() * 256), Math.floor(random() * 256)]), Buffer.from(tag)]);
}

/** A value that names its key, so a value read back under the wrong key shows. */
const valueFor = (key: Buffer, sizeBytes: number): Buffer => Buffer.from(`${key.toString('hex')}:`.padEnd(sizeBytes, '.'));

interface RawLoad {
  /** Hex key -> the value size written, for every acknowledged put. */
  readonly acknowledged: Map<string, number>;
  /** Error code -> puts that failed with it (after the client's own retries). */
  readonly failures: Map<string, number>;
  firstFailure?: string;
}

async function preload(random: () => number, load: RawLoad): Promise<void> {
  const BATCH = 32;
  for (let i = 0; i < PRELOAD_KEYS; i += BATCH) {
    const keys = Array.from({ length: BATCH }, (_, j) => spreadKey(random, `p${i + j}`));
    await client.batchPut(keys.map((key) => ({ key, value: valueFor(key, PRELOAD_VALUE_BYTES) })));
    for (const key of keys) load.acknowledged.set(key.toString('hex'), PRELOAD_VALUE_BYTES);
  }
}

/** Writers putting distinct keys all over the key space until stopped; a failed put is not retried. */
function startRawLoad(random: () => number, load: RawLoad): () => Promise<void> {
  const startedMs = Date.now();
  let stopped = false;
  const writers = Array.from({ length: RAW_WRITERS }, async (_, w) => {
    for (let i = 0; !stopped; i++) {
      const key = spreadKey(random, `w${w}-${i}`);
      try {
        await client.put(key, valueFor(key, WRITER_VALUE_BYTES));
        load.acknowledged.set(key.toString('hex'), WRITER_VALUE_BYTES);
      } catch (err) {
        if (!(err instanceof ClientError)) throw err;
        load.failures.set(err.code, (load.failures.get(err.code) ?? 0) + 1);
        load.firstFailure ??= `${err.message} (${((Date.now() - startedMs) / 1000).toFixed(1)} s in)`;
      }
      await sleep(5);
    }
  });
  return async () => {
    stopped = true;
    await Promise.all(writers);
  };
}

/**
 * Register clients: random gets and puts (unique values) through the cluster client. A put with
 * no answer may or may not have happened (the checker takes it so); a get with none says nothing.
 */
function startRegisters(random: () => number, histories: RegisterHistory[]): () => Promise<void> {
  let stopped = false;
  const newHistory = () => {
    const keys = Array.from({ length: REGISTER_KEYS }, (_, k) => spreadKey(random, `reg${histories.length}-${k}`).toString('hex'));
    histories.push(new RegisterHistory(keys));
  };
  newHistory();
  const registerClient = async (c: number): Promise<void> => {
    for (let n = 0; !stopped; n++) {
      let history = defined(histories.at(-1), 'history');
      if ([...history.ops.values()].reduce((sum, ops) => sum + ops.length, 0) >= REGISTER_OPS_PER_HISTORY) {
        newHistory();
        history = defined(histories.at(-1), 'history');
      }
      const key = defined(history.keys[Math.floor(random() * history.keys.length)], 'key');
      const ops = defined(history.ops.get(key), 'ops');
      const invoke = performance.now();
      try {
        if (random() < 0.5) {
          const value = `v${c}-${n}`;
          // Pushed before the call: if it fails, the put stays with no answer (it may have happened).
          const op = { kind: 'put' as const, value, invoke, response: Infinity };
          ops.push(op);
          await client.put(Buffer.from(key, 'hex'), value);
          op.response = performance.now();
        } else {
          const value = (await client.get(Buffer.from(key, 'hex')))?.toString();
          ops.push({ kind: 'get', value, invoke, response: performance.now() });
        }
      } catch (err) {
        if (!(err instanceof ClientError)) throw err;
      }
      await sleep(40 + random() * 80);
    }
  };
  const clients = Array.from({ length: REGISTER_CLIENTS }, (_, c) => registerClient(c));
  return async () => {
    stopped = true;
    await Promise.all(clients);
  };
}

async function checkReadBack(load: RawLoad): Promise<void> {
  const keys = [...load.acknowledged.keys()];
  const wrong: string[] = [];
  for (let i = 0; i < keys.length; i += 256) {
    const chunk = keys.slice(i, i + 256);
    const values = await client.batchGet(chunk.map((hex) => Buffer.from(hex, 'hex')));
    chunk.forEach((hex, j) => {
      const expected = valueFor(Buffer.from(hex, 'hex'), defined(load.acknowledged.get(hex), hex));
      if (!values[j]?.equals(expected)) wrong.push(hex);
    });
  }
  expect(wrong, `seed ${SEED}: acknowledged writes that did not read back`).toEqual([]);
}

// ---- the phases ----

/** Phase 1: stores 4 and 5 join; waits until regions, region sizes and leaders are spread over the five. */
async function grow(): Promise<void> {
  const started = Date.now();
  slots.push(...(await register(await Promise.all([4, 5].map((n) => startStore(n))))));
  let last = '';
  await waitFor(
    async () => {
      const up = (await stores()).filter((s) => s.store.state_name === 'Up');
      last = JSON.stringify(up.map((s) => [s.store.id, s.status.region_count, s.status.region_size, s.status.leader_count]));
      return (
        up.length === 5 &&
        spread(up.map((s) => s.status.region_count)) &&
        spread(up.map((s) => s.status.region_size)) &&
        spread(up.map((s) => s.status.leader_count))
      );
    },
    PHASE_TIMEOUT_MS,
    () => `regions, sizes and leaders within ±20% on 5 stores ([id, regions, MiB, leaders]: ${last})`,
  );
  console.log(`[scheduling-e2e] balanced [store, regions, MiB, leaders]: ${last}`);
  await report('phase 1 grow 3 -> 5 stores, balanced', started);
}

/** Every region has 3 peers, all on Up stores and none on `gone`, with no down peer. */
async function replicasRepaired(gone: ReadonlySet<number>): Promise<boolean> {
  const up = new Set((await stores()).filter((s) => s.store.state_name === 'Up').map((s) => s.store.id));
  return (await regions()).every(
    (r) =>
      r.peers.length === 3 &&
      r.peers.every((p) => up.has(p.store_id) && !gone.has(p.store_id)) &&
      (r.down_peers ?? []).length === 0 &&
      r.leader !== undefined,
  );
}

/** Phase 2: kill -9 a store; its replicas come back on live stores once it is Down. */
async function killOne(victim: StoreSlot): Promise<void> {
  const started = Date.now();
  victim.server.child.kill('SIGKILL');
  await victim.server.exited;
  await waitFor(() => replicasRepaired(new Set([victim.storeId])), PHASE_TIMEOUT_MS, `the replicas of store ${victim.storeId} to be made again`);
  await report(`phase 2 kill -9 store ${victim.storeId}, 3 replicas again`, started);
}

/** Phase 3: `ctl store delete` drains a store to a tombstone, and its process stops by itself. */
async function drain(drained: StoreSlot, gone: ReadonlySet<number>): Promise<void> {
  const started = Date.now();
  await ctl(['store', 'delete', String(drained.storeId)]);
  const shown = (await ctl(['store', 'show', String(drained.storeId)])) as StoreJson;
  expect(shown.store.state_name, `seed ${SEED}: store ${drained.storeId} just after ctl store delete`).toBe('Offline');
  await waitFor(
    async () => {
      const store = (await stores()).find((s) => s.store.id === drained.storeId);
      return store?.store.state_name === 'Tombstone' && (await regions()).every((r) => r.peers.every((p) => p.store_id !== drained.storeId));
    },
    PHASE_TIMEOUT_MS,
    `store ${drained.storeId} to become a tombstone with no peers`,
  );
  const code = await Promise.race([drained.server.exited, sleep(30_000).then(() => 'still running')]);
  expect(code, `seed ${SEED}: the drained store's exit`).toBe(FAIL_STOP_EXIT_CODE);
  expect(internalFailureLines(drained.server.stderr()).join('\n')).toMatch(TOMBSTONE_LINE);
  await waitFor(() => replicasRepaired(new Set([...gone, drained.storeId])), PHASE_TIMEOUT_MS, 'every region on 3 live stores');
  await report(`phase 3 ctl store delete ${drained.storeId}, tombstone, process exited 70`, started);
}

/**
 * Phase 4: an admin transfer-leader from the store leading most regions to the one leading fewest.
 * balance-leader is paused meanwhile, as an operator would: with the leaders already even (8 on
 * each of 3 stores), any move opens a gap of 2 it would close again, maybe with this very region.
 */
async function moveLeader(): Promise<void> {
  const started = Date.now();
  await ctl(['scheduler', 'pause', 'balance-leader-scheduler', '120']);
  const all = await regions();
  const led = new Map<number, number>();
  for (const r of all) if (r.leader) led.set(r.leader.store_id, (led.get(r.leader.store_id) ?? 0) + 1);
  const live = (await stores()).filter((s) => s.store.state_name === 'Up').map((s) => s.store.id);
  const byLeaders = [...live].sort((a, b) => (led.get(a) ?? 0) - (led.get(b) ?? 0));
  const target = defined(byLeaders[0], 'the store leading fewest');
  const region = defined(
    all.find((r) => r.leader?.store_id === byLeaders.at(-1) && r.peers.some((p) => p.store_id === target)),
    'a region to move',
  );
  await ctl(['operator', 'add', 'transfer-leader', String(region.id), String(target)]);
  let leader: number | undefined;
  let status = '';
  await waitFor(
    async () => {
      status = ((await ctl(['operator', 'show', String(region.id)])) as { status: string }).status;
      leader = (await api<RegionJson>(`/region/id/${region.id}`)).leader?.store_id;
      return leader === target && status === 'SUCCESS';
    },
    30_000,
    () => `region ${region.id}'s leader on store ${target} (on ${leader}, operator ${status})`,
  );
  await ctl(['scheduler', 'resume', 'balance-leader-scheduler']);
  await report(`phase 4 ctl operator add transfer-leader ${region.id} ${target}`, started);
}

describe('scheduling real store processes', () => {
  it('spreads regions and leaders onto new stores, repairs a killed store, drains a deleted one and moves a leader, under load', async () => {
    const started = Date.now();
    const random = rng(SEED);
    const load: RawLoad = { acknowledged: new Map(), failures: new Map() };
    const histories: RegisterHistory[] = [];
    await preload(random, load);
    await waitFor(async () => (await dataAmount()).mib >= REGIONS / 2, 30_000, 'region sizes reported');
    await report('preload', started);
    const stopWriters = startRawLoad(rng(SEED ^ 0x5bd1e995), load);
    const stopRegisters = startRegisters(rng(SEED ^ 0x9e3779b9), histories);
    const [victim, drained] = [defined(slots[0], 'the first store'), defined(slots[1], 'the second store')];
    try {
      await grow();
      await killOne(victim);
      await drain(drained, new Set([victim.storeId]));
      await moveLeader();
    } finally {
      await stopWriters();
      await stopRegisters();
    }
    const writes = load.acknowledged.size - PRELOAD_KEYS;
    const registerOps = histories.reduce((sum, h) => sum + h.count('put', true) + h.count('put', false) + h.count('get', true), 0);
    console.log(
      `[scheduling-e2e] workload: ${writes} raw writes acknowledged during the phases (failed: ${JSON.stringify([...load.failures])}, first: ${load.firstFailure}), ${registerOps} register ops in ${histories.length} histories; ${((Date.now() - started) / 1000).toFixed(1)} s in all`,
    );
    expect(writes).toBeGreaterThan(0);
    await checkReadBack(load);
    for (const history of histories) expect(history.check(), `seed ${SEED}`).toBeUndefined();
    expect(processFailures(victim, drained)).toEqual([]);
  }, 240_000);
});
