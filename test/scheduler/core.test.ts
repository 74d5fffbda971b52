import { describe, expect, it } from 'vitest';
import { MemoryEngine } from '../../src/engine/memory-engine.js';
import { SchedulerCore } from '../../src/scheduler/core.js';
import { SchedulerError, SchedulerErrorCode } from '../../src/scheduler/errors.js';
import type { HeartbeatSink } from '../../src/scheduler/heartbeat-streams.js';
import type { RegionHeartbeatResponse } from '../../src/proto/schedulerpb.js';
import { key, peer, region, store } from './helpers.js';
import { defined } from '../../src/util/assert.js';

async function rejectionCode(promise: Promise<unknown>): Promise<string | undefined> {
  try {
    await promise;
    return undefined;
  } catch (err) {
    return err instanceof SchedulerError ? err.code : String(err);
  }
}

function sink(): HeartbeatSink & { received: RegionHeartbeatResponse[] } {
  const received: RegionHeartbeatResponse[] = [];
  return { received, write: (r) => received.push(r) > 0, end: () => {} };
}

describe('SchedulerCore region heartbeats', () => {
  it('refuses heartbeats before bootstrap, without a leader, or from an unknown leader store', async () => {
    const core = await SchedulerCore.open(new MemoryEngine(), { initialStores: 0 });
    const r = region(5, 'a', 'b', { confVer: 1, version: 1 }, [[6, 1]]);
    expect(await rejectionCode(core.regionHeartbeat({ region: r, leader: peer(6, 1) }))).toBe(SchedulerErrorCode.NotBootstrapped);
    await core.bootstrap(store(1));
    expect(await rejectionCode(core.regionHeartbeat({ region: r, leader: undefined }))).toBe(SchedulerErrorCode.InvalidArgument);
    expect(await rejectionCode(core.regionHeartbeat({ region: undefined, leader: peer(6, 1) }))).toBe(SchedulerErrorCode.InvalidArgument);
    const elsewhere = region(5, 'a', 'b', { confVer: 1, version: 1 }, [[7, 2]]);
    expect(await rejectionCode(core.regionHeartbeat({ region: elsewhere, leader: peer(7, 2) }))).toBe(SchedulerErrorCode.StoreNotFound);
    expect(core.state.regionCount).toBe(0);
    const result = await core.regionHeartbeat({ region: r, leader: peer(6, 1) });
    expect(result.metaChanged).toBe(true);
  });

  it('refuses pending or down peers that are not peers of the region, and sizes, keys or down times out of range', async () => {
    const core = await SchedulerCore.open(new MemoryEngine(), { initialStores: 0 });
    await core.bootstrap(store(1));
    await core.putStore(store(2));
    const r = region(5, 'a', 'b', { confVer: 1, version: 1 }, [
      [6, 1],
      [7, 2],
    ]);
    const [leader, follower] = [peer(6, 1), peer(7, 2)];
    const stranger = peer(8, 2);
    for (const extras of [
      { pendingPeers: [stranger] },
      { downPeers: [{ peer: stranger, downSeconds: 1 }] },
      { downPeers: [{ peer: undefined, downSeconds: 1 }] },
      { downPeers: [{ peer: follower, downSeconds: -1 }] },
      { approximateKeys: 2 ** 53 },
      { approximateSizeBytes: 1.5 },
    ]) {
      expect(await rejectionCode(core.regionHeartbeat({ region: r, leader, ...extras }))).toBe(SchedulerErrorCode.InvalidArgument);
    }
    expect(core.state.regionCount).toBe(0);
    const result = await core.regionHeartbeat({ region: r, leader, downPeers: [{ peer: follower, downSeconds: 600 }], approximateKeys: 3 });
    expect(result.region).toMatchObject({ downPeers: [{ peer: follower, downSeconds: 600 }], approximateKeys: 3, approximateSizeBytes: 0 });
    // 0 is unknown on the wire: the last value stays.
    await core.regionHeartbeat({ region: r, leader, approximateKeys: 0 });
    expect(core.state.getRegionById(5)).toMatchObject({ downPeers: [], approximateKeys: 3 });
  });

  it('accepts 2000 concurrent heartbeats of distinct regions and pushes to the bound store (TestConcurrentHandleRegion3C)', async () => {
    const core = await SchedulerCore.open(new MemoryEngine(), { initialStores: 0 });
    await core.bootstrap(store(1));
    await core.putStore(store(2));
    await core.putStore(store(3));
    const streams = [sink(), sink(), sink()];
    const beats = Array.from({ length: 2000 }, (_, i) => {
      const start = Buffer.alloc(4);
      start.writeUInt32BE(i * 2);
      const end = Buffer.alloc(4);
      end.writeUInt32BE(i * 2 + 1);
      const leaderStore = (i % 3) + 1;
      const peers: Array<[number, number]> = [1, 2, 3].map((s) => [10_000 + i * 3 + s, s]);
      const r = region(i + 1, start.toString('latin1'), end.toString('latin1'), { confVer: 1, version: 1 }, peers);
      return core.regionHeartbeat({ region: r, leader: r.peers[leaderStore - 1] }, streams[leaderStore - 1]);
    });
    const results = await Promise.all(beats);
    expect(results.every((r) => r.metaChanged)).toBe(true);
    expect(core.state.regionCount).toBe(2000);
    expect(core.getStore(1)).toMatchObject({ regionCount: 2000, leaderCount: 667 });
    const info = core.getRegion(Buffer.from([0, 0, 0, 0]))!;
    expect(core.streams.sendToLeader(info, { transferLeader: { peer: info.region.peers[1] } })).toBe(true);
    expect(defined(streams[0], 'streams[0]').received).toHaveLength(1);
    expect(defined(defined(streams[0], 'streams[0]').received[0], 'streams[0].received[0]').transferLeader?.peer).toEqual(info.region.peers[1]);
  });

  it('AskSplit allocates fresh ids above everything handed out', async () => {
    const core = await SchedulerCore.open(new MemoryEngine(), { initialStores: 2 });
    await core.putStore(store(1));
    await core.putStore(store(2));
    const r = core.getRegion(key('x'))!.region;
    const highest = Math.max(r.id, ...r.peers.map((p) => p.id));
    const split = await core.askSplit(r);
    expect(split.newRegionId).toBeGreaterThan(highest);
    expect(split.newPeerIds).toHaveLength(2);
    expect(split.newPeerIds.every((id) => id > split.newRegionId)).toBe(true);
  });
});
