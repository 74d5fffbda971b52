// What a leader tells the scheduler of its followers (issue #11, region heartbeats): pending peers
// (their log match is below the leader's truncated index, so only a snapshot catches them up) and
// down peers (silent for max-peer-down-duration, counted in raft ticks), on the simulated cluster
// and through the poller's `regions` frame to the main thread's view.
import { describe, expect, it } from 'vitest';
import { Region } from '../../src/proto/metapb.js';
import { PeerLiveness } from '../../src/raftstore/peer/peer-liveness.js';
import { leaderRegionOf, regionViews } from '../../src/raftstore/batch/region-views.js';
import type { RegionReport } from '../../src/raftstore/batch/protocol.js';
import { SimCluster, seedFromEnv } from './cluster.js';
import { defined } from '../../src/util/assert.js';

const DOWN_TICKS = 20;

function seeded(name: string, base: number): number {
  const seed = seedFromEnv(base);
  console.log(`[raftstore] ${name}: seed ${seed} (replay with RAFTSTORE_SEED=${seed})`);
  return seed;
}

function leaderOf(cluster: SimCluster) {
  const storeId = defined(cluster.leaderStore(1), 'leader store');
  const node = defined(cluster.stores.get(storeId), 'leader node');
  return { storeId, node, led: defined(node.store.leaderRegions()[0], 'led region') };
}

describe('PeerLiveness', () => {
  it('counts ticks of silence while leading, resets on a message, forgets removed followers and everything on losing leadership', () => {
    const liveness = new PeerLiveness();
    for (let i = 0; i < 3; i++) liveness.onTick(true, [2, 3]);
    liveness.heard(2);
    liveness.onTick(true, [2, 3]);
    expect(liveness.down(4)).toEqual([{ peerId: 3, silentTicks: 4 }]);
    expect(liveness.down(1)).toEqual([
      { peerId: 2, silentTicks: 1 },
      { peerId: 3, silentTicks: 4 },
    ]);
    liveness.onTick(true, [2, 4]);
    expect(liveness.down(1).map((p) => p.peerId)).toEqual([2, 4]);
    liveness.onTick(false, []);
    liveness.onTick(true, [2, 4]);
    expect(liveness.down(2)).toEqual([]);
    // A message from a peer it does not track (not leading, or not a member) starts nothing.
    liveness.heard(9);
    expect(liveness.down(0).map((p) => p.peerId)).toEqual([2, 4]);
  });
});

describe('region views on the main thread', () => {
  const region: Region = {
    id: 7,
    startKey: Buffer.alloc(0),
    endKey: Buffer.alloc(0),
    regionEpoch: { confVer: 1, version: 1 },
    peers: [
      { id: 71, storeId: 1 },
      { id: 72, storeId: 2 },
      { id: 73, storeId: 3 },
    ],
  };
  const report = (downPeerIds: number[], leader = true): RegionReport => ({
    region: Region.encode(region).finish(),
    peerId: 71,
    leader,
    pendingPeerIds: [73],
    term: 5,
    leaseSlot: -1,
    leaseGeneration: 0,
    downPeerIds,
  });

  it('reports a down follower for max-peer-down-duration plus the time since it was first reported down', () => {
    let views = regionViews([report([72])], [], 1_000);
    views = regionViews([report([72, 73])], views, 5_000);
    const led = defined(leaderRegionOf(defined(views[0], 'view'), 11_500, 600_000), 'led');
    expect(led.leader).toEqual(region.peers[0]);
    expect(led.pendingPeers).toEqual([region.peers[2]]);
    expect(led.downPeers).toEqual([
      { peer: region.peers[1], downSeconds: 610 },
      { peer: region.peers[2], downSeconds: 606 },
    ]);
    // Heard from again: gone from the report, gone from the view; down again starts over.
    views = regionViews([report([])], views, 12_000);
    views = regionViews([report([72])], views, 13_000);
    expect(leaderRegionOf(defined(views[0], 'view'), 13_000, 600_000)?.downPeers).toEqual([{ peer: region.peers[1], downSeconds: 600 }]);
    expect(leaderRegionOf(defined(regionViews([report([], false)], [], 0)[0], 'view'), 0, 600_000)).toBeUndefined();
  });
});

describe('pending and down peers on the simulated cluster', () => {
  it('reports an isolated follower down after max-peer-down-duration and clears it once it is heard from', async () => {
    const cluster = new SimCluster({ stores: 3, seed: seeded('down-peer', 61), config: { maxPeerDownTicks: DOWN_TICKS } });
    await cluster.start();
    await cluster.waitLeader();
    await cluster.put('a', '1');
    const { storeId: leaderStore, led } = leaderOf(cluster);
    expect(led.downPeers).toEqual([]);
    const follower = defined(
      led.region.peers.find((p) => p.storeId !== leaderStore),
      'follower',
    );
    cluster.isolate(follower.storeId);
    await cluster.run(DOWN_TICKS - 3);
    expect(leaderOf(cluster).led.downPeers).toEqual([]);
    await cluster.run(5);
    const { node, led: down } = leaderOf(cluster);
    expect(down.downPeers.map((d) => d.peer)).toEqual([follower]);
    // Silent ticks in wall time on the single-thread store: at least the duration (20 ticks of 100 ms).
    expect(defined(down.downPeers[0], 'down peer').downSeconds).toBeGreaterThanOrEqual(2);
    const reported = defined(
      node.lastRegionReport.find((r) => r.leader),
      'leader report',
    );
    expect(reported.downPeerIds).toEqual([follower.id]);
    cluster.clearFilters();
    await cluster.run(5);
    expect(leaderOf(cluster).led.downPeers).toEqual([]);
    expect(
      defined(
        leaderOf(cluster).node.lastRegionReport.find((r) => r.leader),
        'leader report',
      ).downPeerIds,
    ).toEqual([]);
  });

  it('reports a follower behind the truncated index pending until a snapshot catches it up', async () => {
    const cluster = new SimCluster({ stores: 3, seed: seeded('pending-peer', 62), config: { raftLogGcCountLimit: 5 } });
    await cluster.start();
    await cluster.waitLeader();
    await cluster.put('a', '1');
    const { storeId: leaderStore } = leaderOf(cluster);
    const follower = defined(
      cluster.region.peers.find((p) => p.storeId !== leaderStore),
      'follower',
    );
    cluster.isolate(follower.storeId);
    for (let i = 0; i < 30; i++) await cluster.put(`k${i}`, `v${i}`);
    await cluster.run(5);
    const { node, led } = leaderOf(cluster);
    expect(led.pendingPeers).toEqual([follower]);
    expect(
      defined(
        node.lastRegionReport.find((r) => r.leader),
        'leader report',
      ).pendingPeerIds,
    ).toEqual([follower.id]);
    cluster.clearFilters();
    for (let i = 0; i < 100 && leaderOf(cluster).led.pendingPeers.length > 0; i++) await cluster.step();
    expect(leaderOf(cluster).led.pendingPeers).toEqual([]);
    expect(cluster.localValue(follower.storeId, 'k29')).toBe('v29');
  });
});
