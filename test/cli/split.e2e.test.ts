// End to end: region split on real processes started from the CLI. A scheduler and three
// `tinykv server` processes with a small --region-max-size; concurrent raw writers through
// tinykv/client split the key space into many regions while two stores, one at a time, are
// killed with SIGKILL just after a split and restarted on their data directories. Every
// acknowledged write reads back and the scheduler's regions tile the key space. Then bank-style
// transactions over accounts spread across the regions, whose own writes keep splitting them,
// conserve the total and commit all-or-nothing. No store process may fail along the way.
import { mulberry32 } from '../../src/raft/rng.js';
import { sleep, waitForSeeded } from '../helpers/seeded-wait.js';
import type { ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClientError, connect, type TinyKvClient } from '../../src/client/index.js';
import { SchedulerClient, type RegionLookup } from '../../src/client/scheduler-client.js';
import type { Region } from '../../src/proto/metapb.js';
import { encodeBytes } from '../../src/txn/codec.js';
import { defined } from '../../src/util/assert.js';
import { startSchedulerProcess, startServerProcess, type ServerProcess } from '../helpers/cli-process.js';
import { internalFailureLines, unhealthyReason } from '../helpers/store-health.js';
import { tempDir } from '../helpers/tmp.js';

// The seed replays the keys and accounts chosen (not the timing): TINYKV_SPLIT_E2E_SEED=<seed printed>.
const SEED = Number(process.env['TINYKV_SPLIT_E2E_SEED'] ?? Date.now() % 1_000_000);
const RAW_VALUE_BYTES = 2048;
const RAW_WRITERS = 8;
const MIN_REGIONS = 8;
const ACCOUNTS = 192; // few enough conflicts and lock waits between the workers
const INITIAL_BALANCE = 1000;
const ACCOUNT_PAD_BYTES = 1000; // so the transfers' own writes grow the accounts' regions past max-size
const TXN_WORKERS = 6;
const MIN_COMMITTED_TXNS = 150;

const base = tempDir('tinykv-split-e2e-');
const processes: ChildProcess[] = [];

/** A store's place in the cluster: its address and data directory outlive each process run on them. */
interface StoreSlot {
  readonly name: string;
  readonly addr: string;
  readonly dataDir: string;
  readonly storeId: number;
  current: ServerProcess;
  /** Logs of the runs killed before `current`. */
  readonly pastLogs: string[];
}

let schedulerAddr: string;
let schedulerChild: ChildProcess;
let scheduler: SchedulerClient;
let client: TinyKvClient;
const slots: StoreSlot[] = [];

/** A seeded generator (mulberry32), so a failing run's choices can be replayed. */
const rng = mulberry32;

function waitFor(done: () => Promise<boolean> | boolean, timeoutMs: number, what: string | (() => string)): Promise<void> {
  return waitForSeeded(SEED, done, timeoutMs, what);
}

