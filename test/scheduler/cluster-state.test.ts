import { beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/env/clock.js';
import { StoreState, type Region } from '../../src/proto/metapb.js';
import { StoreStats } from '../../src/proto/schedulerpb.js';
import { ClusterState, SCAN_REGIONS_MAX } from '../../src/scheduler/cluster-state.js';
import { SchedulerError, SchedulerErrorCode } from '../../src/scheduler/errors.js';
import { key, peer, region, store, withChanges } from './helpers.js';
import { defined } from '../../src/util/assert.js';

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
    return undefined;
  } catch (err) {
    return err instanceof SchedulerError ? err.code : `not a SchedulerError: ${String(err)}`;
  }
}

/** TinyKV's 3C fixture: 3 stores, regions i = [i, i+1) with epoch {2, 2}, 3 peers on stores, leader = peers[0]. */
function fixture(): { state: ClusterState; regions: Region[] } {
  const state = new ClusterState(new ManualClock(1_000));
  for (let s = 1; s <= 3; s++) state.putStore(store(s));
  const regions: Region[] = [];
  for (let i = 0; i < 3; i++) {
    const peers: Array<[number, number]> = [0, 1, 2].map((j) => [100 + i * 3 + j, ((i + j) % 3) + 1]);
    regions.push(region(i + 1, String.fromCharCode(0x10 + i), String.fromCharCode(0x11 + i), { confVer: 2, version: 2 }, peers));
  }
  for (const r of regions) state.processRegionHeartbeat(r, r.peers[0]);
  return { state, regions };
}

function metas(state: ClusterState): Region[] {
  return state.allRegions().map((i) => i.region);
}

