// Membership change (TinyKV 3B ChangePeer) on the single-thread simulation.
import { describe, expect, it } from 'vitest';
import { SimCluster, seedFromEnv } from './cluster.js';

function seeded(name: string, base: number): number {
  const seed = seedFromEnv(base);
  console.log(`[raftstore] ${name}: seed ${seed} (replay with RAFTSTORE_SEED=${seed})`);
  return seed;
}

function peerIds(cluster: SimCluster, storeId: number, regionId = 1): number[] {
  const peer = cluster.stores.get(storeId)?.peer(regionId);
  return (peer?.region.peers ?? []).map((p) => p.id).sort((a, b) => a - b);
}

describe('conf change', () => {
  it('removes a follower: the region loses the peer, conf_ver grows once, the same change again is a no-op', async () => {
    const cluster = new SimCluster({ stores: 3, seed: seeded('remove-follower', 31) });
    await cluster.start();
    const leader = await cluster.waitLeader();
    await cluster.put('a', '1');
    const follower = [1, 2, 3].find((id) => id !== leader)!;
    const response = await cluster.removePeer(1, follower, follower + 100);
    const region = response.adminResponse?.changePeer?.region;
    expect(region?.peers.map((p) => p.id)).not.toContain(follower + 100);
    expect(region?.regionEpoch).toEqual({ confVer: 2, version: 1 });
    const again = await cluster.removePeer(1, follower, follower + 100);
    expect(again.adminResponse?.changePeer?.region?.regionEpoch).toEqual({ confVer: 2, version: 1 });
    await cluster.put('b', '2');
    expect(await cluster.get('b')).toBe('2');
    await cluster.run(5);
    const remaining = [1, 2, 3].filter((id) => id !== follower);
    for (const id of remaining) expect(peerIds(cluster, id)).toEqual(remaining.map((s) => s + 100));
  });
});
