// The batch system: stores whose region peers run on raft poller threads, over gRPC and LMDB.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RaftApplyState } from '../../src/proto/raft_serverpb.js';
import { applyStateKey } from '../../src/raftstore/keys.js';
import { firstAnswer, InProcessCluster, waitUntil, withClient } from './harness.js';
import { defined } from '../../src/util/assert.js';

let cluster: InProcessCluster;

beforeAll(async () => {
  cluster = await InProcessCluster.start({ raftLogGcCountLimit: 20, raftPollers: 2 });
});

afterAll(async () => {
  await cluster.close();
});

describe('stores with two raft poller threads and eight regions', () => {
  it('creates every bootstrap region once and serves writes in all of them', async () => {
    const many = await InProcessCluster.start({ raftPollers: 2 }, {}, { initialRegions: 8 });
    try {
      await waitUntil(() => many.all().every((n) => n.store.regions().length === 8), 10_000, 50);
      expect(many.all().map((n) => n.store.regions().length)).toEqual([8, 8, 8]);
      // Keys spread over the key space land in different regions, on both pollers of each store.
      const keys = Array.from({ length: 16 }, (_, i) => Buffer.from([i * 16, 0x61]));
      for (const key of keys)
        await firstAnswer(
          (addr) => withClient(addr, (c) => c.put(key, key), 2_000),
          () => many.all(),
        );
      for (const key of keys) {
        const { value } = await firstAnswer(
          (addr) => withClient(addr, (c) => c.get(key), 2_000),
          () => many.all(),
        );
        expect(value?.equals(key)).toBe(true);
      }
    } finally {
      await many.close();
    }
  });
});

describe('stores with two raft poller threads', () => {
  it('replicates writes and catches a stopped follower up by snapshot', async () => {
    const { node: leader } = await firstAnswer(
      (addr) => withClient(addr, (c) => c.put('first', '1'), 2_000),
      () => cluster.all(),
    );
    const follower = cluster.all().find((n) => n !== leader)!;
    await cluster.stopStore(follower);
    await withClient(leader.addr, async (c) => {
      for (let i = 0; i < 120; i++) await c.put(`p-${i}`, `v${i}`);
    });
    await new Promise((r) => setTimeout(r, 500)); // several GC ticks on the leader
    const restarted = await cluster.startStore(follower.config.dataDir);
    const regionId = restarted.store.regions()[0]?.id ?? defined(leader.store.regions()[0], 'leader.store.regions()[0]').id;
    const kv = restarted.engines.kv;
    const truncatedIndex = () => {
      const bytes = kv.get('meta', applyStateKey(regionId));
      return bytes ? RaftApplyState.decode(bytes).truncatedState!.index : 0;
    };
    await waitUntil(() => truncatedIndex() > 20 && kv.get('default', Buffer.from('p-119')) !== undefined, 20_000, 50);
    expect(kv.get('default', Buffer.from('p-119'))?.toString()).toBe('v119');
    expect(kv.get('default', Buffer.from('first'))?.toString()).toBe('1');
    expect(truncatedIndex()).toBeGreaterThan(20);
  });
});
