import { describe, expect, it } from 'vitest';
import { MemoryEngine } from '../../src/engine/memory-engine.js';
import { ManualClock } from '../../src/env/clock.js';
import { StoreState, type Region } from '../../src/proto/metapb.js';
import { evenSplitKeys, initialIdCount, planInitialRegions, resolveSplitKeys, MAX_INITIAL_REGIONS } from '../../src/scheduler/bootstrap.js';
import { SchedulerCore } from '../../src/scheduler/core.js';
import { SchedulerError, SchedulerErrorCode } from '../../src/scheduler/errors.js';
import { key, store } from './helpers.js';
import { defined } from '../../src/util/assert.js';

/** The regions cover the key space exactly: first starts at "", each ends where the next starts, last ends at "". */
function expectFullCoverage(regions: readonly Region[]): void {
  expect(defined(regions[0], 'regions[0]').startKey.length).toBe(0);
  expect(regions.at(-1)!.endKey.length).toBe(0);
  for (let i = 1; i < regions.length; i++)
    expect(defined(regions[i], 'regions[i]').startKey).toEqual(defined(regions[i - 1], 'regions[i - 1]').endKey);
}

async function rejectionCode(promise: Promise<unknown>): Promise<string | undefined> {
  try {
    await promise;
    return undefined;
  } catch (err) {
    return err instanceof SchedulerError ? err.code : String(err);
  }
}

describe('initial split keys', () => {
  it('spreads two-byte boundaries evenly over the byte range', () => {
    expect(evenSplitKeys(1)).toEqual([]);
    expect(evenSplitKeys(2)).toEqual([Buffer.from([0x80])]);
    expect(evenSplitKeys(4)).toEqual([Buffer.from([0x40]), Buffer.from([0x80]), Buffer.from([0xc0])]);
    expect(evenSplitKeys(3)).toEqual([Buffer.from([0x55, 0x55]), Buffer.from([0xaa, 0xaa])]);
    const many = evenSplitKeys(MAX_INITIAL_REGIONS);
    expect(many).toHaveLength(MAX_INITIAL_REGIONS - 1);
    expect(many.every((k, i) => i === 0 || Buffer.compare(defined(many[i - 1], 'many[i - 1]'), k) < 0)).toBe(true);
  });

  it('takes explicit split keys and validates them', () => {
    expect(resolveSplitKeys({ splitKeys: [key('b'), key('c')] })).toEqual([key('b'), key('c')]);
    expect(resolveSplitKeys({ initialRegions: 3, splitKeys: [key('b'), key('c')] })).toHaveLength(2);
    expect(() => resolveSplitKeys({ initialRegions: 2, splitKeys: [key('b'), key('c')] })).toThrow(/make 3 regions/);
    expect(() => resolveSplitKeys({ splitKeys: [key('c'), key('b')] })).toThrow(/ascending/);
    expect(() => resolveSplitKeys({ splitKeys: [key('b'), key('b')] })).toThrow(/ascending/);
    expect(() => resolveSplitKeys({ splitKeys: [key('')] })).toThrow(/empty/);
    expect(() => resolveSplitKeys({ initialRegions: 0 })).toThrow(/initial regions/);
    expect(() => resolveSplitKeys({ initialRegions: MAX_INITIAL_REGIONS + 1 })).toThrow(/initial regions/);
  });

  it('plans K regions covering everything with one peer per store', () => {
    const ids = Array.from({ length: initialIdCount(3, 4) }, (_, i) => 100 + i);
    const regions = planInitialRegions([7, 8, 9], evenSplitKeys(4), ids);
    expect(regions).toHaveLength(4);
    expectFullCoverage(regions);
    for (const r of regions) {
      expect(r.regionEpoch).toEqual({ confVer: 1, version: 1 });
      expect(r.peers.map((p) => p.storeId)).toEqual([7, 8, 9]);
    }
    const allIds = regions.flatMap((r) => [r.id, ...r.peers.map((p) => p.id)]);
    expect(new Set(allIds).size).toBe(16);
  });
});

