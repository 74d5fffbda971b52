// Store lifecycle on real, threaded stores (in-process harness, gRPC on loopback, LMDB): store
// heartbeats carry real stats; a store the scheduler made a tombstone stops (fail-stop) with a
// line that says to wipe its data dir, refuses to start again on that dir, and a wiped one at the
// same address joins as a new store.
import { afterEach, describe, expect, it } from 'vitest';
import { StoreState } from '../../src/proto/metapb.js';
import type { StoreInfo } from '../../src/scheduler/cluster-state.js';
import { defined } from '../../src/util/assert.js';
import { tempDir } from '../helpers/tmp.js';
import { InProcessCluster, waitUntil } from './harness.js';

let cluster: InProcessCluster | undefined;
const extraDirs: Array<ReturnType<typeof tempDir>> = [];

afterEach(async () => {
  await cluster?.close();
  cluster = undefined;
  for (const dir of extraDirs.splice(0)) dir.cleanup();
});

function storeInfo(c: InProcessCluster, storeId: number): StoreInfo {
  return c.scheduler.core.getStore(storeId);
}

describe('store heartbeats', () => {
  it('report disk capacity, free and used bytes, regions hosted, start time and interval', async () => {
    const c = (cluster = await InProcessCluster.start({ storeHeartbeatIntervalMs: 100 }, {}, { initialRegions: 3 }));
    const startedSec = Math.floor(Date.now() / 1000);
    await waitUntil(() => c.all().every((n) => n.store.regions().length === 3 && storeInfo(c, n.storeId).stats?.regionCount === 3), 20_000);
    for (const node of c.all()) {
      const stats = defined(storeInfo(c, node.storeId).stats, 'stats');
      expect(Number(stats.storeId)).toBe(node.storeId);
      expect(stats.capacity).toBeGreaterThanOrEqual(stats.available);
      expect(stats.available).toBeGreaterThan(0n);
      expect(stats.usedSize).toBeGreaterThan(0n);
      expect(stats.usedSize).toBeLessThan(stats.capacity);
      expect(stats.regionCount).toBe(node.store.regions().length);
      expect(stats.startTime).toBeGreaterThan(startedSec - 120);
      expect(stats.startTime).toBeLessThanOrEqual(startedSec + 1);
      const interval = defined(stats.interval, 'interval');
      expect(interval.endTimestamp).toBeGreaterThanOrEqual(interval.startTimestamp);
      expect(interval.startTimestamp).toBeGreaterThanOrEqual(BigInt(stats.startTime));
      expect(stats.isBusy).toBe(false);
    }
  });
});

describe('a tombstoned store', () => {
  it('stops with a fatal line naming it, cannot start on its data dir, and a wiped one rejoins as a new store', async () => {
    const c = (cluster = await InProcessCluster.start({ storeHeartbeatIntervalMs: 100 }, {}, {}, { expectFatal: true }));
    const core = c.scheduler.core;
    const dir = tempDir();
    extraDirs.push(dir);
    // A fourth store: it joins after bootstrap, so no region has a peer on it.
    const extra = await c.startStore(dir.path);
    const oldId = extra.storeId;
    const addr = extra.addr;
    await waitUntil(() => storeInfo(c, oldId).stats !== undefined, 10_000);
    expect(storeInfo(c, oldId).regionCount).toBe(0);

    await core.deleteStore(oldId);
    await core.tombstoneStore(oldId);
    expect(storeInfo(c, oldId).store.state).toBe(StoreState.Tombstone);
    await waitUntil(() => c.fatalErrors.length > 0, 10_000);
    const [stopped] = c.fatalErrors;
    expect(stopped?.dataDir).toBe(dir.path);
    expect(stopped?.reason).toContain(`store ${oldId} was removed from the cluster`);
    expect(stopped?.reason).toContain(`wipe the data dir ${dir.path}`);
    await c.stopStore(extra);

    // Its data dir still names the old id: the start is refused, the same way.
    await expect(c.startStore(dir.path, { addr })).rejects.toThrow(/tombstone/i);
    expect(c.fatalErrors).toHaveLength(2);
    expect(c.fatalErrors[1]?.reason).toContain(`store ${oldId} was removed`);

    // Wiped: a new store id at the same address.
    const wiped = tempDir();
    extraDirs.push(wiped);
    const rejoined = await c.startStore(wiped.path, { addr });
    expect(rejoined.addr).toBe(addr);
    expect(rejoined.storeId).not.toBe(oldId);
    expect(storeInfo(c, rejoined.storeId).store).toMatchObject({ address: addr, state: StoreState.Up });
    expect(storeInfo(c, oldId).store.state).toBe(StoreState.Tombstone);
    await waitUntil(() => storeInfo(c, rejoined.storeId).stats !== undefined, 10_000);
    expect(c.fatalErrors).toHaveLength(2);
  });
});
