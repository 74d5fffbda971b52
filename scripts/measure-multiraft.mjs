// The closing measurements of issue #11 (multi-raft), on this machine, against the compiled tree
// (`npm run build` first). Three phases, each on fresh processes in a temporary directory:
//   split    a scheduler and 3 store processes; a steady write load of unique keys with large values
//            until the one region passes region-max-size. Throughput in 250 ms windows; the time from
//            the bytes written passing max-size to both regions serving (both in ScanRegions with a
//            leader, and a write to a key of the new region acknowledged); the dip (lowest window
//            against the median before); the stores' 'region split' log lines (splitMs).
//   catchup  a scheduler in this process and 3 store processes; N MiB in one region; a 4th store joins
//            and the scheduler adds a peer on it (change_peer in its heartbeat response, re-sent until a
//            heartbeat shows it). Observable: the new peer's RaftApplyState, read from the new store's kv
//            LMDB environment by this process (LMDB allows readers in other processes), until its
//            applied index reaches the leader's (read the same way); the region is idle meanwhile.
//   compare  `tinykv bench` (put then get, fixed duration) on (a) 1 region and (b) 8 regions split
//            inside the bench's keyspace, leaders spread over the 3 stores by leader transfer through the
//            scheduler (in this process), and a 3-member etcd (bench/etcd-cluster.sh), rounds alternating.
//            ops/s and p50/p99 from the bench's JSON, client CPU/op from it too, server CPU/op from
//            /proc of the server processes over the bench run.
// The report is printed and written as JSON (--out). Run `node scripts/measure-multiraft.mjs --help`.
import { spawn, execFileSync } from 'node:child_process';
import { createWriteStream, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { randomBytes } from 'node:crypto';
import { open as openLmdb } from 'lmdb';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const CLI = join(ROOT, 'dist/src/cli/main.js');
const USAGE = `node scripts/measure-multiraft.mjs [options]
  --phases <list>            split,catchup,compare (default: all three)
  --region-max-size <size>   split phase: stores' region-max-size (default 144MiB)
  --region-split-size <size> split phase: stores' region-split-size (default 96MiB)
  --value-size <size>        split and catchup phases: value size of the load (default 64KiB)
  --writers <n>              split and catchup phases: concurrent writers (default 16)
  --after <duration>         split phase: load kept on after both regions serve (default 3s)
  --catchup-size <size>      catchup phase: data in the region before the 4th store joins (default 100MiB)
  --duration <duration>      compare phase: measured time of each bench run (default 10s)
  --rounds <n>               compare phase: rounds, alternating targets (default 2)
  --clients <n>              compare phase: bench clients (default 64)
  --no-etcd                  compare phase: leave etcd out
  --store-config <file>      a TOML config every store reads (--config), e.g. for
                             raftstore.split-region-check-tick-interval (default 10s)
  --out <file>               JSON report (default ./measure-multiraft.json)
  --keep                     keep the data directories and logs (printed at the end)`;

const { values: flags } = parseArgs({
  options: {
    phases: { type: 'string', default: 'split,catchup,compare' },
    'region-max-size': { type: 'string', default: '144MiB' },
    'region-split-size': { type: 'string', default: '96MiB' },
    'value-size': { type: 'string', default: '64KiB' },
    writers: { type: 'string', default: '16' },
    after: { type: 'string', default: '3s' },
    'catchup-size': { type: 'string', default: '100MiB' },
    duration: { type: 'string', default: '10s' },
    rounds: { type: 'string', default: '2' },
    clients: { type: 'string', default: '64' },
    'no-etcd': { type: 'boolean', default: false },
    'store-config': { type: 'string' },
    out: { type: 'string', default: 'measure-multiraft.json' },
    keep: { type: 'boolean', default: false },
    help: { type: 'boolean', default: false },
  },
});
if (flags.help) {
  console.log(USAGE);
  process.exit(0);
}
if (!existsSync(CLI)) throw new Error(`${CLI} not found: run npm run build first`);

const dist = (path) => import(pathToFileURL(join(ROOT, 'dist/src', path)).href);
const { parseSizeBytes, parseDurationMs } = await dist('config/units.js');
const { connect } = await dist('client/index.js');
const { SchedulerClient } = await dist('client/scheduler-client.js');
const { startScheduler } = await dist('scheduler/scheduler-server.js');
const { RaftApplyState } = await dist('proto/raft_serverpb.js');
const { applyStateKey } = await dist('raftstore/keys.js');
const { ConfChangeType } = await dist('proto/eraftpb.js');

const size = (name) => {
  const bytes = parseSizeBytes(flags[name]);
  if (bytes === undefined || bytes <= 0) throw new Error(`--${name}: not a size: ${flags[name]}`);
  return bytes;
};
const duration = (name) => {
  const ms = parseDurationMs(flags[name]);
  if (ms === undefined) throw new Error(`--${name}: not a duration: ${flags[name]}`);
  return ms;
};
const count = (name) => {
  const n = Number(flags[name]);
  if (!Number.isSafeInteger(n) || n < 1) throw new Error(`--${name}: not a positive integer: ${flags[name]}`);
  return n;
};
const settings = {
  phases: flags.phases.split(',').map((p) => p.trim()),
  regionMaxSizeBytes: size('region-max-size'),
  regionSplitSizeBytes: size('region-split-size'),
  valueSizeBytes: size('value-size'),
  writers: count('writers'),
  afterMs: duration('after'),
  catchupSizeBytes: size('catchup-size'),
  benchDurationMs: duration('duration'),
  rounds: count('rounds'),
  clients: count('clients'),
  etcd: !flags['no-etcd'],
  storeConfig: flags['store-config'] === undefined ? undefined : resolve(flags['store-config']),
};
for (const phase of settings.phases) if (!['split', 'catchup', 'compare'].includes(phase)) throw new Error(`unknown phase ${phase}`);

const WINDOW_MS = 250;
const POLL_MS = 50;
const RESEND_MS = 300;
const START_TIMEOUT_MS = 30_000;
const WAIT_TIMEOUT_MS = 120_000;
const MiB = 1024 * 1024;
const KEPT_LOG_MESSAGES = ['region split', 'peer created by a raft message', 'snapshot send failed'];
const workDir = mkdtempSync(join(tmpdir(), 'measure-multiraft-'));
const children = new Set();
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const log = (text) => process.stderr.write(`[measure] ${text}\n`);
const round1 = (x) => Math.round(x * 10) / 10;
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

async function waitFor(what, check, timeoutMs = WAIT_TIMEOUT_MS) {
  for (const deadline = Date.now() + timeoutMs; ; await sleep(POLL_MS)) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
  }
}

