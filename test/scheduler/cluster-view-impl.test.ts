// CoreScheduleCluster over a real ClusterState: the per-store leader/follower/pending region sets
// follow heartbeats that move peers and leaders, split and drop regions; store health from the
// clock and store heartbeats.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/env/clock.js';
import { StoreState } from '../../src/proto/metapb.js';
import { StoreStats } from '../../src/proto/schedulerpb.js';
import { ClusterState, type RegionInfo } from '../../src/scheduler/cluster-state.js';
import type { RegionRole } from '../../src/scheduler/schedule/cluster-view.js';
import { CoreScheduleCluster } from '../../src/scheduler/schedule/cluster-view-impl.js';
import { DEFAULT_SCHEDULE_CONFIG, type ScheduleConfig } from '../../src/scheduler/schedule/schedule-config.js';
import { peer, region, store } from './helpers.js';

const ROLES: readonly RegionRole[] = ['leader', 'follower', 'pending'];
const STORES = [1, 2, 3, 4, 5];
/** Draws per enumeration; covers every slot of a set of up to this many regions. */
const DRAWS = 64;

function setup(config: Partial<ScheduleConfig> = {}): { clock: ManualClock; state: ClusterState; view: CoreScheduleCluster } {
  const clock = new ManualClock(1_000_000);
  const state = new ClusterState(clock);
  for (const id of STORES) state.putStore(store(id));
  let nextId = 500;
  const view = new CoreScheduleCluster({
    state,
    config: () => ({ ...DEFAULT_SCHEDULE_CONFIG, ...config }),
    allocId: () => Promise.resolve(nextId++),
    clock,
    random: Math.random,
  });
  return { clock, state, view };
}

/** Every region id randomRegionOf can return for (store, role): draws k/DRAWS for every k. */
function reachable(state: ClusterState, storeId: number, role: RegionRole): number[] {
  const ids = new Set<number>();
  for (let k = 0; k < DRAWS; k++) {
    const info = state.randomRegionOf(storeId, role, () => k / DRAWS);
    if (info) ids.add(info.region.id);
  }
  return [...ids].sort((a, b) => a - b);
}

/** The same sets by a scan of every region. */
function scanned(state: ClusterState, storeId: number, role: RegionRole): number[] {
  const has = (info: RegionInfo): boolean => {
    if (role === 'pending') return info.pendingPeers.some((p) => p.storeId === storeId);
    const mine = info.region.peers.find((p) => p.storeId === storeId);
    if (!mine) return false;
    return role === 'leader' ? info.leader?.id === mine.id : info.leader?.id !== mine.id;
  };
  return state
    .allRegions()
    .filter(has)
    .map((i) => i.region.id)
    .sort((a, b) => a - b);
}

function expectSetsMatch(state: ClusterState): void {
  for (const storeId of STORES)
    for (const role of ROLES) expect(reachable(state, storeId, role), `store ${storeId} ${role}`).toEqual(scanned(state, storeId, role));
}

describe('CoreScheduleCluster region sets', () => {
  it('follow peer moves, leader changes, pending peers and splits', () => {
    const { state, view } = setup();
    const r1 = region(1, '', 'm', { confVer: 1, version: 1 }, [
      [11, 1],
      [12, 2],
      [13, 3],
    ]);
    state.processRegionHeartbeat(r1, peer(11, 1), { pendingPeers: [peer(13, 3)] });
    expect(view.randomRegionOf(1, 'leader')?.region.id).toBe(1);
    expect(view.randomRegionOf(3, 'pending')?.region.id).toBe(1);
    expect(view.randomRegionOf(3, 'follower')?.region.id).toBe(1);
    expectSetsMatch(state);

    // Peer on 3 replaced by one on 4, leader moved to 2, pending cleared.
    const moved = region(1, '', 'm', { confVer: 3, version: 1 }, [
      [11, 1],
      [12, 2],
      [14, 4],
    ]);
    state.processRegionHeartbeat(moved, peer(12, 2));
    expect(view.randomRegionOf(3, 'follower')).toBeUndefined();
    expect(view.randomRegionOf(3, 'pending')).toBeUndefined();
    expect(view.randomRegionOf(1, 'leader')).toBeUndefined();
    expect(view.randomRegionOf(2, 'leader')?.region.id).toBe(1);
    expect(view.randomRegionOf(4, 'follower')?.region.id).toBe(1);
    expectSetsMatch(state);

    // Split: region 2 takes [a, m) first and overlaps region 1 (dropped until it reports [, a)).
    const child = region(2, 'a', 'm', { confVer: 3, version: 2 }, [
      [21, 1],
      [22, 2],
      [24, 4],
    ]);
    state.processRegionHeartbeat(child, peer(22, 2));
    expect(state.getRegionById(1)).toBeUndefined();
    expect(reachable(state, 2, 'leader')).toEqual([2]);
    expectSetsMatch(state);
    const parent = region(1, '', 'a', { confVer: 3, version: 2 }, [
      [11, 1],
      [12, 2],
      [14, 4],
    ]);
    state.processRegionHeartbeat(parent, peer(11, 1), { pendingPeers: [peer(14, 4)] });
    expect(reachable(state, 4, 'follower')).toEqual([1, 2]);
    expect(reachable(state, 4, 'pending')).toEqual([1]);
    expectSetsMatch(state);
  });

  it('regions loaded without a leader count as followers everywhere', () => {
    const { state } = setup();
    state.loadRegion(
      region(7, '', '', { confVer: 1, version: 1 }, [
        [71, 1],
        [72, 2],
      ]),
    );
    expect(reachable(state, 1, 'follower')).toEqual([7]);
    expect(reachable(state, 1, 'leader')).toEqual([]);
    expectSetsMatch(state);
  });

  it('stay equal to a scan of every region over random heartbeat sequences (property)', () => {
    const keys = ['', 'b', 'd', 'f', 'h', 'j', ''];
    const beat = fc.record({
      slot: fc.integer({ min: 0, max: 5 }),
      stores: fc.shuffledSubarray(STORES, { minLength: 1, maxLength: 4 }),
      leaderIndex: fc.nat(),
      pendingMask: fc.nat({ max: 15 }),
    });
    fc.assert(
      fc.property(fc.array(beat, { maxLength: 60 }), (beats) => {
        const { state } = setup();
        const confVers = new Map<number, number>();
        for (const b of beats) {
          const id = b.slot + 1;
          const confVer = (confVers.get(id) ?? 0) + 1;
          confVers.set(id, confVer);
          const peers = b.stores.map((s): [number, number] => [id * 100 + s, s]);
          const r = region(id, keys[b.slot] ?? '', keys[b.slot + 1] ?? '', { confVer, version: 1 }, peers);
          const leader = r.peers[b.leaderIndex % r.peers.length];
          const pendingPeers = r.peers.filter((p, i) => p.id !== leader?.id && (b.pendingMask & (1 << i)) !== 0);
          state.processRegionHeartbeat(r, leader, { pendingPeers });
        }
        expectSetsMatch(state);
      }),
      { numRuns: 100, seed: 12 },
    );
  });
});