describe('ClusterState region heartbeats (TinyKV 3C scenarios)', () => {
  let state: ClusterState;
  let regions: Region[];
  beforeEach(() => ({ state, regions } = fixture()));

  it('records every region, its leader, and per-store counts', () => {
    expect(metas(state)).toEqual(regions);
    for (const r of regions) expect(state.getRegionById(r.id)?.leader).toEqual(r.peers[0]);
    for (let s = 1; s <= 3; s++) {
      const info = state.getStore(s)!;
      expect(info.regionCount).toBe(3);
      expect(info.leaderCount).toBe(1);
    }
  });

  it('a repeated identical heartbeat changes nothing', () => {
    const result = state.processRegionHeartbeat(defined(regions[0], 'regions[0]'), defined(regions[0], 'regions[0]').peers[0]);
    expect(result.metaChanged).toBe(false);
    expect(result.leaderChanged).toBe(false);
    expect(metas(state)).toEqual(regions);
  });

  it('accepts a version bump, then rejects the old version even with a higher conf_ver', () => {
    const bumped = withChanges(defined(regions[0], 'regions[0]'), { version: 3 });
    expect(state.processRegionHeartbeat(bumped, bumped.peers[0]).metaChanged).toBe(true);
    const staleVersion = withChanges(defined(regions[0], 'regions[0]'), { confVer: 3 });
    expect(codeOf(() => state.processRegionHeartbeat(staleVersion, staleVersion.peers[0]))).toBe(SchedulerErrorCode.StaleRegion);
    expect(state.getRegionById(1)?.region).toEqual(bumped);
  });

  it('accepts version and conf_ver bumped together', () => {
    const bumped = withChanges(defined(regions[1], 'regions[1]'), { version: 3, confVer: 3 });
    state.processRegionHeartbeat(bumped, bumped.peers[0]);
    expect(state.getRegionById(2)?.region.regionEpoch).toEqual({ confVer: 3, version: 3 });
  });

  it('rejects a lower conf_ver after a conf change', () => {
    const bumped = withChanges(defined(regions[2], 'regions[2]'), { confVer: 3 });
    state.processRegionHeartbeat(bumped, bumped.peers[0]);
    expect(codeOf(() => state.processRegionHeartbeat(defined(regions[2], 'regions[2]'), defined(regions[2], 'regions[2]').peers[0]))).toBe(
      SchedulerErrorCode.StaleRegion,
    );
    expect(state.getRegionById(3)?.region.regionEpoch?.confVer).toBe(3);
  });

  it('records a peer list shrunk with the same epoch, and peers added back', () => {
    const shrunk = withChanges(defined(regions[0], 'regions[0]'), {
      peers: [defined(defined(regions[0], 'regions[0]').peers[0], 'regions[0].peers[0]')],
    });
    expect(state.processRegionHeartbeat(shrunk, shrunk.peers[0]).metaChanged).toBe(true);
    expect(state.getRegionById(1)?.region.peers).toHaveLength(1);
    const onlyStore = defined(shrunk.peers[0], 'shrunk.peers[0]').storeId;
    for (let s = 1; s <= 3; s++) expect(state.getStore(s)!.regionCount).toBe(s === onlyStore ? 3 : 2);
    state.processRegionHeartbeat(defined(regions[0], 'regions[0]'), defined(regions[0], 'regions[0]').peers[0]);
    expect(state.getRegionById(1)?.region.peers).toHaveLength(3);
    for (let s = 1; s <= 3; s++) expect(state.getStore(s)!.regionCount).toBe(3);
  });

  it('records a leader change with the same epoch and updates leader counts', () => {
    const r = defined(regions[0], 'regions[0]');
    const result = state.processRegionHeartbeat(r, r.peers[1]);
    expect(result).toMatchObject({ metaChanged: false, leaderChanged: true });
    expect(state.getRegionById(1)?.leader).toEqual(r.peers[1]);
    expect(state.getStore(defined(r.peers[0], 'r.peers[0]').storeId)!.leaderCount).toBe(0);
    expect(state.getStore(defined(r.peers[1], 'r.peers[1]').storeId)!.leaderCount).toBe(2);
  });

  it('stores pending peers and approximate size, and clears pending peers', () => {
    const r = defined(regions[0], 'regions[0]');
    // TinyKV's 144 is in MiB, as PD counts sizes.
    const sizeBytes = 144 * 1024 * 1024;
    state.processRegionHeartbeat(r, r.peers[0], { pendingPeers: [defined(r.peers[2], 'r.peers[2]')], approximateSizeBytes: sizeBytes });
    expect(state.getRegionById(1)).toMatchObject({ pendingPeers: [r.peers[2]], approximateSizeBytes: sizeBytes });
    expect(state.getStore(defined(r.peers[2], 'r.peers[2]').storeId)!.pendingPeerCount).toBe(1);
    expect(state.getStore(defined(r.peers[0], 'r.peers[0]').storeId)!.leaderSizeBytes).toBe(sizeBytes);
    state.processRegionHeartbeat(r, r.peers[0], { pendingPeers: [] });
    for (let s = 1; s <= 3; s++) expect(state.getStore(s)!.pendingPeerCount).toBe(0);
  });

  it('stores down peers and approximate keys; a heartbeat without sizes keeps the last ones', () => {
    const r = defined(regions[0], 'regions[0]');
    const down = defined(r.peers[1], 'r.peers[1]');
    state.processRegionHeartbeat(r, r.peers[0], { downPeers: [{ peer: down, downSeconds: 601 }], approximateSizeBytes: 144, approximateKeys: 9 });
    expect(state.getRegionById(1)).toMatchObject({ downPeers: [{ peer: down, downSeconds: 601 }], approximateKeys: 9 });
    state.processRegionHeartbeat(r, r.peers[0]);
    expect(state.getRegionById(1)).toMatchObject({ downPeers: [], pendingPeers: [], approximateSizeBytes: 144, approximateKeys: 9 });
  });

  it('rejects malformed heartbeats without changing state', () => {
    const r = defined(regions[0], 'regions[0]');
    expect(codeOf(() => state.processRegionHeartbeat(withChanges(r, { peers: [] }), undefined))).toBe(SchedulerErrorCode.InvalidArgument);
    expect(codeOf(() => state.processRegionHeartbeat(withChanges(r, { id: 0 }), undefined))).toBe(SchedulerErrorCode.InvalidArgument);
    expect(codeOf(() => state.processRegionHeartbeat(r, peer(999, 1)))).toBe(SchedulerErrorCode.InvalidArgument);
    const inverted = withChanges(r, { startKey: key('z'), endKey: key('a') });
    expect(codeOf(() => state.processRegionHeartbeat(inverted, undefined))).toBe(SchedulerErrorCode.InvalidArgument);
    expect(metas(state)).toEqual(regions);
  });
});