// ---- processes

/** Starts the CLI with `args`; resolves once it prints its "listening on" line. Its logs (stderr) go to a file. */
function startCli(name, args) {
  const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  const logFile = join(workDir, `${name}.log`);
  const logStream = createWriteStream(logFile);
  const proc = { name, child, pid: child.pid, logFile, lines: [], addr: undefined, storeId: undefined };
  let partial = '';
  child.stderr.on('data', (chunk) => {
    logStream.write(chunk);
    const text = partial + chunk.toString();
    const parts = text.split('\n');
    partial = parts.pop() ?? '';
    // Only the lines the report reads stay in memory; the file has them all.
    proc.lines.push(...parts.filter((line) => KEPT_LOG_MESSAGES.some((msg) => line.includes(msg))));
  });
  child.on('exit', () => {
    children.delete(child);
    logStream.end();
  });
  return new Promise((resolvePromise, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`${name} did not start in ${START_TIMEOUT_MS} ms (log ${logFile})`)), START_TIMEOUT_MS);
    child.stdout.on('data', (chunk) => {
      out += chunk.toString();
      const match = /(?:store (\d+) )?listening on (\S+)/.exec(out);
      if (match && proc.addr === undefined) {
        clearTimeout(timer);
        proc.addr = match[2];
        proc.storeId = match[1] === undefined ? undefined : Number(match[1]);
        resolvePromise(proc);
      }
    });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited (${signal ?? code}) before it listened (log ${logFile})`));
    });
  });
}

async function stopCli(proc) {
  if (proc.child.exitCode !== null || proc.child.signalCode !== null) return;
  const exited = new Promise((r) => proc.child.once('exit', r));
  proc.child.kill('SIGTERM');
  if ((await Promise.race([exited.then(() => true), sleep(10_000).then(() => false)])) === false) proc.child.kill('SIGKILL');
}

/** Pino JSON lines of `proc` whose msg is `msg`. */
const logLines = (proc, msg) =>
  proc.lines.flatMap((line) => {
    if (!line.includes(msg)) return [];
    try {
      const entry = JSON.parse(line);
      return entry.msg === msg ? [entry] : [];
    } catch {
      return [];
    }
  });

/** CPU ms (user + system) a process has used, from /proc (Linux). */
function cpuMsOf(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
}

function storeArgs(name, schedulerAddr, extra = []) {
  const config = settings.storeConfig === undefined ? [] : ['--config', settings.storeConfig];
  return [
    'server',
    '--scheduler',
    schedulerAddr,
    '--addr',
    '127.0.0.1:0',
    '--data-dir',
    join(workDir, name),
    '--log-level',
    'info',
    ...config,
    ...extra,
  ];
}

/** A scheduler (in this process or a process) and `stores` store processes; resolves once a region has a leader. */
async function startCluster(label, { stores = 3, inProcess, storeExtra = [], splitKeys }) {
  let scheduler;
  let schedulerProc;
  if (inProcess) {
    scheduler = await startScheduler({ addr: '127.0.0.1:0', dataDir: join(workDir, `${label}-scheduler`), initialStores: stores, splitKeys });
  } else {
    schedulerProc = await startCli(`${label}-scheduler`, [
      'scheduler',
      '--addr',
      '127.0.0.1:0',
      '--data-dir',
      join(workDir, `${label}-scheduler`),
      '--initial-stores',
      String(stores),
      '--log-level',
      'warn',
    ]);
  }
  const schedulerAddr = scheduler?.addr ?? schedulerProc.addr;
  const storeProcs = await Promise.all(
    Array.from({ length: stores }, (_, i) => startCli(`${label}-store${i + 1}`, storeArgs(`${label}-store${i + 1}`, schedulerAddr, storeExtra))),
  );
  const pd = await SchedulerClient.connect(schedulerAddr);
  const regionsExpected = splitKeys ? splitKeys.length + 1 : 1;
  await waitFor(`${label}: ${regionsExpected} regions with leaders`, async () => {
    const regions = await pd.scanRegions(Buffer.alloc(0)).catch(() => []);
    return regions.length >= regionsExpected && regions.every((r) => r.leader);
  });
  const close = async () => {
    pd.close();
    await Promise.all(storeProcs.map(stopCli));
    if (schedulerProc) await stopCli(schedulerProc);
    await scheduler?.close();
  };
  return { label, scheduler, schedulerProc, schedulerAddr, stores: storeProcs, pd, close };
}

// ---- load

/**
 * `writers` loops of RawPut of unique keys (`prefix` + random hex) with one `valueSizeBytes` value; acknowledged
 * puts counted in 250 ms windows; `thresholdAt` is when the acknowledged bytes first reached `thresholdBytes`.
 */
function startLoad(client, { writers, valueSizeBytes, prefix, thresholdBytes = Infinity }) {
  const value = randomBytes(valueSizeBytes);
  const load = { bytes: 0, ops: 0, errors: 0, firstError: undefined, windows: [], stopped: false, startedAt: Date.now() };
  let windowOps = 0;
  let windowBytes = 0;
  let windowStartMs = 0;
  const timer = setInterval(() => {
    // The timer may fire late on a busy loop: a window's rate is over its real length.
    const endMs = Date.now() - load.startedAt;
    load.windows.push({ endMs, lengthMs: endMs - windowStartMs, ops: windowOps, bytes: windowBytes });
    windowStartMs = endMs;
    windowOps = 0;
    windowBytes = 0;
  }, WINDOW_MS);
  const loop = async () => {
    while (!load.stopped) {
      const key = Buffer.from(`${prefix}${randomBytes(8).toString('hex')}`);
      try {
        await client.put(key, value);
        load.ops++;
        load.bytes += key.length + value.length;
        if (load.bytes >= thresholdBytes) load.thresholdAt ??= Date.now();
        windowOps++;
        windowBytes += key.length + value.length;
      } catch (err) {
        load.errors++;
        load.firstError ??= String(err?.message ?? err);
        await sleep(10);
      }
    }
  };
  const loops = Array.from({ length: writers }, loop);
  load.stop = async () => {
    load.stopped = true;
    await Promise.all(loops);
    clearInterval(timer);
  };
  return load;
}

// ---- phase 1: split

async function measureSplit() {
  const maxSize = settings.regionMaxSizeBytes;
  const storeExtra = ['--region-max-size', String(maxSize), '--region-split-size', String(settings.regionSplitSizeBytes)];
  const cluster = await startCluster('split', { inProcess: false, storeExtra });
  const client = await connect({ scheduler: [cluster.schedulerAddr] });
  try {
    const [first] = await cluster.pd.scanRegions(Buffer.alloc(0));
    const originalId = first.region.id;
    await client.put('warm-up', '1');
    const load = startLoad(client, { writers: settings.writers, valueSizeBytes: settings.valueSizeBytes, prefix: 'm', thresholdBytes: maxSize });
    const crossedAt = await waitFor('the bytes written to pass region-max-size', () => load.thresholdAt, 10 * WAIT_TIMEOUT_MS);
    const crossedLoadMs = crossedAt - load.startedAt;
    log(`split: ${load.bytes} bytes written at +${crossedLoadMs} ms; waiting for two regions`);
    const regions = await waitFor('two regions with leaders in ScanRegions', async () => {
      const found = await cluster.pd.scanRegions(Buffer.alloc(0)).catch(() => []);
      return found.length >= 2 && found.every((r) => r.leader) ? found : undefined;
    });
    const listedAt = Date.now();
    const created = regions.find((r) => r.region.id !== originalId) ?? regions[1];
    const probeKey = created.region.startKey.length > 0 ? Buffer.from(created.region.startKey) : Buffer.from('0');
    await client.put(probeKey, 'probe');
    const servingAt = Date.now();
    await sleep(settings.afterMs);
    await load.stop();
    const windows = load.windows.map((w) => ({ ...w, opsPerSec: (w.ops * 1000) / w.lengthMs, mibPerSec: (w.bytes * 1000) / w.lengthMs / MiB }));
    const before = windows.filter((w) => w.endMs <= crossedLoadMs);
    const during = windows.filter((w) => w.endMs > crossedLoadMs && w.endMs - WINDOW_MS <= servingAt - load.startedAt + settings.afterMs);
    const minWindow = during.reduce((lo, w) => (lo === undefined || w.opsPerSec < lo.opsPerSec ? w : lo), undefined);
    const medianBefore = median(before.map((w) => w.opsPerSec));
    const splitLines = cluster.stores.flatMap((s) => logLines(s, 'region split').map((e) => ({ store: s.storeId, ...e })));
    return {
      regionMaxSizeBytes: maxSize,
      regionSplitSizeBytes: settings.regionSplitSizeBytes,
      valueSizeBytes: settings.valueSizeBytes,
      writers: settings.writers,
      bytesWrittenTotal: load.bytes,
      putErrors: load.errors,
      firstPutError: load.firstError,
      crossedAtLoadMs: crossedLoadMs,
      bothListedMs: listedAt - crossedAt,
      bothServingMs: servingAt - crossedAt,
      regions: regions.map((r) => ({
        id: r.region.id,
        startKey: Buffer.from(r.region.startKey).toString('hex'),
        endKey: Buffer.from(r.region.endKey).toString('hex'),
        leaderStore: r.leader?.storeId,
      })),
      splitLogLines: splitLines.map((e) => ({
        store: e.store,
        regionId: e.regionId,
        newRegionId: e.newRegionId,
        sizeBytes: e.sizeBytes,
        splitMs: e.splitMs,
        atMsAfterCrossing: e.time - crossedAt,
      })),
      medianOpsPerSecBefore: medianBefore,
      minWindowOpsPerSec: minWindow?.opsPerSec,
      minWindowAtLoadMs: minWindow?.endMs,
      dipFraction: minWindow && medianBefore > 0 ? 1 - minWindow.opsPerSec / medianBefore : undefined,
      // How long the dip lasted, not only how deep: windows after the crossing below half the median before.
      windowsUnderHalfMedian: during.filter((w) => w.opsPerSec < medianBefore / 2).length,
      windows: windows.map((w) => ({ endMs: w.endMs, opsPerSec: round1(w.opsPerSec), mibPerSec: round1(w.mibPerSec) })),
    };
  } finally {
    await client.close();
    await cluster.close();
  }
}

// ---- phase 2: snapshot catch-up

/** A region's RaftApplyState on a store, read from its kv LMDB environment (opened and closed per read, so no read transaction lingers). */
async function readApplyState(dataDir, regionId) {
  const env = openLmdb({ path: join(dataDir, 'kv'), readOnly: true, maxDbs: 16, keyEncoding: 'binary', encoding: 'binary' });
  try {
    const meta = env.openDB({ name: 'meta', keyEncoding: 'binary', encoding: 'binary' });
    const bytes = meta.get(applyStateKey(regionId));
    return bytes === undefined ? undefined : RaftApplyState.decode(bytes);
  } finally {
    await env.close();
  }
}

/** Sends `command` in the leader's heartbeat response until `done()`; the scheduler re-sends as PD does. */
async function untilDone(scheduler, regionId, command, done, what) {
  let sentAt = -Infinity;
  await waitFor(what, () => {
    if (done()) return true;
    const info = scheduler.core.getRegionById(regionId);
    if (info && Date.now() - sentAt >= RESEND_MS) {
      scheduler.core.streams.sendToLeader(info, command());
      sentAt = Date.now();
    }
    return false;
  });
}

async function measureCatchup() {
  const dataBytes = settings.catchupSizeBytes;
  // Large enough that the data stays one region.
  const maxSize = Math.max(144 * MiB, dataBytes * 4);
  const storeExtra = ['--region-max-size', String(maxSize), '--region-split-size', String(Math.floor(maxSize / 2))];
  const cluster = await startCluster('catchup', { inProcess: true, storeExtra });
  const client = await connect({ scheduler: [cluster.schedulerAddr] });
  try {
    const load = startLoad(client, { writers: settings.writers, valueSizeBytes: settings.valueSizeBytes, prefix: 'c' });
    const loadStarted = Date.now();
    await waitFor('the catch-up data to be written', () => load.bytes >= dataBytes, 10 * WAIT_TIMEOUT_MS);
    await load.stop();
    log(`catchup: ${load.bytes} bytes written in ${Date.now() - loadStarted} ms; starting a 4th store`);
    const [only] = await cluster.pd.scanRegions(Buffer.alloc(0));
    const regionId = only.region.id;
    const fourth = await startCli('catchup-store4', storeArgs('catchup-store4', cluster.schedulerAddr, storeExtra));
    await waitFor('store 4 registered', () => cluster.scheduler.core.getAllStores(true).some((s) => s.store.id === fourth.storeId));
    const peer = { id: await cluster.scheduler.core.allocId(), storeId: fourth.storeId };
    const startedAt = Date.now();
    await untilDone(
      cluster.scheduler,
      regionId,
      () => ({ changePeer: { changeType: ConfChangeType.AddNode, peer } }),
      () => cluster.scheduler.core.getRegionById(regionId)?.region.peers.some((p) => p.id === peer.id),
      'the new peer in the region (scheduler view)',
    );
    const addedAt = Date.now();
    const leaderStoreId = cluster.scheduler.core.getRegionById(regionId).leader.storeId;
    const leaderDir = join(workDir, cluster.stores.find((s) => s.storeId === leaderStoreId).name);
    const newDir = join(workDir, fourth.name);
    let last;
    await waitFor("the new peer to apply the leader's applied index", async () => {
      const leaderState = await readApplyState(leaderDir, regionId);
      const mine = existsSync(join(newDir, 'kv')) ? await readApplyState(newDir, regionId) : undefined;
      last = { leaderApplied: leaderState?.appliedIndex, newApplied: mine?.appliedIndex, newTruncated: mine?.truncatedState?.index };
      return mine !== undefined && leaderState !== undefined && mine.appliedIndex >= leaderState.appliedIndex;
    });
    const caughtUpAt = Date.now();
    const created = logLines(fourth, 'peer created by a raft message')[0];
    const sendFailures = cluster.stores.reduce((n, s) => n + logLines(s, 'snapshot send failed').length, 0);
    await stopCli(fourth);
    return {
      dataBytes: load.bytes,
      valueSizeBytes: settings.valueSizeBytes,
      regionMaxSizeBytes: maxSize,
      observable:
        "RaftApplyState.applied_index of the region in the new store's kv LMDB environment >= the leader store's, read from outside by this process",
      addPeerSeenByHeartbeatMs: addedAt - startedAt,
      peerCreatedOnNewStoreMs: created ? created.time - startedAt : undefined,
      caughtUpMs: caughtUpAt - startedAt,
      applied: last,
      snapshotSendFailures: sendFailures,
    };
  } finally {
    await client.close();
    await cluster.close();
  }
}

// ---- phase 3: 1 region vs 8 regions vs etcd

const BENCH_KEY_SIZE = 16;
const WARMUP_MS = 1000;
const BENCH_KEYSPACE = 10_000;
/** The bench's key with index i (bench/workload.ts: "k" + zero-padded decimal, BENCH_KEY_SIZE bytes). */
const benchKey = (i) => Buffer.from(`k${String(i).padStart(BENCH_KEY_SIZE - 1, '0')}`);

async function spreadLeaders(cluster) {
  const storeIds = cluster.stores.map((s) => s.storeId).sort((a, b) => a - b);
  const regions = cluster.scheduler.core.scanRegions(Buffer.alloc(0), Buffer.alloc(0), 0);
  for (const [i, info] of regions.entries()) {
    const regionId = info.region.id;
    const target = info.region.peers.find((p) => p.storeId === storeIds[i % storeIds.length]);
    await untilDone(
      cluster.scheduler,
      regionId,
      () => ({ transferLeader: { peer: target } }),
      () => cluster.scheduler.core.getRegionById(regionId)?.leader?.storeId === target.storeId,
      `region ${regionId} led by store ${target.storeId}`,
    );
  }
  return cluster.scheduler.core.scanRegions(Buffer.alloc(0), Buffer.alloc(0), 0).map((r) => ({ id: r.region.id, leaderStore: r.leader?.storeId }));
}

function freePort() {
  return new Promise((resolvePromise, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolvePromise(port));
    });
  });
}

/** Client ports for bench/etcd-cluster.sh whose peer port (+1) is free too. */
async function etcdPorts() {
  const ports = [];
  while (ports.length < 3) {
    const port = await freePort();
    if (port < 65535 && !ports.includes(port) && !ports.includes(port + 1) && !ports.includes(port - 1)) {
      const next = await new Promise((r) => {
        const s = createServer();
        s.once('error', () => r(false));
        s.listen(port + 1, '127.0.0.1', () => s.close(() => r(true)));
      });
      if (next) ports.push(port);
    }
  }
  return ports;
}

function startEtcd() {
  const ports = etcdPorts();
  return ports.then((p) => {
    const env = { ...process.env, ETCD_CLUSTER_STATE: join(workDir, 'etcd.state'), ETCD_BASE_PORTS: p.join(' '), TMPDIR: workDir };
    const script = join(ROOT, 'bench/etcd-cluster.sh');
    const endpoints = execFileSync(script, ['start'], { env, encoding: 'utf8' }).trim().split('\n').pop();
    const dir = readFileSync(env.ETCD_CLUSTER_STATE, 'utf8').trim();
    const pids = ['m1', 'm2', 'm3'].map((m) => Number(readFileSync(join(dir, `${m}.pid`), 'utf8')));
    return { endpoints, pids, stop: () => execFileSync(script, ['stop'], { env, stdio: 'ignore' }) };
  });
}

/** One `tinykv bench` run; returns its JSON result and the server processes' CPU over the run. */
function runBench(target, op, { warmupMs = WARMUP_MS, preload = false, measureMs = settings.benchDurationMs } = {}) {
  const args = ['bench', '--op', op, '--clients', String(settings.clients), '--progress', 'off', '--output', 'json'];
  args.push('--key-size', String(BENCH_KEY_SIZE), '--keyspace', String(BENCH_KEYSPACE), '--warmup', `${warmupMs}ms`);
  args.push(...(preload ? ['--count', '1'] : ['--no-preload', '--duration', `${measureMs}ms`]));
  args.push(...target.benchArgs);
  const cpuBefore = target.pids().map(cpuMsOf);
  const schedulerCpuBefore = process.cpuUsage();
  return new Promise((resolvePromise) => {
    const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    children.add(child);
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('exit', (code) => {
      children.delete(child);
      const cpuAfter = target.pids().map(cpuMsOf);
      const inProcess = target.inProcessScheduler ? process.cpuUsage(schedulerCpuBefore) : { user: 0, system: 0 };
      const serverCpuMs = cpuAfter.reduce((sum, after, i) => sum + after - cpuBefore[i], 0) + (inProcess.user + inProcess.system) / 1000;
      let result;
      try {
        result = JSON.parse(out).results?.[0];
      } catch {
        result = undefined;
      }
      resolvePromise({ exitCode: code, result, serverCpuMs, stderr: err.slice(-500) });
    });
  });
}

/** `settings.rounds` rounds of put then get, each op on every target in turn, so load that comes and goes falls on all alike. */
async function runRounds(targets) {
  const runs = [];
  for (let round = 1; round <= settings.rounds; round++) {
    for (const op of ['put', 'get']) {
      for (const target of targets) {
        const run = await runBench(target, op);
        const r = run.result;
        const warmupOps = r ? r.opsPerSec * (WARMUP_MS / 1000) : 0;
        runs.push({
          round,
          op,
          target: target.name,
          exitCode: run.exitCode,
          opsPerSec: r?.opsPerSec,
          p50Ms: r?.latencyMs?.p50,
          p99Ms: r?.latencyMs?.p99,
          errors: r?.errors,
          retries: r?.retries,
          clientCpuUsPerOp: r?.clientCpuUsPerOp,
          // Over the whole bench process (connect, warmup, measured run): the warmup's ops estimated at the measured rate.
          serverCpuUsPerOp: r && r.ops > 0 ? round1((run.serverCpuMs * 1000) / (r.ops + warmupOps)) : undefined,
          ...(run.exitCode !== 0 ? { stderr: run.stderr } : {}),
        });
        log(`compare: round ${round} ${op} ${target.name}: ${Math.round(r?.opsPerSec ?? 0)} ops/s`);
      }
    }
  }
  return runs;
}

async function measureCompare() {
  const targets = [];
  const clusters = [];
  let etcd;
  let etcdError;
  try {
    const one = await startCluster('one', { inProcess: true });
    clusters.push(one);
    const splitKeys = Array.from({ length: 7 }, (_, i) => benchKey(Math.floor(((i + 1) * BENCH_KEYSPACE) / 8)));
    const eight = await startCluster('eight', { inProcess: true, splitKeys });
    clusters.push(eight);
    const eightLeaders = await spreadLeaders(eight);
    log(`compare: 8 regions, leaders on stores ${eightLeaders.map((r) => r.leaderStore).join(',')}`);
    const cpuPids = (cluster) => () => cluster.stores.map((s) => s.pid);
    targets.push({
      name: '1 region',
      benchArgs: ['--target', 'tinykv', '--scheduler', one.schedulerAddr],
      pids: cpuPids(one),
      inProcessScheduler: true,
    });
    targets.push({
      name: '8 regions',
      benchArgs: ['--target', 'tinykv', '--scheduler', eight.schedulerAddr],
      pids: cpuPids(eight),
      inProcessScheduler: true,
    });
    if (settings.etcd) {
      etcd = await startEtcd().catch((err) => {
        etcdError = String(err?.message ?? err);
        log(`compare: etcd left out: ${etcdError}`);
        return undefined;
      });
    }
    if (etcd) {
      targets.push({
        name: 'etcd',
        benchArgs: ['--target', 'etcd', '--endpoints', etcd.endpoints],
        pids: () => etcd.pids,
        inProcessScheduler: false,
      });
    }
    for (const target of targets) {
      const preload = await runBench(target, 'get', { warmupMs: 0, preload: true });
      if (preload.exitCode !== 0) log(`compare: preload of ${target.name} exited ${preload.exitCode}: ${preload.stderr}`);
    }
    const runs = await runRounds(targets);
    return {
      clients: settings.clients,
      durationMs: settings.benchDurationMs,
      keySize: BENCH_KEY_SIZE,
      keyspace: BENCH_KEYSPACE,
      splitKeys: splitKeys.map(String),
      eightLeaders,
      ...(etcdError ? { etcdError } : {}),
      runs,
    };
  } finally {
    etcd?.stop();
    for (const cluster of clusters) await cluster.close();
  }
}

// ---- report

function summarizeCompare(compare) {
  const groups = new Map();
  for (const run of compare.runs) {
    const key = `${run.op}|${run.target}`;
    groups.set(key, [...(groups.get(key) ?? []), run]);
  }
  return [...groups.values()].map((runs) => ({
    op: runs[0].op,
    target: runs[0].target,
    rounds: runs.length,
    opsPerSec: Math.round(median(runs.map((r) => r.opsPerSec ?? 0))),
    p50Ms: median(runs.map((r) => r.p50Ms ?? NaN)),
    p99Ms: median(runs.map((r) => r.p99Ms ?? NaN)),
    clientCpuUsPerOp: median(runs.map((r) => r.clientCpuUsPerOp ?? NaN)),
    serverCpuUsPerOp: median(runs.map((r) => r.serverCpuUsPerOp ?? NaN)),
    failedRuns: runs.filter((r) => r.exitCode !== 0).length,
  }));
}

function printReport(report) {
  const lines = [
    `measure-multiraft on ${report.machine.cpu} x${report.machine.cores}, load ${report.machine.loadAvg.join(' ')} at start, node ${process.version}`,
  ];
  const { split, catchup, compare } = report;
  if (split?.error) lines.push(`split: FAILED: ${split.error}`);
  else if (split) {
    lines.push(
      `split: region-max-size ${split.regionMaxSizeBytes} B, split-size ${split.regionSplitSizeBytes} B, ${split.writers} writers of ${split.valueSizeBytes} B values`,
      `  both regions in ScanRegions with leaders ${split.bothListedMs} ms and a write to the new region acknowledged ${split.bothServingMs} ms after the bytes written passed max-size`,
      `  store log 'region split': ${split.splitLogLines.map((l) => `store ${l.store} region ${l.regionId}->${l.newRegionId} splitMs ${l.splitMs} at +${l.atMsAfterCrossing} ms (checked size ${l.sizeBytes} B)`).join('; ') || 'none'}`,
      `  throughput: median ${Math.round(split.medianOpsPerSecBefore)} puts/s before, lowest 250 ms window ${Math.round(split.minWindowOpsPerSec ?? NaN)} puts/s at +${split.minWindowAtLoadMs} ms (dip ${Math.round((split.dipFraction ?? NaN) * 100)}%), ${split.windowsUnderHalfMedian} windows under half the median; put errors ${split.putErrors}`,
    );
  }
  if (catchup?.error) lines.push(`catchup: FAILED: ${catchup.error}`);
  else if (catchup) {
    lines.push(
      `catchup: ${round1(catchup.dataBytes / MiB)} MiB in one region; 4th store's peer added (seen in a heartbeat) after ${catchup.addPeerSeenByHeartbeatMs} ms, created on the store at ${catchup.peerCreatedOnNewStoreMs ?? '?'} ms, caught up (applied ${catchup.applied?.newApplied} >= leader ${catchup.applied?.leaderApplied}; truncated index ${catchup.applied?.newTruncated}, the snapshot's when it came by snapshot) at ${catchup.caughtUpMs} ms`,
    );
  }
  if (compare?.error) lines.push(`compare: FAILED: ${compare.error}`);
  else if (compare) {
    lines.push(
      `compare: ${compare.clients} clients, ${compare.durationMs} ms runs, median of rounds; 8 regions led by stores ${compare.eightLeaders.map((r) => r.leaderStore).join(',')}`,
    );
    lines.push('  op   target     rounds    ops/s   p50 ms   p99 ms  client us/op  server us/op  failed');
    for (const s of compare.summary) {
      lines.push(
        `  ${s.op.padEnd(4)} ${s.target.padEnd(10)} ${String(s.rounds).padStart(6)} ${fixed(s.opsPerSec, 0, 8)} ${fixed(s.p50Ms, 2, 8)} ${fixed(s.p99Ms, 2, 8)} ${fixed(s.clientCpuUsPerOp, 1, 13)} ${fixed(s.serverCpuUsPerOp, 1, 13)} ${String(s.failedRuns).padStart(7)}`,
      );
    }
  }
  console.log(lines.join('\n'));
}

const report = {
  machine: { cpu: cpus()[0]?.model ?? 'unknown', cores: cpus().length, loadAvg: loadavg().map(round1), node: process.version },
  settings,
  startedAt: new Date().toISOString(),
};
const stopAll = () => {
  for (const child of children) child.kill('SIGKILL');
};
process.once('SIGINT', () => {
  stopAll();
  process.exit(130);
});
try {
  const phases = { split: measureSplit, catchup: measureCatchup, compare: measureCompare };
  for (const phase of settings.phases) {
    log(`phase ${phase}`);
    try {
      report[phase] = await phases[phase]();
      if (phase === 'compare') report.compare.summary = summarizeCompare(report.compare);
    } catch (err) {
      report[phase] = { error: String(err?.stack ?? err) };
    }
  }
  writeFileSync(flags.out, `${JSON.stringify(report, null, 2)}\n`);
  printReport(report);
  console.log(`JSON report: ${resolve(flags.out)}${flags.keep ? `; data and logs kept in ${workDir}` : ''}`);
} finally {
  stopAll();
  if (!flags.keep) rmSync(workDir, { recursive: true, force: true });
}
process.exit(['split', 'catchup', 'compare'].some((p) => report[p]?.error) ? 1 : 0);

/** A number with `digits` decimals, right-aligned in `width` (a missing one as '-'). */
function fixed(value, digits, width) {
  return (typeof value === 'number' && Number.isFinite(value) ? value.toFixed(digits) : '-').padStart(width);
}