describe('scheduler-driven bootstrap', () => {
  it('creates K regions once N stores have registered, with N peers each', async () => {
    const core = await SchedulerCore.open(new MemoryEngine(), { initialStores: 3, initialRegions: 4, clock: new ManualClock(1) });
    await core.putStore(store(11));
    await core.putStore(store(12, 'x:2', StoreState.Offline)); // not Up: does not count
    await core.putStore(store(13));
    expect(core.isBootstrapped).toBe(false);
    expect(await rejectionCode(Promise.resolve().then(() => core.getRegion(key('a'))))).toBe(SchedulerErrorCode.NotBootstrapped);
    await core.putStore(store(14));
    expect(core.isBootstrapped).toBe(true);
    const regions = core.scanRegions(key(''), key(''), 0).map((i) => i.region);
    expect(regions).toHaveLength(4);
    expectFullCoverage(regions);
    for (const r of regions) expect(r.peers.map((p) => p.storeId)).toEqual([11, 13, 14]);
    for (const info of core.scanRegions(key(''), key(''), 0)) expect(info.leader).toBeUndefined();
    expect(core.clusterConfig()).toEqual({ id: Number(core.clusterId), maxPeerCount: 3 });
    // Ids came from the allocator: the next one is above all of them.
    const next = await core.allocId();
    expect(regions.every((r) => r.id < next && r.peers.every((p) => p.id < next))).toBe(true);
  });

  it('is idempotent: later stores and a Bootstrap RPC change nothing', async () => {
    const core = await SchedulerCore.open(new MemoryEngine(), { initialStores: 1, splitKeys: [key('m')] });
    await core.putStore(store(1));
    const before = core.scanRegions(key(''), key(''), 0).map((i) => i.region);
    expect(before).toHaveLength(2);
    await core.putStore(store(2));
    expect(await rejectionCode(core.bootstrap(store(3)))).toBe(SchedulerErrorCode.AlreadyBootstrapped);
    expect(core.scanRegions(key(''), key(''), 0).map((i) => i.region)).toEqual(before);
    expect(core.getAllStores(false).map((s) => s.store.id)).toEqual([1, 2]);
  });

  it('concurrent registrations bootstrap exactly once', async () => {
    const core = await SchedulerCore.open(new MemoryEngine(), { initialStores: 2, initialRegions: 3 });
    await Promise.all([1, 2, 3, 4].map((id) => core.putStore(store(id))));
    const regions = core.scanRegions(key(''), key(''), 0).map((i) => i.region);
    expect(regions).toHaveLength(3);
    expect(new Set(regions.map((r) => r.peers.map((p) => p.storeId).join()))).toEqual(new Set(['1,2']));
  });

  it('TinyKV-style Bootstrap: store only, no region; repeat is ALREADY_BOOTSTRAPPED', async () => {
    const core = await SchedulerCore.open(new MemoryEngine(), { initialStores: 0 });
    await core.putStore(store(1));
    expect(core.isBootstrapped).toBe(false);
    await core.bootstrap(store(2));
    expect(core.isBootstrapped).toBe(true);
    expect(core.state.regionCount).toBe(0);
    expect(core.getStore(2).store.address).toBe(store(2).address);
    expect(await rejectionCode(core.bootstrap(store(2)))).toBe(SchedulerErrorCode.AlreadyBootstrapped);
  });

  it('Bootstrap with a store whose address is taken is refused and leaves the cluster unbootstrapped', async () => {
    const core = await SchedulerCore.open(new MemoryEngine(), { initialStores: 0 });
    await core.putStore(store(1, 'a:1'));
    expect(await rejectionCode(core.bootstrap(store(2, 'a:1')))).toBe(SchedulerErrorCode.DuplicateStoreAddress);
    expect(core.isBootstrapped).toBe(false);
  });

  it('finishes a bootstrap on restart when enough stores had registered', async () => {
    const engine = new MemoryEngine();
    const first = await SchedulerCore.open(engine, { initialStores: 3 });
    await first.putStore(store(1));
    await first.putStore(store(2));
    expect(first.isBootstrapped).toBe(false);
    // Restarted with a smaller N: the two registered stores are enough now.
    const second = await SchedulerCore.open(engine, { initialStores: 2 });
    expect(second.isBootstrapped).toBe(true);
    expect(defined(second.scanRegions(key(''), key(''), 0)[0], 'first region').region.peers.map((p) => p.storeId)).toEqual([1, 2]);
  });
});
