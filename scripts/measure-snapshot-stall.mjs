// Measures what stalled snapshot senders cost a store: starts a scheduler and one store with the
// compiled CLI (of the tree given as the first argument, default this one); then, ROUNDS times,
// opens STREAMS TinyKv/Snapshot streams that each send MIB 1-MiB chunks and then stall, plus one
// more stream, and prints the store's RSS over time and how each stream ended. Freed buffers go
// back to the OS only when V8 collects them, so RSS after a cancel shows as reuse in the next round.
//   node scripts/measure-snapshot-stall.mjs [tree] [streams=4] [mib=100] [watchSeconds=20] [rounds=1]
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const tree = resolve(process.argv[2] ?? '.');
const streams = Number(process.argv[3] ?? 4);
const mib = Number(process.argv[4] ?? 100);
const watchSeconds = Number(process.argv[5] ?? 20);
const rounds = Number(process.argv[6] ?? 1);
const cli = join(tree, 'dist/src/cli/main.js');
const load = (path) => import(pathToFileURL(join(tree, 'dist/src', path)).href);
const { credentials } = await import(pathToFileURL(join(tree, 'node_modules/@grpc/grpc-js/build/src/index.js')).href);
const { TinyKvClient } = await load('proto/tinykvpb.js');
const { RaftMessage, SnapshotChunk } = await load('proto/raft_serverpb.js');
const { SchedulerClient } = await load('client/scheduler-client.js');

const dir = mkdtempSync(join(tmpdir(), 'snap-stall-'));
const children = [];
const start = (args) =>
  new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [cli, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
    children.push(child);
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
      const match = /listening on (\S+)/.exec(out);
      if (match) resolvePromise({ child, addr: match[1] });
    });
    child.on('exit', (code) => reject(new Error(`${args[0]} exited ${code}`)));
  });
const rssMiB = (pid) => {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8')
    .split('\n')
    .find((l) => l.startsWith('VmRSS:'));
  return Math.round(Number(line.split(/\s+/)[1]) / 1024);
};
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

try {
  const scheduler = await start(['scheduler', '--addr', '127.0.0.1:0', '--data-dir', join(dir, 's'), '--initial-stores', '1', '--log-level', 'warn']);
  const store = await start([
    'server',
    '--scheduler',
    scheduler.addr,
    '--addr',
    '127.0.0.1:0',
    '--data-dir',
    join(dir, 'store'),
    '--raft-pollers',
    '1',
    '--log-level',
    'error',
  ]);
  const pd = await SchedulerClient.connect(scheduler.addr);
  let info;
  for (let i = 0; i < 100 && !info?.leader; i++, await sleep(100)) info = await pd.getRegion(Buffer.from('a'));
  pd.close();
  const region = info.region;
  const peer = region.peers[0];
  const head = RaftMessage.fromPartial({
    regionId: region.id,
    fromPeer: { id: 999, storeId: 999 },
    toPeer: peer,
    regionEpoch: region.regionEpoch,
    message: { msgType: 7, from: 999, to: peer.id, term: 100, snapshot: { metadata: { index: 100, term: 100 } } },
  });
  await sleep(1000);
  console.log(`store RSS at rest: ${rssMiB(store.child.pid)} MiB`);
  for (let round = 1; round <= rounds; round++) {
    console.log(`-- round ${round}`);
    const t0 = Date.now();
    const outcome = [];
    const chunk = Buffer.alloc(1024 * 1024, 7);
    const open = (n, sendMiB) => {
      const client = new TinyKvClient(store.addr, credentials.createInsecure());
      const stream = client.snapshot((err) => {
        outcome[n] = `${err ? `${err.code} ${err.details}` : 'OK'} after ${((Date.now() - t0) / 1000).toFixed(1)} s`;
      });
      stream.on('error', () => {});
      stream.write(SnapshotChunk.fromPartial({ message: head }));
      return (async () => {
        for (let i = 0; i < sendMiB && outcome[n] === undefined; i++) {
          if (!stream.write(SnapshotChunk.fromPartial({ data: chunk }))) await new Promise((r) => stream.once('drain', r));
        }
      })();
    };
    await Promise.race([Promise.all(Array.from({ length: streams }, (_, n) => open(n, mib))), sleep(60_000)]);
    await sleep(1000);
    console.log(
      `${streams} streams sent up to ${mib} MiB each and stalled (${((Date.now() - t0) / 1000).toFixed(1)} s): store RSS ${rssMiB(store.child.pid)} MiB`,
    );
    void open(streams, 1);
    for (let s = 0; s < watchSeconds; s += 5) {
      await sleep(5000);
      console.log(`+${((Date.now() - t0) / 1000).toFixed(0)} s: store RSS ${rssMiB(store.child.pid)} MiB`);
    }
    outcome.forEach((o, n) => console.log(`stream ${n}: ${o ?? 'still open'}`));
    for (let n = 0; n <= streams; n++) if (outcome[n] === undefined) console.log(`stream ${n}: still open`);
  }
} finally {
  for (const child of children) child.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
  process.exit(0);
}