describe('ClusterState splits and overlaps', () => {
  const peersOf = (base: number): Array<[number, number]> => [[base, 1]];

  it('accepts the two halves of a split in either order (TestHeartbeatSplit3C)', () => {
    const state = new ClusterState(new ManualClock(0));
    const r1 = region(1, '', '', { confVer: 1, version: 1 }, peersOf(11));
    state.processRegionHeartbeat(r1, undefined);
    expect(state.getRegion(key('foo'))?.region.id).toBe(1);

    // Split 1 into 2 = [, m) and 1 = [m, ); region 2 reports first with an equal version.
    const r2 = region(2, '', 'm', { confVer: 1, version: 1 }, peersOf(21));
    const r1b = withChanges(r1, { startKey: key('m'), version: 2 });
    const result = state.processRegionHeartbeat(r2, undefined);
    expect(result.removed.map((i) => i.region.id)).toEqual([1]);
    expect(state.getRegion(key('a'))?.region.id).toBe(2);
    expect(state.getRegion(key('z'))).toBeUndefined(); // a gap until region 1 reports
    state.processRegionHeartbeat(r1b, undefined);
    expect(state.getRegion(key('z'))?.region).toEqual(r1b);

    // Split 1 into 3 = [m, q) and 1 = [q, ); the parent reports first.
    const r1c = withChanges(r1b, { startKey: key('q'), version: 3 });
    const r3 = region(3, 'm', 'q', { confVer: 1, version: 3 }, peersOf(31));
    state.processRegionHeartbeat(r1c, undefined);
    expect(state.getRegion(key('z'))?.region).toEqual(r1c);
    expect(state.getRegion(key('a'))?.region.id).toBe(2);
    expect(state.getRegion(key('n'))).toBeUndefined();
    state.processRegionHeartbeat(r3, undefined);
    expect(state.getRegion(key('n'))?.region).toEqual(r3);
    expect(state.allRegions().map((i) => i.region.id)).toEqual([2, 3, 1]);
  });

  it('rejects a heartbeat older than a region it overlaps', () => {
    const state = new ClusterState(new ManualClock(0));
    state.processRegionHeartbeat(region(1, '', 'm', { confVer: 1, version: 5 }, peersOf(11)), undefined);
    const stale = region(2, 'a', 'z', { confVer: 1, version: 4 }, peersOf(21));
    expect(codeOf(() => state.processRegionHeartbeat(stale, undefined))).toBe(SchedulerErrorCode.StaleRegion);
    const staleConf = region(2, 'a', 'z', { confVer: 0, version: 9 }, peersOf(21));
    expect(codeOf(() => state.processRegionHeartbeat(staleConf, undefined))).toBe(SchedulerErrorCode.StaleRegion);
    expect(state.regionCount).toBe(1);
  });

  it('replaces every region a merged range covers and updates store counts', () => {
    const state = new ClusterState(new ManualClock(0));
    state.putStore(store(1));
    state.putStore(store(2));
    // Merged regions' peers are co-located (a merge needs that), here on stores 1 and 2, leaders unknown.
    state.processRegionHeartbeat(
      region(1, '', 'c', { confVer: 1, version: 1 }, [
        [11, 1],
        [12, 2],
      ]),
      undefined,
    );
    state.processRegionHeartbeat(
      region(2, 'c', 'f', { confVer: 1, version: 1 }, [
        [21, 1],
        [22, 2],
      ]),
      undefined,
    );
    state.processRegionHeartbeat(
      region(3, 'f', 'k', { confVer: 1, version: 1 }, [
        [31, 1],
        [32, 2],
      ]),
      undefined,
    );
    state.processRegionHeartbeat(
      region(4, 'k', '', { confVer: 1, version: 1 }, [
        [41, 1],
        [42, 2],
      ]),
      undefined,
    );
    const merged = region(5, 'b', 'g', { confVer: 1, version: 2 }, [[51, 2]]);
    const result = state.processRegionHeartbeat(merged, peer(51, 2));
    expect(result.removed.map((i) => i.region.id).sort()).toEqual([1, 2, 3]);
    expect(state.allRegions().map((i) => i.region.id)).toEqual([5, 4]);
    expect(state.getRegion(key('a'))).toBeUndefined();
    expect(state.getRegion(key('f'))?.region.id).toBe(5);
    expect(state.getRegion(key('g'))).toBeUndefined();
    expect(state.getStore(1)!.regionCount).toBe(1);
    expect(state.getStore(2)).toMatchObject({ regionCount: 2, leaderCount: 1 });
  });

  it('answers lookups by key, previous region, id and range', () => {
    const state = new ClusterState(new ManualClock(0));
    const bounds = ['', 'd', 'h', 'p', ''];
    for (let i = 0; i < 4; i++)
      state.processRegionHeartbeat(
        region(i + 1, defined(bounds[i], 'bounds[i]'), defined(bounds[i + 1], 'bounds[i + 1]'), { confVer: 1, version: 1 }, [[10 + i, 1]]),
        undefined,
      );
    expect(state.getRegion(key(''))?.region.id).toBe(1);
    expect(state.getRegion(key('d'))?.region.id).toBe(2);
    expect(state.getRegion(key('gzzz'))?.region.id).toBe(2);
    expect(state.getRegion(Buffer.from([0xff, 0xff]))?.region.id).toBe(4);
    expect(state.getPrevRegion(key('a'))).toBeUndefined();
    expect(state.getPrevRegion(key('i'))?.region.id).toBe(2);
    expect(state.getRegionById(3)?.region.startKey).toEqual(key('h'));
    expect(state.getRegionById(99)).toBeUndefined();
    expect(state.scanRegions(key('e'), key(''), 0).map((i) => i.region.id)).toEqual([2, 3, 4]);
    expect(state.scanRegions(key('e'), key('p'), 0).map((i) => i.region.id)).toEqual([2, 3]);
    expect(state.scanRegions(key(''), key(''), 2).map((i) => i.region.id)).toEqual([1, 2]);
    expect(SCAN_REGIONS_MAX).toBeGreaterThan(1000);
  });

  it('getPrevRegion answers nothing across a gap', () => {
    const state = new ClusterState(new ManualClock(0));
    state.processRegionHeartbeat(region(1, 'a', 'c', { confVer: 1, version: 1 }, [[11, 1]]), undefined);
    state.processRegionHeartbeat(region(2, 'd', 'f', { confVer: 1, version: 1 }, [[21, 1]]), undefined);
    expect(state.getPrevRegion(key('e'))).toBeUndefined();
  });

  it('checks AskSplit requests against the region holding the start key', () => {
    const state = new ClusterState(new ManualClock(0));
    const r = region(1, 'a', 'm', { confVer: 2, version: 3 }, [[11, 1]]);
    state.processRegionHeartbeat(r, undefined);
    expect(state.checkRequestRegion(r).region.id).toBe(1);
    expect(codeOf(() => state.checkRequestRegion(withChanges(r, { version: 2 })))).toBe(SchedulerErrorCode.StaleRegion);
    expect(codeOf(() => state.checkRequestRegion(withChanges(r, { startKey: key('x'), endKey: key('') })))).toBe(SchedulerErrorCode.UnknownRegion);
  });
});

