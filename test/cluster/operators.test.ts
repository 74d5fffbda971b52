// Operators carried out by real stores (in-process harness: the real scheduler, threaded stores
// over gRPC on LMDB). Each operator is added through the scheduler's operator controller, which
// sends its steps in heartbeat responses until the leaders' heartbeats show them done: a peer
// added on a fourth store (started empty), the leader moved there and the old leader's peer
// removed (one operator, so the region never has more replicas than max-replicas for long), then
// the region split at a user key. Transactional data written before reads back after each.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type TinyKvClient } from '../../src/client/index.js';
import type { RegionInfo } from '../../src/scheduler/cluster-state.js';
import { OpKind, Operator, createSplitRegionOperator } from '../../src/scheduler/schedule/operator.js';
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

/** The region holding `key` as the scheduler knows it, once a leader reported it. */
function regionAt(key: Buffer): RegionInfo {
  const info = cluster.scheduler.core.getRegion(key);
  return defined(info?.leader ? info : undefined, 'a region with a leader');
}

/**
 * Adds an admin operator made from the region's current state and waits for it to end. An admin
 * operator replaces one the scheduler's own loops may be running on the region; if one of theirs
 * changed the region meanwhile (cancel) it is made again, as an operator would, whose done steps
 * are then seen done at once.
 */
async function runAdminOperator(make: () => Operator): Promise<Operator> {
  for (let attempt = 1; ; attempt++) {
    const op = make();
    cluster.scheduler.core.operators.addOperator(op, { replace: true });
    await waitUntil(() => op.status !== 'running', OPERATOR_DEADLINE_MS, 50);
    if (op.status === 'success' || attempt === 3) {
      expect(op.status, op.toString()).toBe('success');
      return op;
    }
  }
}

async function readsBack(): Promise<void> {
  const values = await client.transaction((txn) => Promise.all(KEYS.map((k) => txn.get(k))));
  expect(values.map((v) => v?.toString())).toEqual(KEYS.map((k) => `v-${k}`));
}

describe('operators carried out by the stores', () => {
  it('add-peer on a new store, transfer-leader to it, remove the old leader, then split-region at a key', async () => {
    const { core } = cluster.scheduler;
    const start = Buffer.alloc(0);
    await waitUntil(() => core.getRegion(start)?.leader !== undefined, 20_000);
    const oldLeaderStore = defined(regionAt(start).leader, 'leader').storeId;
    const newPeer = { id: await core.allocId(), storeId: fourth.storeId };
    const moved = await runAdminOperator(() => {
      const info = regionAt(start);
      return new Operator({
        desc: 'admin-move-leader-peer',
        regionId: info.region.id,
        regionEpoch: defined(info.region.regionEpoch, 'epoch'),
        kind: OpKind.Admin | OpKind.Region | OpKind.Leader,
        steps: [
          { type: 'add-peer', toStore: fourth.storeId, peerId: newPeer.id },
          { type: 'transfer-leader', fromStore: oldLeaderStore, toStore: fourth.storeId },
          { type: 'remove-peer', fromStore: oldLeaderStore },
        ],
        createdMs: Date.now(),
      });
    });
    expect(moved.stepIndex).toBe(3);
    await readsBack();

    const cut = encodeBytes(Buffer.from('mmm'));
    await runAdminOperator(() => createSplitRegionOperator('admin-split-region', regionAt(cut), [Buffer.from('mmm')], OpKind.Admin, Date.now()));
    await waitUntil(() => core.getRegion(cut)?.leader !== undefined, 20_000);
    const right = regionAt(cut);
    expect(right.region.startKey).toEqual(cut);
    expect(regionAt(start).region.endKey).toEqual(cut);
    expect(right.region.id).not.toBe(regionAt(start).region.id);
    await readsBack();
  });
});
