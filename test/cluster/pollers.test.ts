// The batch system: stores whose region peers run on raft poller threads, over gRPC and LMDB.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/config.js';
import { silentLogger } from '../../src/log/logger.js';
import { createRawClient, TinyKvClientError } from '../../src/client/raw-client.js';
import { RaftApplyState } from '../../src/proto/raft_serverpb.js';
import { applyStateKey } from '../../src/raftstore/keys.js';
import { ClusterNode } from '../../src/server/cluster-node.js';
import { startScheduler, type SchedulerHandle } from '../../src/scheduler/scheduler-server.js';
import { tempDir } from '../helpers/tmp.js';

let scheduler: SchedulerHandle;
const nodes = new Map<number, ClusterNode>();
const dirs: Array<ReturnType<typeof tempDir>> = [];

type KvView = { get: (cf: string, k: Buffer) => Buffer | undefined };
const kvOf = (node: ClusterNode) => (node as unknown as { engines: { kv: KvView } }).engines.kv;
const dirOf = (node: ClusterNode) => (node as unknown as { config: { dataDir: string } }).config.dataDir;

async function startStore(dataDir: string): Promise<ClusterNode> {
  const config = loadConfig({
    overrides: { standalone: false, scheduler: scheduler.addr, addr: '127.0.0.1:0', dataDir, raftBaseTickMs: 20, raftLogGcCountLimit: 20, raftPollers: 2, logLevel: 'silent' },
  });
  const node = await ClusterNode.start(config, silentLogger());
  nodes.set(node.storeId, node);
  return node;
}

/** The store that accepts a write is the leader (followers answer NotLeader). */
async function putViaLeader(key: string, value: string): Promise<ClusterNode> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    for (const node of nodes.values()) {
      const client = createRawClient(node.addr, { timeoutMs: 2_000 });
      try {
        await client.put(key, value);
        return node;
      } catch (err) {
        if (!(err instanceof TinyKvClientError)) throw err;
      } finally {
        client.close();
      }
    }
    if (Date.now() > deadline) throw new Error('no leader');
    await new Promise((r) => setTimeout(r, 50));
  }
}

beforeAll(async () => {
  scheduler = await startScheduler({ addr: '127.0.0.1:0', engine: 'memory', initialStores: 3, logger: silentLogger() });
  for (let i = 0; i < 3; i++) dirs.push(tempDir());
  await Promise.all(dirs.map((d) => startStore(d.path)));
});

afterAll(async () => {
  for (const node of nodes.values()) await node.close();
  await scheduler.close();
  for (const d of dirs) d.cleanup();
});

describe('stores with two raft poller threads', () => {
  it('replicates writes and catches a stopped follower up by snapshot', async () => {
    const leader = await putViaLeader('first', '1');
    const follower = [...nodes.values()].find((n) => n !== leader)!;
    const followerDir = dirOf(follower);
    nodes.delete(follower.storeId);
    await follower.close();
    const client = createRawClient(leader.addr);
    for (let i = 0; i < 120; i++) await client.put(`p-${i}`, `v${i}`);
    client.close();
    await new Promise((r) => setTimeout(r, 500)); // several GC ticks on the leader
    const restarted = await startStore(followerDir);
    const regionId = restarted.store.regions()[0]?.id ?? leader.store.regions()[0]!.id;
    const deadline = Date.now() + 20_000;
    let truncated = 0;
    while (Date.now() < deadline) {
      const bytes = kvOf(restarted).get('meta', applyStateKey(regionId));
      truncated = bytes ? RaftApplyState.decode(bytes).truncatedState!.index : 0;
      if (truncated > 20 && kvOf(restarted).get('default', Buffer.from('p-119'))) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(kvOf(restarted).get('default', Buffer.from('p-119'))?.toString()).toBe('v119');
    expect(kvOf(restarted).get('default', Buffer.from('first'))?.toString()).toBe('1');
    expect(truncated).toBeGreaterThan(20);
  });
});
