// Operators carried out by real stores (in-process harness: the real scheduler, threaded stores
// over gRPC on LMDB). Each operator is added through the scheduler's operator controller, which
// sends its steps in heartbeat responses until the leaders' heartbeats show them done: a peer
// added on a fourth store (started empty), the leader moved there, and the region split at a
// user key. Transactional data written before reads back after each, through the client.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type TinyKvClient } from '../../src/client/index.js';
import type { RegionInfo } from '../../src/scheduler/cluster-state.js';
import {
  OpKind,
  createAddPeerOperator,
  createSplitRegionOperator,
  createTransferLeaderOperator,
  type Operator,
} from '../../src/scheduler/schedule/operator.js';
import type { ClusterNode } from '../../src/server/cluster-node.js';
import { encodeBytes } from '../../src/txn/codec.js';
import { defined } from '../../src/util/assert.js';
import { tempDir } from '../helpers/tmp.js';
import { InProcessCluster, waitUntil } from './harness.js';

/** Generous: the machine is shared and four stores run in one process. */
const OPERATOR_DEADLINE_MS = 30_000;
const KEYS = Array.from({ length: 26 }, (_, i) => String.fromCharCode(97 + i).repeat(3));

let cluster: InProcessCluster;
let client: TinyKvClient;
let fourth: ClusterNode;
const fourthDir = tempDir();

beforeAll(async () => {
  cluster = await InProcessCluster.start({ raftPollers: 1, regionHeartbeatIntervalMs: 100 });
  client = await connect({ scheduler: cluster.scheduler.addr, requestTimeoutMs: 5_000 });
  for (const deadline = Date.now() + 30_000; ;) {
    const ok = await client
      .transaction((txn) => KEYS.forEach((k) => txn.put(k, `v-${k}`)))
      .then(
        () => true,
        (err: unknown) => (Date.now() > deadline ? Promise.reject(err as Error) : false),
      );
    if (ok) break;
  }
  fourth = await cluster.startStore(fourthDir.path);
});

afterAll(async () => {
  await client?.close();
  await cluster?.close();
  fourthDir.cleanup();
});

/** The one region as the scheduler knows it, once a leader reported it. */
function region(): RegionInfo {
  const info = cluster.scheduler.core.getRegion(Buffer.alloc(0));
  return defined(info?.leader ? info : undefined, 'the region with a leader');
}

async function runOperator(op: Operator): Promise<void> {
  cluster.scheduler.core.operators.addOperator(op);
  await waitUntil(() => op.status !== 'running', OPERATOR_DEADLINE_MS, 50);
  expect(op.status, op.toString()).toBe('success');
}

async function readsBack(): Promise<void> {
  const values = await client.transaction((txn) => Promise.all(KEYS.map((k) => txn.get(k))));
  expect(values.map((v) => v?.toString())).toEqual(KEYS.map((k) => `v-${k}`));
}

describe('operators carried out by the stores', () => {
  it('add-peer on a new store, transfer-leader to it, split-region at a key', async () => {
    const { core } = cluster.scheduler;
    await waitUntil(() => core.getRegion(Buffer.alloc(0))?.leader !== undefined, 20_000);

    const peer = { id: await core.allocId(), storeId: fourth.storeId };
    await runOperator(createAddPeerOperator('admin-add-peer', region(), peer, OpKind.Admin, Date.now()));
    expect(
      region()
        .region.peers.map((p) => p.storeId)
        .sort(),
    ).toEqual([...cluster.storeIds()].sort());
    expect(fourth.store.regions().map((r) => r.id)).toEqual([region().region.id]);

    await runOperator(createTransferLeaderOperator('admin-transfer-leader', region(), fourth.storeId, OpKind.Admin, Date.now()));
    expect(fourth.store.leaderRegions().map(({ region: r }) => r.id)).toEqual([region().region.id]);
    await readsBack();

    const before = region();
    await runOperator(createSplitRegionOperator('admin-split-region', before, [Buffer.from('mmm')], OpKind.Admin, Date.now()));
    const cut = encodeBytes(Buffer.from('mmm'));
    await waitUntil(() => core.getRegion(cut)?.leader !== undefined, 20_000);
    const right = defined(core.getRegion(cut), 'the right-hand region');
    expect(right.region.startKey).toEqual(cut);
    expect(right.region.id).not.toBe(before.region.id);
    expect(core.getRegionById(before.region.id)?.region.endKey).toEqual(cut);
    await readsBack();
    expect(core.operators.getLatest(before.region.id)?.status).toBe('success');
  });
});
