import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { LmdbEngine } from '../../src/engine/lmdb-engine.js';
import { ManualClock } from '../../src/env/clock.js';
import { Cluster } from '../../src/proto/metapb.js';
import { composeTs } from '../../src/scheduler/tso.js';
import { SchedulerCore, type SchedulerCoreOptions } from '../../src/scheduler/core.js';
import { KEY_CLUSTER_ID, KEY_CLUSTER_META, KEY_ID_BOUND, PREFIX_REGION, PREFIX_STORE } from '../../src/scheduler/store.js';
import { tempDir } from '../helpers/tmp.js';
import { key, region, store, withChanges } from './helpers.js';
import { defined } from '../../src/util/assert.js';

describe('scheduler state on LMDB across restarts', () => {
  let dir: { path: string; cleanup: () => void };
  let engine: LmdbEngine | undefined;
  beforeEach(() => (dir = tempDir('tinykv-scheduler-')));
  afterEach(async () => {
    await engine?.close();
    engine = undefined;
    dir.cleanup();
  });

  async function open(options: SchedulerCoreOptions = {}): Promise<SchedulerCore> {
    await engine?.close();
    engine = new LmdbEngine({ path: join(dir.path, 'scheduler'), noSync: true });
    return SchedulerCore.open(engine, { initialStores: 2, splitKeys: [key('m')], ...options });
  }

  it('keeps cluster id, bootstrap, stores, regions, gc safe point; leaders come back by heartbeat', async () => {
    const first = await open();
    await first.putStore(store(1));
    await first.putStore(store(2));
    const [left, right] = first.scanRegions(key(''), key(''), 0).map((i) => i.region);
    if (left === undefined || right === undefined) throw new Error('the bootstrap should have made two regions');
    // A split of the right region reported by heartbeat, with its leader.
    const rightSplit = withChanges(right, { endKey: key('t'), version: 2 });
    const newRegion = region(900, 't', '', { confVer: 1, version: 2 }, [
      [901, 1],
      [902, 2],
    ]);
    await first.regionHeartbeat({ region: rightSplit, leader: rightSplit.peers[0] });
    await first.regionHeartbeat({ region: newRegion, leader: newRegion.peers[1] });
    // A merge-like range that swallows the left region: the left one must be deleted from storage.
    const wide = region(950, '', 'm', { confVer: 1, version: 3 }, [[951, 1]]);
    await first.regionHeartbeat({ region: wide, leader: wide.peers[0] });
    expect(await first.updateGcSafePoint(1234n)).toBe(1234n);
    await first.putClusterConfig(Cluster.fromPartial({ id: 0, maxPeerCount: 5 }));
    const clusterId = first.clusterId;
    const expectedRegions = first.scanRegions(key(''), key(''), 0).map((i) => i.region);
    expect(expectedRegions.map((r) => r.id)).toEqual([950, right.id, 900]);
    expect(expectedRegions.some((r) => r.id === left.id)).toBe(false);

    const second = await open({ initialStores: 1 });
    expect(second.clusterId).toBe(clusterId);
    expect(second.isBootstrapped).toBe(true);
    expect(second.getAllStores(false).map((s) => s.store)).toEqual([store(1), store(2)]);
    expect(second.scanRegions(key(''), key(''), 0).map((i) => i.region)).toEqual(expectedRegions);
    expect(second.getRegionById(900)?.leader).toBeUndefined();
    expect(second.getGcSafePoint()).toBe(1234n);
    expect(second.clusterConfig()).toEqual({ id: Number(clusterId), maxPeerCount: 5 });
    expect(await second.updateGcSafePoint(1000n)).toBe(1234n); // never goes back
  });

  it('never reuses an id or a timestamp after a restart, even if the clock went back', async () => {
    const clock = new ManualClock(10_000_000);
    const first = await open({ clock, initialStores: 0 });
    const ids = [await first.allocId(), await first.allocId()];
    const ts = composeTs(await first.allocTimestamp(5));
    clock.set(5_000_000);
    const second = await open({ clock, initialStores: 0 });
    const next = await second.allocId();
    expect(next).toBeGreaterThan(Math.max(...ids));
    expect(composeTs(await second.allocTimestamp(1)) > ts).toBe(true);
  });

  it('uses the documented key layout', async () => {
    const core = await open({ initialStores: 1 });
    await core.putStore(store(7));
    const raw = engine!;
    expect(raw.get('meta', KEY_CLUSTER_ID)!.readBigUInt64BE()).toBe(core.clusterId);
    expect(core.clusterId).toBeLessThanOrEqual(BigInt(Number.MAX_SAFE_INTEGER));
    expect(Cluster.decode(raw.get('meta', KEY_CLUSTER_META)!).id).toBe(Number(core.clusterId));
    const storeKey = Buffer.concat([PREFIX_STORE, Buffer.from([0, 0, 0, 0, 0, 0, 0, 7])]);
    expect(raw.get('meta', storeKey)).toBeDefined();
    const regionId = defined(core.scanRegions(key(''), key(''), 0)[0], 'first region').region.id;
    const regionKey = Buffer.alloc(8);
    regionKey.writeBigUInt64BE(BigInt(regionId));
    expect(raw.get('meta', Buffer.concat([PREFIX_REGION, regionKey]))).toBeDefined();
    expect(Number(raw.get('meta', KEY_ID_BOUND)!.readBigUInt64BE())).toBeGreaterThanOrEqual(regionId);
  });
});