describe('CoreScheduleCluster store health', () => {
  it('a store silent for max-store-down-time is down, timed from the scheduler start before its first heartbeat', () => {
    const { clock, state, view } = setup({ maxStoreDownTimeMs: 60_000 });
    const s1 = (): ReturnType<typeof state.getStore> & object => state.getStore(1) ?? expect.unreachable();
    expect(view.isStoreUp(s1())).toBe(true);
    clock.advance(59_999);
    expect(view.isStoreDown(s1())).toBe(false);
    clock.advance(1);
    expect(view.isStoreDown(s1())).toBe(true);
    expect(view.isStoreUp(s1())).toBe(false);
    state.storeHeartbeat(1, StoreStats.fromPartial({ storeId: 1n }));
    expect(view.isStoreUp(s1())).toBe(true);
    clock.advance(60_000);
    expect(view.isStoreDown(s1())).toBe(true);
  });

  it('a store that joins later counts its silence from when it registered, not from the scheduler start', () => {
    const { clock, state, view } = setup({ maxStoreDownTimeMs: 60_000 });
    clock.advance(120_000); // the stores there from the start are Down by now
    state.putStore(store(9));
    state.loadStore(store(10)); // as loaded from storage at a restart: silent since the start
    const info = (id: number): ReturnType<typeof state.getStore> & object => state.getStore(id) ?? expect.unreachable();
    expect(view.isStoreDown(info(1))).toBe(true);
    expect(view.isStoreDown(info(10))).toBe(true);
    expect(view.isStoreUp(info(9))).toBe(true);
    clock.advance(59_999);
    expect(view.isStoreDown(info(9))).toBe(false);
    clock.advance(1);
    expect(view.isStoreDown(info(9))).toBe(true);
  });

  it('an Offline store is neither up nor down; tombstones are not listed', () => {
    const { state, view } = setup();
    state.loadStore({ ...store(2), state: StoreState.Offline });
    state.loadStore({ ...store(3), state: StoreState.Tombstone });
    const s2 = state.getStore(2) ?? expect.unreachable();
    expect(view.isStoreUp(s2)).toBe(false);
    expect(view.isStoreDown(s2)).toBe(false);
    expect(view.stores().map((s) => s.store.id)).toEqual([1, 2, 4, 5]);
    expect(view.getStore(3)?.store.state).toBe(StoreState.Tombstone);
  });

  it('busy is what the last store heartbeat said', () => {
    const { state, view } = setup();
    const s1 = (): ReturnType<typeof state.getStore> & object => state.getStore(1) ?? expect.unreachable();
    expect(view.isStoreBusy(s1())).toBe(false);
    state.storeHeartbeat(1, StoreStats.fromPartial({ storeId: 1n, isBusy: true }));
    expect(view.isStoreBusy(s1())).toBe(true);
    state.storeHeartbeat(1, StoreStats.fromPartial({ storeId: 1n, isBusy: false }));
    expect(view.isStoreBusy(s1())).toBe(false);
  });

  it('allocPeer takes a fresh id for the store', async () => {
    const { view } = setup();
    expect(await view.allocPeer(3)).toEqual(peer(500, 3));
    expect(await view.allocPeer(4)).toEqual(peer(501, 4));
  });
});