function storeArgs(addr: string, dataDir: string): string[] {
  return [
    '--scheduler',
    schedulerAddr,
    '--addr',
    addr,
    '--data-dir',
    dataDir,
    '--config',
    join(base.path, 'store.toml'),
    '--region-max-size',
    '256KiB',
    '--region-split-size',
    '128KiB',
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

async function startStore(addr: string, dataDir: string): Promise<ServerProcess> {
  const server = await startServerProcess(storeArgs(addr, dataDir));
  processes.push(server.child);
  return server;
}

async function restart(slot: StoreSlot): Promise<void> {
  slot.current.child.kill('SIGKILL');
  await slot.current.exited;
  slot.pastLogs.push(slot.current.stderr());
  await sleep(1_000); // the other two keep serving (and splitting) without it
  slot.current = await startStore(slot.addr, slot.dataDir);
}

/** Why some process failed (a fatal or an internal failure in any run's log, or the current run exited); empty when none did. */
function processFailures(): string[] {
  const stores = slots.flatMap((slot) => {
    const past = slot.pastLogs.flatMap((log) => internalFailureLines(log)).map((line) => `${slot.name} (an earlier run): ${line}`);
    const { child, stderr } = slot.current;
    const now = unhealthyReason(slot.name, child, stderr());
    if (now === undefined) return past;
    // A crash outside the fail-stop path (a native abort, out of memory) logs no pino line: show the log's end.
    return [...past, child.exitCode === null && child.signalCode === null ? now : `${now}\nlog tail:\n${stderr().slice(-6000)}`];
  });
  return schedulerChild.exitCode === null ? stores : [...stores, `the scheduler exited with ${schedulerChild.exitCode}`];
}

const scanRegions = (): Promise<RegionLookup[]> => scheduler.scanRegions(Buffer.alloc(0));

/** The scheduler's regions once they tile the key space (a new region may be missing until its first heartbeat). */
async function wholeLayout(): Promise<Region[]> {
  let layout: Region[] = [];
  await waitFor(
    async () => {
      layout = (await scanRegions()).map((r) => r.region);
      return tiles(layout);
    },
    10_000,
    'the regions to tile the key space',
  );
  return layout;
}

/** Sorted by start key, adjacent, the first starting and the last ending unbounded. */
function tiles(regions: readonly Region[]): boolean {
  const sorted = [...regions].sort((a, b) => Buffer.compare(a.startKey, b.startKey));
  if (sorted[0]?.startKey.length !== 0 || sorted.at(-1)?.endKey.length !== 0) return false;
  return sorted.every((region, i) => i === 0 || Buffer.compare(region.startKey, defined(sorted[i - 1], 'previous region').endKey) === 0);
}

beforeAll(async () => {
  writeFileSync(join(base.path, 'store.toml'), '[raftstore]\nsplit-region-check-tick-interval = "300ms"\npd-heartbeat-tick-interval = "200ms"\n');
  ({ addr: schedulerAddr, child: schedulerChild } = await startSchedulerProcess(join(base.path, 'scheduler'), 3, (child) => processes.push(child)));
  // All three at once: the scheduler bootstraps the cluster once three stores registered.
  const started = await Promise.all([1, 2, 3].map((n) => startStore('127.0.0.1:0', join(base.path, `store-${n}`))));
  scheduler = await SchedulerClient.connect(schedulerAddr);
  const stores = await scheduler.getAllStores();
  started.forEach((server, i) => {
    const storeId = Number(
      defined(
        stores.find((s) => s.address === server.addr),
        `store at ${server.addr}`,
      ).id,
    );
    slots.push({ name: `store ${storeId}`, addr: server.addr, dataDir: join(base.path, `store-${i + 1}`), storeId, current: server, pastLogs: [] });
  });
  client = await connect({ scheduler: schedulerAddr, requestTimeoutMs: 3_000 });
  await waitFor(
    () =>
      client.put('warm-up', '1').then(
        () => true,
        () => false,
      ),
    30_000,
    'the bootstrap region to serve a write',
  );
  console.log(`[split e2e] seed=${SEED}`);
});

afterAll(async () => {
  await client?.close();
  scheduler?.close();
  for (const child of processes) child.kill('SIGKILL');
  base.cleanup();
});

// ---- raw writes under load, with kill -9 during splits ----

/** A raw value that names its key, so a value read back under the wrong key shows. */
const rawValue = (key: string): string => `${key}:`.padEnd(RAW_VALUE_BYTES, '.');

interface RawLoad {
  readonly acknowledged: Set<string>;
  readonly attempted: Set<string>;
  /** Error code -> puts that failed with it (after the client's own retries); their keys may or may not be written. */
  readonly failures: Map<string, number>;
  firstFailure?: string;
  stop(): Promise<void>;
}

/** Writers putting distinct keys at random places of the `r` range until stopped; failed puts are retried by no one. */
function startRawLoad(random: () => number): RawLoad {
  let stopped = false;
  const load: RawLoad = {
    acknowledged: new Set(),
    attempted: new Set(),
    failures: new Map(),
    stop: async () => {
      stopped = true;
      await Promise.all(writers);
    },
  };
  const writers = Array.from({ length: RAW_WRITERS }, async (_, w) => {
    for (let i = 0; !stopped; i++) {
      const key = `r${Math.floor(random() * 0xffffffff)
        .toString(16)
        .padStart(8, '0')}-${w}-${i}`;
      load.attempted.add(key);
      try {
        await client.put(key, rawValue(key));
        load.acknowledged.add(key);
      } catch (err) {
        if (!(err instanceof ClientError)) throw err;
        load.failures.set(err.code, (load.failures.get(err.code) ?? 0) + 1);
        load.firstFailure ??= err.message;
      }
    }
  });
  return load;
}

/** Waits for the scheduler to learn of a new split past `atLeast` regions, and answers the count. */
async function nextSplit(atLeast: number): Promise<number> {
  let count = 0;
  await waitFor(
    async () => {
      count = (await scanRegions()).length;
      return count > atLeast;
    },
    40_000,
    `more than ${atLeast} regions`,
  );
  return count;
}

/** The store slot (not in `exclude`) that leads the most regions, as the scheduler last heard. */
async function busiestLeader(exclude: ReadonlySet<StoreSlot>): Promise<StoreSlot> {
  const led = new Map<number, number>();
  for (const { leader } of await scanRegions()) if (leader) led.set(leader.storeId, (led.get(leader.storeId) ?? 0) + 1);
  const candidates = slots.filter((slot) => !exclude.has(slot)).sort((a, b) => (led.get(b.storeId) ?? 0) - (led.get(a.storeId) ?? 0));
  return defined(candidates[0], 'a store to kill');
}

async function checkRawReadBack(load: RawLoad): Promise<void> {
  const keys = [...load.acknowledged];
  const values = await client.batchGet(keys);
  const wrong = keys.filter((key, i) => values[i]?.toString() !== rawValue(key));
  expect(wrong, `seed ${SEED}: acknowledged writes that did not read back`).toEqual([]);
  // One scan across every region of the raw range: sorted, each acknowledged key once, nothing never written.
  const scanned = await client.scan('r', 's', load.attempted.size + 10);
  const scannedKeys = scanned.map((pair) => pair.key.toString());
  expect(scannedKeys).toEqual([...scannedKeys].sort());
  expect(new Set(scannedKeys).size).toBe(scannedKeys.length);
  const present = new Set(scannedKeys);
  expect(
    keys.filter((key) => !present.has(key)),
    `seed ${SEED}: acknowledged keys missing from the scan`,
  ).toEqual([]);
  expect(scannedKeys.filter((key) => !load.attempted.has(key))).toEqual([]);
  expect(scanned.filter((pair) => pair.value.toString() !== rawValue(pair.key.toString())).map((p) => p.key.toString())).toEqual([]);
}

describe('region split with real store processes', () => {
  it('splits into many regions under concurrent writes while stores are killed -9 and restarted; nothing acknowledged is lost', async () => {
    const started = Date.now();
    const load = startRawLoad(rng(SEED));
    const killed = new Set<StoreSlot>();
    try {
      let regions = await nextSplit(1);
      for (let round = 0; round < 2; round++) {
        // Just after the scheduler heard of a split: the followers are applying it, more are coming.
        regions = await nextSplit(regions);
        const victim = await busiestLeader(killed);
        killed.add(victim);
        console.log(`[split e2e] kill -9 ${victim.name} at ${regions} regions, ${load.acknowledged.size} writes acknowledged`);
        await restart(victim);
        await sleep(1_500); // let it catch up before the next store goes down, so a quorum stays
      }
      await nextSplit(Math.max(regions, MIN_REGIONS - 1));
    } finally {
      await load.stop();
    }
    console.log(
      `[split e2e] raw load: ${load.acknowledged.size} acknowledged, failed: ${JSON.stringify([...load.failures])} (first: ${load.firstFailure}), ${(await scanRegions()).length} regions after ${Date.now() - started} ms`,
    );
    expect((await wholeLayout()).length).toBeGreaterThanOrEqual(MIN_REGIONS);
    await checkRawReadBack(load);
    expect(processFailures()).toEqual([]);
  }, 90_000);

  // ---- transactions across regions ----

  it('bank transfers across regions conserve the total and commit all-or-nothing while splits happen', async () => {
    await client.transaction((txn) => {
      for (let a = 0; a < ACCOUNTS; a++) txn.put(accountKey(a), encodeAccount({ balance: INITIAL_BALANCE, history: [] }));
    });
    const started = Date.now();
    const log: TransferLog = { layouts: [await wholeLayout()], intended: new Map(), committed: [], failures: new Map() };
    const startRegions = defined(log.layouts[0], 'first layout').length;
    await runTransfers(log, async () => {
      // Only whole layouts: the scheduler may briefly miss a new region it has not heard from yet.
      const layout = (await scanRegions()).map((r) => r.region);
      if (tiles(layout)) log.layouts.push(layout);
      return log.committed.length >= MIN_COMMITTED_TXNS && defined(log.layouts.at(-1), 'layout').length >= startRegions + 2;
    });
    const spanning = log.committed.filter(
      ({ id, layout }) => regionsOf([...defined(log.intended.get(id), id).keys()], defined(log.layouts[layout], 'layout')) > 1,
    );
    console.log(
      `[split e2e] ${log.committed.length} transfers committed (${spanning.length} across regions; failed: ${JSON.stringify([...log.failures])}), ${startRegions} -> ${(await scanRegions()).length} regions in ${Date.now() - started} ms`,
    );
    expect(spanning.length, 'transfers whose accounts were in different regions').toBeGreaterThan(0);
    await checkAccounts(
      log.intended,
      log.committed.map((c) => c.id),
    );
    await wholeLayout();
    expect(processFailures()).toEqual([]);
  }, 75_000);
});

/** What the transfer workers did, for the checks. */
interface TransferLog {
  /** The scheduler's whole layouts seen, oldest first. */
  readonly layouts: Region[][];
  /** Attempt id -> account -> the amount that attempt adds to it. */
  readonly intended: Map<string, Map<number, number>>;
  /** The committed attempts, each with the last layout seen before its transaction began. */
  readonly committed: Array<{ id: string; layout: number }>;
  /** Error code -> transfers that gave up with it. */
  readonly failures: Map<string, number>;
}

/** Runs the transfer workers until `done` (polled) answers true, for at most 45 s. */
async function runTransfers(log: TransferLog, done: () => Promise<boolean>): Promise<void> {
  const random = rng(SEED ^ 0x9e3779b9);
  let stopped = false;
  const worker = async (w: number): Promise<void> => {
    for (let n = 0; !stopped; n++) {
      const layout = log.layouts.length - 1; // splits only refine: accounts apart in this layout are apart at commit
      try {
        log.committed.push({ id: await transfer(random, `${w}.${n}`, log.intended), layout });
      } catch (err) {
        if (!(err instanceof ClientError)) throw err;
        log.failures.set(err.code, (log.failures.get(err.code) ?? 0) + 1);
      }
    }
  };
  const workers = Array.from({ length: TXN_WORKERS }, (_, w) => worker(w));
  try {
    await waitFor(
      done,
      45_000,
      () =>
        `${MIN_COMMITTED_TXNS} committed transfers and two more splits (${log.committed.length} committed, failed: ${JSON.stringify([...log.failures])})`,
    );
  } finally {
    stopped = true;
    await Promise.all(workers);
  }
}

/**
 * Moves random amounts from one random account to two others, recording the attempt in each
 * account's history; `client.transaction` runs it again on a conflict, as a new attempt.
 * Resolves to the id of the attempt that committed.
 */
async function transfer(random: () => number, name: string, intended: Map<string, Map<number, number>>): Promise<string> {
  let attemptId = '';
  let attempt = 0;
  await client.transaction(async (txn) => {
    attemptId = `${name}.${attempt++}`;
    const accounts = pickDistinct(random, 3);
    const values = await txn.batchGet(accounts.map(accountKey));
    const state = values.map((value, i) => decodeAccount(defined(value, `account ${accounts[i]}`)));
    const balance = defined(state[0], 'the paying account').balance;
    const first = Math.floor(random() * Math.min(50, balance + 1));
    const second = Math.floor(random() * (Math.min(50, balance) - first + 1));
    const deltas = [0 - (first + second), first, second]; // not -(0): JSON reads -0 back as 0
    intended.set(attemptId, new Map(accounts.map((a, i) => [a, defined(deltas[i], 'delta')])));
    accounts.forEach((a, i) => {
      const account = defined(state[i], 'account');
      const delta = defined(deltas[i], 'delta');
      txn.put(accountKey(a), encodeAccount({ balance: account.balance + delta, history: [...account.history, [attemptId, delta]] }));
    });
  });
  return attemptId;
}

interface Account {
  readonly balance: number;
  /** Every transfer that touched the account: its attempt id and the amount it added. */
  readonly history: ReadonlyArray<readonly [string, number]>;
}

/** Fixed 7-byte keys spread evenly over `t000000`..`tffffff`: short and of one length, so a key and its MVCC versions sort alike under either routing. */
function accountKey(a: number): string {
  return `t${Math.floor((a * 0xffffff) / ACCOUNTS)
    .toString(16)
    .padStart(6, '0')}`;
}

function encodeAccount(account: Account): string {
  return JSON.stringify({ ...account, pad: '.'.repeat(ACCOUNT_PAD_BYTES) });
}

function decodeAccount(value: Buffer): Account {
  const { balance, history } = JSON.parse(value.toString()) as Account;
  return { balance, history };
}

function pickDistinct(random: () => number, count: number): number[] {
  const picked = new Set<number>();
  while (picked.size < count) picked.add(Math.floor(random() * ACCOUNTS));
  return [...picked];
}

/**
 * How many regions of `layout` hold the accounts. Located by the encoded key: for these fixed
 * 7-byte keys that finds the same region whether the boundaries are user keys or encoded keys.
 */
function regionsOf(accounts: readonly number[], layout: readonly Region[]): number {
  const ids = accounts.map((a) => {
    const key = encodeBytes(Buffer.from(accountKey(a)));
    const region = layout.find((r) => Buffer.compare(key, r.startKey) >= 0 && (r.endKey.length === 0 || Buffer.compare(key, r.endKey) < 0));
    return defined(region, `region of account ${a}`).id;
  });
  return new Set(ids).size;
}

/** One snapshot of every account: balances match their histories, each transfer is in all its accounts or none, the total is kept. */
async function checkAccounts(intended: ReadonlyMap<string, ReadonlyMap<number, number>>, committed: readonly string[]): Promise<void> {
  const values = await client.transaction((txn) => txn.batchGet(Array.from({ length: ACCOUNTS }, (_, a) => accountKey(a))));
  const accounts = values.map((value, a) => decodeAccount(defined(value, `account ${a}`)));
  const seenIn = new Map<string, Set<number>>();
  accounts.forEach((account, a) => {
    const replayed = account.history.reduce((sum, [id, delta]) => {
      expect(intended.get(id)?.get(a), `seed ${SEED}: account ${a} records transfer ${id}`).toBe(delta);
      seenIn.set(id, (seenIn.get(id) ?? new Set()).add(a));
      return sum + delta;
    }, INITIAL_BALANCE);
    expect(account.balance, `seed ${SEED}: account ${a}'s balance against its history`).toBe(replayed);
  });
  for (const [id, where] of seenIn)
    expect([...where].sort(), `seed ${SEED}: transfer ${id} is all-or-nothing`).toEqual([...defined(intended.get(id), id).keys()].sort());
  for (const id of committed) expect(seenIn.has(id), `seed ${SEED}: committed transfer ${id} is visible`).toBe(true);
  expect(accounts.reduce((sum, account) => sum + account.balance, 0)).toBe(ACCOUNTS * INITIAL_BALANCE);
}
