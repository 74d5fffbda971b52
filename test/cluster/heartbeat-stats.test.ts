// Region heartbeats on the real, threaded store (in-process harness, gRPC on loopback, LMDB): a
// stopped store's peer shows up as down in the scheduler's region info once the leader has not
// heard from it for max-peer-down-duration (short here), with its down seconds, and leaves the
// list once the store is back.
import { afterEach, describe, expect, it } from 'vitest';
import type { DownPeer } from '../../src/scheduler/cluster-state.js';
import { defined } from '../../src/util/assert.js';
import { InProcessCluster, waitUntil } from './harness.js';
import { ScenarioClient, sleep } from './workload.js';

/** 50 ticks of 20 ms. */
const MAX_PEER_DOWN_MS = 1_000;

let running: { cluster: InProcessCluster; sc: ScenarioClient } | undefined;

afterEach(async () => {
  running?.sc.close();
  await running?.cluster.close();
  running = undefined;
});

describe('region heartbeats report down peers', () => {
  it("a stopped store's peer is down in the scheduler's region info, and not once it is back", async () => {
    const cluster = await InProcessCluster.start({ raftPollers: 1, regionHeartbeatIntervalMs: 100, maxPeerDownDurationMs: MAX_PEER_DOWN_MS });
    const sc = new ScenarioClient(() => cluster.all());
    running = { cluster, sc };
    await sc.must('first write', (c) => c.put('warm-up', '1'), 20_000);
    const regionId = defined(cluster.all()[0]?.store.regions()[0], 'the bootstrap region').id;
    const info = () => cluster.scheduler.core.getRegionById(regionId);
    await waitUntil(() => info()?.leader !== undefined, 20_000);
    expect(info()?.downPeers).toEqual([]);

    const leaderStore = defined(info()?.leader, 'reported leader').storeId;
    const stopped = defined(
      cluster.all().find((node) => node.storeId !== leaderStore),
      'a follower store',
    );
    const stoppedPeer = defined(
      info()?.region.peers.find((p) => p.storeId === stopped.storeId),
      'its peer',
    );
    const dataDir = cluster.dataDirOf(stopped);
    await cluster.stopStore(stopped);
    const downOf = (): DownPeer | undefined => info()?.downPeers.find((d) => d.peer.id === stoppedPeer.id);
    await waitUntil(() => downOf() !== undefined, 20_000);
    expect(info()?.downPeers.map((d) => d.peer)).toEqual([stoppedPeer]);
    expect(defined(downOf(), 'down peer').downSeconds).toBeGreaterThanOrEqual(MAX_PEER_DOWN_MS / 1000);
    await sc.must('a write without the stopped store', (c) => c.put('while-down', '1'), 20_000);

    await cluster.startStore(dataDir);
    await waitUntil(() => info()?.downPeers.length === 0, 20_000);
  });
});

describe('store heartbeats report what clients wrote and read', () => {
  it('the scheduler sees keys and bytes written and read at the stores that served them', async () => {
    const cluster = await InProcessCluster.start({ raftPollers: 1, storeHeartbeatIntervalMs: 200 });
    const sc = new ScenarioClient(() => cluster.all());
    running = { cluster, sc };
    await sc.must('first write', (c) => c.put('warm-up', '1'), 20_000);
    // The warm-up's interval passes first: from here on every pair is a flow-* one.
    await sleep(500);
    const value = 'v'.repeat(90);
    const flows = () => cluster.scheduler.core.state.getStores().map((store) => store.stats);
    const seen = { keysWritten: 0n, bytesWritten: 0n, keysRead: 0n, bytesRead: 0n };
    // Each heartbeat carries its own interval's counts: keep writing and reading until one shows both.
    for (let i = 0; seen.keysWritten === 0n || seen.keysRead === 0n; i++) {
      await sc.must(`put ${i}`, (c) => c.put(`flow-${String(i).padStart(4, '0')}`, value));
      await sc.must(`get ${i}`, (c) => c.get(`flow-${String(i).padStart(4, '0')}`));
      for (const stats of flows()) {
        if (!stats) continue;
        if (stats.keysWritten > seen.keysWritten) [seen.keysWritten, seen.bytesWritten] = [stats.keysWritten, stats.bytesWritten];
        if (stats.keysRead > seen.keysRead) [seen.keysRead, seen.bytesRead] = [stats.keysRead, stats.bytesRead];
      }
      expect(i, 'no heartbeat reported the writes and reads').toBeLessThan(2_000);
    }
    // Keys of 9 bytes and values of 90: every written or read pair is 99 bytes.
    expect(seen.bytesWritten).toBe(seen.keysWritten * 99n);
    expect(seen.bytesRead).toBe(seen.keysRead * 99n);
  });
});
