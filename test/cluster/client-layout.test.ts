// tinykv/client through a changing layout, on real threaded stores: while raw writers and
// transactions run, the regions split (a small region-max-size), leaders move between stores, a
// fourth store gets a replica and the first loses its own, all asked through the scheduler's
// heartbeat responses as a scheduler does. No error may reach the caller, every acknowledged raw
// write reads back, and transactional counters add up (a transaction's keys span regions).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type TinyKvClient } from '../../src/client/index.js';
import { ConfChangeType } from '../../src/proto/eraftpb.js';
import type { Peer } from '../../src/proto/metapb.js';
import type { RegionInfo } from '../../src/scheduler/cluster-state.js';
import { defined } from '../../src/util/assert.js';
import { tempDir } from '../helpers/tmp.js';
import { InProcessCluster } from './harness.js';
import { sleep } from './workload.js';

let cluster: InProcessCluster;
let client: TinyKvClient;
const extraDir = tempDir();

beforeAll(async () => {
  cluster = await InProcessCluster.start({
    raftPollers: 2,
    regionHeartbeatIntervalMs: 100,
    regionMaxSizeBytes: 96 * 1024,
    regionSplitSizeBytes: 48 * 1024,
    splitRegionCheckTickIntervalMs: 200,
  });
  client = await connect({ scheduler: cluster.scheduler.addr, requestTimeoutMs: 5_000 });
  for (const deadline = Date.now() + 30_000; ;) {
    const ok = await client.put('warm-up', '1').then(
      () => true,
      (err: unknown) => (Date.now() > deadline ? Promise.reject(err as Error) : false),
    );
    if (ok) break;
  }
});

afterAll(async () => {
  await client?.close();
  await cluster?.close();
  extraDir.cleanup();
});

/** Before, among and after the raw writers' keys, so the splits put them in different regions. */
const COUNTERS = ['aa-acct', 'raw-200000-acct', 'zz-acct'];

/** Resends a scheduler command to the region's leader until `done` holds (as a scheduler does). */
async function untilDone(
  regionId: number,
  command: Parameters<InProcessCluster['scheduler']['core']['streams']['sendToLeader']>[1],
  done: (info: RegionInfo) => boolean,
): Promise<void> {
  for (const deadline = Date.now() + 20_000; ; await sleep(200)) {
    // Right after a split the scheduler may not know the region for a moment (the new region's
    // heartbeat replaced the old range before the shrunk region's own heartbeat came): wait.
    const info = cluster.scheduler.core.getRegionById(regionId);
    if (info && done(info)) return;
    if (Date.now() > deadline)
      throw new Error(`region ${regionId}: scheduler command not carried out${info ? '' : ' (the scheduler does not know the region)'}`);
    if (info) cluster.scheduler.core.streams.sendToLeader(info, command);
  }
}

const regionOf = (key: string) => defined(cluster.scheduler.core.getRegion(Buffer.from(key)), `region of ${key}`);

async function reshape(stop: () => boolean): Promise<string[]> {
  const steps: string[] = [];
  const regionId = () => regionOf('raw-00000').region.id;
  for (const storeId of [2, 3, 1]) {
    const peer = defined(
      regionOf('raw-00000').region.peers.find((p) => p.storeId === storeId),
      `peer on store ${storeId}`,
    );
    await untilDone(regionId(), { transferLeader: { peer } }, (info) => info.leader?.storeId === storeId);
    steps.push(`leader -> store ${storeId}`);
  }
  const fourth = await cluster.startStore(extraDir.path);
  const added: Peer = { id: await cluster.scheduler.core.allocId(), storeId: fourth.storeId };
  await untilDone(regionId(), { changePeer: { peer: added, changeType: ConfChangeType.AddNode } }, (info) =>
    info.region.peers.some((p) => p.id === added.id),
  );
  steps.push(`add peer on store ${fourth.storeId}`);
  const first = defined(
    regionOf('raw-00000').region.peers.find((p) => p.storeId === 1),
    'peer on store 1',
  );
  // Store 1 leads: the remove goes with a leader transfer first (done by the store).
  await untilDone(regionId(), { changePeer: { peer: first, changeType: ConfChangeType.RemoveNode } }, (info) =>
    info.region.peers.every((p) => p.id !== first.id),
  );
  steps.push('remove peer on store 1');
  while (!stop()) await sleep(100);
  return steps;
}

describe('tinykv/client through splits, leader moves and conf changes', () => {
  it('no error reaches the caller; acknowledged writes and transactions are all there', async () => {
    const acked: string[] = [];
    const increments = new Map<string, number>(COUNTERS.map((c) => [c, 0]));
    const errors: unknown[] = [];
    let writing = true;
    const writer = async (id: number) => {
      for (let i = 0; writing; i++) {
        const key = `raw-${String(id * 100_000 + i).padStart(6, '0')}`;
        try {
          await client.put(key, Buffer.alloc(400, id));
          acked.push(key);
        } catch (err) {
          errors.push(err);
        }
      }
    };
    const txner = async () => {
      for (let i = 0; writing; i++) {
        const name = defined(COUNTERS[i % COUNTERS.length], 'counter');
        const other = defined(COUNTERS[(i + 1) % COUNTERS.length], 'counter');
        try {
          // Two loops increment overlapping counters back to back, so one may lose to the other's
          // commits many times in a row (optimistic transactions promise no fairness); this test is
          // about layout changes, so a loser gets more attempts than the default ten.
          await client.transaction(
            async (txn) => {
              const a = Number((await txn.get(name))?.toString() ?? '0');
              const b = Number((await txn.get(other))?.toString() ?? '0');
              txn.put(name, String(a + 1));
              txn.put(other, String(b + 1));
            },
            { maxAttempts: 40 },
          );
          increments.set(name, (increments.get(name) ?? 0) + 1);
          increments.set(other, (increments.get(other) ?? 0) + 1);
        } catch (err) {
          errors.push(err);
        }
      }
    };
    const load = Promise.all([writer(1), writer(2), writer(3), txner(), txner()]);
    let steps: string[] = [];
    try {
      steps = await reshape(() => cluster.scheduler.core.scanRegions(Buffer.alloc(0), Buffer.alloc(0), 0).length >= 4);
    } finally {
      writing = false;
      await load;
    }
    console.log(
      `layout changes: ${steps.join(', ')}; ${acked.length} raw writes, regions ${cluster.scheduler.core.scanRegions(Buffer.alloc(0), Buffer.alloc(0), 0).length}`,
    );
    expect(errors.map((e) => String(e))).toEqual([]);
    for (const key of acked) expect((await client.get(key))?.length, key).toBe(400);
    for (const [name, count] of increments) expect(Number((await client.transaction((txn) => txn.get(name)))?.toString() ?? '0'), name).toBe(count);
    const regionIds = new Set(COUNTERS.map((name) => regionOf(name).region.id));
    console.log(`counters in ${regionIds.size} regions`);
    cluster.assertNoFatal();
  });
});
