// A scheduler and three stores in this process, over real gRPC on loopback and LMDB, with the
// region peers on the main thread so the tests can look at them.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect } from '../../src/client/index.js';
import type { ClusterNode } from '../../src/server/cluster-node.js';
import type { Store } from '../../src/raftstore/batch/store.js';
import { raftLogKey } from '../../src/raftstore/keys.js';
import { InProcessCluster, waitUntil, withClient } from './harness.js';
import { defined } from '../../src/util/assert.js';

let cluster: InProcessCluster;

const peerOf = (node: ClusterNode) => (node.store as Store).peer(node.store.regions()[0]?.id ?? -1);
const localValue = (node: ClusterNode, key: string) => node.engines.kv.get('default', Buffer.from(key))?.toString();

async function leaderNode(timeoutMs = 15_000): Promise<ClusterNode> {
  let leader: ClusterNode | undefined;
  await waitUntil(() => (leader = cluster.all().find((node) => peerOf(node)?.isLeader())) !== undefined, timeoutMs);
  if (!leader) throw new Error('no leader');
  return leader;
}

beforeAll(async () => {
  cluster = await InProcessCluster.start({ raftLogGcCountLimit: 20, raftPollers: 0 });
});

afterAll(async () => {
  await cluster.close();
});

describe('three-store cluster in one process', () => {
  it('bootstraps one region on all three stores and elects a leader', async () => {
    const leader = await leaderNode();
    expect(leader.store.regions()).toHaveLength(1);
    for (const node of cluster.all()) expect(defined(node.store.regions()[0], 'node.store.regions()[0]').peers).toHaveLength(3);
  });

  it('serves RawPut/RawGet through the leader and replicates to followers', async () => {
    const leader = await leaderNode();
    await withClient(leader.addr, (c) => c.put('alpha', 'one'));
    expect((await withClient(leader.addr, (c) => c.get('alpha')))?.toString()).toBe('one');
    await new Promise((r) => setTimeout(r, 300));
    for (const node of cluster.all()) expect(localValue(node, 'alpha')).toBe('one');
  });

  it('a follower answers with a NotLeader region error', async () => {
    const leader = await leaderNode();
    const follower = cluster.all().find((n) => n !== leader)!;
    await expect(withClient(follower.addr, (c) => c.put('x', 'y'))).rejects.toThrow(/not leader/);
  });

  it('keeps serving after the leader stops, and the old leader catches up after restart', async () => {
    const leader = await leaderNode();
    await cluster.stopStore(leader);
    const next = await leaderNode();
    expect(next.storeId).not.toBe(leader.storeId);
    await withClient(next.addr, (c) => c.put('beta', 'two'));
    const restarted = await cluster.startStore(leader.config.dataDir);
    expect(restarted.storeId).toBe(leader.storeId);
    await waitUntil(() => localValue(restarted, 'beta') === 'two', 10_000, 50);
    expect(localValue(restarted, 'beta')).toBe('two');
  });

  it('catches a follower that missed compacted log entries up by a snapshot built on the snapshot worker', async () => {
    const leader = await leaderNode();
    const follower = cluster.all().find((n) => n !== leader)!;
    await cluster.stopStore(follower);
    const leaderPeer = peerOf(leader)!;
    // Everything the stopped follower can have is at or below this index.
    const followerMaxIndex = leaderPeer.storage.lastIndex();
    await withClient(leader.addr, async (c) => {
      for (let i = 0; i < 120; i++) await c.put(`snap-${i}`, `v${i}`);
    });
    // Wait for the leader's raft-log GC (a few ticks) to truncate past what the follower has.
    await waitUntil(() => leaderPeer.storage.truncatedIndex > followerMaxIndex);
    expect(leaderPeer.storage.truncatedIndex).toBeGreaterThan(followerMaxIndex);
    // The raft-log GC thread deletes the compacted entries.
    const regionId = defined(leader.store.regions()[0], 'leader.store.regions()[0]').id;
    await waitUntil(() => leader.engines.raft.get('meta', raftLogKey(regionId, 8)) === undefined);
    expect(leader.engines.raft.get('meta', raftLogKey(regionId, 8))).toBeUndefined();
    const restarted = await cluster.startStore(follower.config.dataDir);
    const restartedPeer = peerOf(restarted)!;
    // Done once the snapshot's state is adopted (its data lands a moment before that).
    await waitUntil(() => restartedPeer.storage.truncatedIndex > followerMaxIndex, 15_000, 50);
    expect(localValue(restarted, 'snap-119')).toBe('v119');
    expect(localValue(restarted, 'snap-0')).toBe('v0');
    // It caught up by snapshot: its log now starts past everything it had before.
    expect(restartedPeer.storage.truncatedIndex).toBeGreaterThan(followerMaxIndex);
  });

  it('runs Percolator transactions through tinykv/client, routed by the scheduler to the leader', async () => {
    await leaderNode();
    const client = await connect({ scheduler: cluster.scheduler.addr });
    try {
      await client.transaction(async (txn) => {
        txn.put('acct-a', '100');
        txn.put('acct-b', '0');
      });
      await Promise.all(
        Array.from({ length: 8 }, () =>
          client.transaction(async (txn) => {
            const a = Number(await txn.get('acct-a'));
            const b = Number(await txn.get('acct-b'));
            txn.put('acct-a', String(a - 10));
            txn.put('acct-b', String(b + 10));
          }),
        ),
      );
      const totals = await client.transaction(async (txn) => [Number(await txn.get('acct-a')), Number(await txn.get('acct-b'))]);
      expect(totals).toEqual([20, 80]);
      await client.put('raw-via-client', 'yes');
      expect((await client.get('raw-via-client'))?.toString()).toBe('yes');
    } finally {
      await client.close();
    }
  });
});
