// A scheduler and three stores in this process, over real gRPC on loopback and LMDB.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/config.js';
import { silentLogger } from '../../src/log/logger.js';
import { createRawClient } from '../../src/client/raw-client.js';
import { connect } from '../../src/client/index.js';
import { ClusterNode } from '../../src/server/cluster-node.js';
import type { Store } from '../../src/raftstore/store.js';
import { raftLogKey } from '../../src/raftstore/keys.js';
import { startScheduler, type SchedulerHandle } from '../../src/scheduler/scheduler-server.js';
import { tempDir } from '../helpers/tmp.js';

let scheduler: SchedulerHandle;
const nodes = new Map<number, ClusterNode>();
const dirs: Array<ReturnType<typeof tempDir>> = [];

async function startStore(dataDir: string): Promise<ClusterNode> {
  const config = loadConfig({
    overrides: { standalone: false, scheduler: scheduler.addr, addr: '127.0.0.1:0', dataDir, raftBaseTickMs: 20, raftLogGcCountLimit: 20, raftPollers: 0, logLevel: 'silent' },
  });
  const node = await ClusterNode.start(config, silentLogger());
  nodes.set(node.storeId, node);
  return node;
}

async function leaderNode(timeoutMs = 15_000): Promise<ClusterNode> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    for (const node of nodes.values()) if ((node.store as Store).peer(node.store.regions()[0]?.id ?? -1)?.isLeader()) return node;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error('no leader');
}

async function putVia(node: ClusterNode, key: string, value: string): Promise<void> {
  const client = createRawClient(node.addr);
  try {
    await client.put(key, value);
  } finally {
    client.close();
  }
}

beforeAll(async () => {
  scheduler = await startScheduler({ addr: '127.0.0.1:0', engine: 'memory', initialStores: 3, logger: silentLogger() });
  for (let i = 0; i < 3; i++) {
    const dir = tempDir();
    dirs.push(dir);
  }
  await Promise.all(dirs.map((d) => startStore(d.path)));
});

afterAll(async () => {
  for (const node of nodes.values()) await node.close();
  await scheduler.close();
  for (const d of dirs) d.cleanup();
});

describe('three-store cluster in one process', () => {
  it('bootstraps one region on all three stores and elects a leader', async () => {
    const leader = await leaderNode();
    expect(leader.store.regions()).toHaveLength(1);
    for (const node of nodes.values()) expect(node.store.regions()[0]!.peers).toHaveLength(3);
  });

  it('serves RawPut/RawGet through the leader and replicates to followers', async () => {
    const leader = await leaderNode();
    await putVia(leader, 'alpha', 'one');
    const client = createRawClient(leader.addr);
    expect((await client.get('alpha'))?.toString()).toBe('one');
    client.close();
    await new Promise((r) => setTimeout(r, 300));
    for (const node of nodes.values()) {
      const value = (node as unknown as { engines: { kv: { get: (cf: string, k: Buffer) => Buffer | undefined } } }).engines.kv.get('default', Buffer.from('alpha'));
      expect(value?.toString()).toBe('one');
    }
  });

  it('a follower answers with a NotLeader region error', async () => {
    const leader = await leaderNode();
    const follower = [...nodes.values()].find((n) => n !== leader)!;
    const client = createRawClient(follower.addr);
    await expect(client.put('x', 'y')).rejects.toThrow(/not leader/);
    client.close();
  });

  it('keeps serving after the leader stops, and the old leader catches up after restart', async () => {
    const leader = await leaderNode();
    const leaderDir = (leader as unknown as { config: { dataDir: string } }).config.dataDir;
    nodes.delete(leader.storeId);
    await leader.close();
    const next = await leaderNode();
    expect(next.storeId).not.toBe(leader.storeId);
    await putVia(next, 'beta', 'two');
    const restarted = await startStore(leaderDir);
    expect(restarted.storeId).toBe(leader.storeId);
    const deadline = Date.now() + 10_000;
    let value: string | undefined;
    while (Date.now() < deadline && value !== 'two') {
      value = (restarted as unknown as { engines: { kv: { get: (cf: string, k: Buffer) => Buffer | undefined } } }).engines.kv.get('default', Buffer.from('beta'))?.toString();
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(value).toBe('two');
  });

  it('catches a follower that missed compacted log entries up by a snapshot built on the snapshot worker', async () => {
    const leader = await leaderNode();
    const follower = [...nodes.values()].find((n) => n !== leader)!;
    const followerDir = (follower as unknown as { config: { dataDir: string } }).config.dataDir;
    nodes.delete(follower.storeId);
    await follower.close();
    const leaderPeer = (leader.store as Store).peer(leader.store.regions()[0]!.id)!;
    // Everything the stopped follower can have is at or below this index.
    const followerMaxIndex = leaderPeer.storage.lastIndex();
    const client = createRawClient(leader.addr);
    for (let i = 0; i < 120; i++) await client.put(`snap-${i}`, `v${i}`);
    client.close();
    // Wait for the leader's raft-log GC (a few ticks) to truncate past what the follower has.
    for (const deadline = Date.now() + 10_000; leaderPeer.storage.truncatedIndex <= followerMaxIndex && Date.now() < deadline; ) {
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(leaderPeer.storage.truncatedIndex).toBeGreaterThan(followerMaxIndex);
    // The raft-log GC thread deletes the compacted entries.
    const raftEngine = (leader as unknown as { engines: { raft: { get: (cf: string, k: Buffer) => Buffer | undefined } } }).engines.raft;
    const regionId = leader.store.regions()[0]!.id;
    for (const deadline = Date.now() + 10_000; raftEngine.get('meta', raftLogKey(regionId, 8)) && Date.now() < deadline; ) {
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(raftEngine.get('meta', raftLogKey(regionId, 8))).toBeUndefined();
    const restarted = await startStore(followerDir);
    const kv = (restarted as unknown as { engines: { kv: { get: (cf: string, k: Buffer) => Buffer | undefined } } }).engines.kv;
    const restartedPeer = (restarted.store as Store).peer(restarted.store.regions()[0]!.id)!;
    // Done once the snapshot's state is adopted (its data lands a moment before that).
    for (const deadline = Date.now() + 15_000; restartedPeer.storage.truncatedIndex <= followerMaxIndex && Date.now() < deadline; ) {
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(kv.get('default', Buffer.from('snap-119'))?.toString()).toBe('v119');
    expect(kv.get('default', Buffer.from('snap-0'))?.toString()).toBe('v0');
    // It caught up by snapshot: its log now starts past everything it had before.
    expect(restartedPeer.storage.truncatedIndex).toBeGreaterThan(followerMaxIndex);
  });

  it('runs Percolator transactions through tinykv/client, routed by the scheduler to the leader', async () => {
    await leaderNode();
    const client = await connect({ scheduler: scheduler.addr });
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