describe('ClusterState stores', () => {
  it('applies the PutStore rules', () => {
    const state = new ClusterState(new ManualClock(0));
    state.putStore(store(1, 'a:1'));
    expect(codeOf(() => state.putStore(store(2, 'a:1')))).toBe(SchedulerErrorCode.DuplicateStoreAddress);
    expect(codeOf(() => state.putStore(store(0, 'b:1')))).toBe(SchedulerErrorCode.InvalidArgument);
    // An update keeps the state, takes the new address.
    state.putStore(store(3, 'c:1', StoreState.Offline));
    state.putStore(store(3, 'c:2', StoreState.Up));
    expect(state.getStore(3)!.store).toMatchObject({ address: 'c:2', state: StoreState.Offline });
    // No store registers as a tombstone; one loaded from storage cannot come back, and its address is free again.
    expect(codeOf(() => state.putStore(store(4, 'd:1', StoreState.Tombstone)))).toBe(SchedulerErrorCode.StoreTombstone);
    state.loadStore(store(4, 'd:1', StoreState.Tombstone));
    expect(codeOf(() => state.putStore(store(4, 'd:2')))).toBe(SchedulerErrorCode.StoreTombstone);
    state.putStore(store(5, 'd:1'));
    expect(state.getStores().map((s) => s.store.id)).toEqual([1, 3, 4, 5]);
    expect(state.getStores({ excludeTombstones: true }).map((s) => s.store.id)).toEqual([1, 3, 5]);
  });

  it('records store heartbeats with the clock time', () => {
    const clock = new ManualClock(5_000);
    const state = new ClusterState(clock);
    state.putStore(store(1));
    clock.advance(250);
    state.storeHeartbeat(1, StoreStats.fromPartial({ storeId: 1n, regionCount: 7, capacity: 100n }));
    expect(state.getStore(1)).toMatchObject({ lastHeartbeatMs: 5_250, stats: { regionCount: 7, capacity: 100n } });
    expect(codeOf(() => state.storeHeartbeat(2, StoreStats.fromPartial({ storeId: 2n })))).toBe(SchedulerErrorCode.StoreNotFound);
    state.loadStore(store(3, 'x:3', StoreState.Tombstone)); // tombstones come from storage, never from PutStore
    expect(codeOf(() => state.storeHeartbeat(3, StoreStats.fromPartial({ storeId: 3n })))).toBe(SchedulerErrorCode.StoreTombstone);
  });
});
