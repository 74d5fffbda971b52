import { describe, expect, it } from 'vitest';
import type { RegionInfo } from '../../src/scheduler/cluster-state.js';
import { PREPARE_MAX_WAIT_MS, PrepareChecker } from '../../src/scheduler/schedule/prepare-checker.js';
import { peer, region } from './helpers.js';

/** Region `id` with peers on `stores` (peer id = id * 10 + store); reported when it has a leader. */
function info(id: number, stores: number[], reported: boolean): RegionInfo {
  const first = stores[0] ?? 1;
  return {
    region: region(
      id,
      `k${id}`,
      `k${id}~`,
      { confVer: 1, version: 1 },
      stores.map((s) => [id * 10 + s, s]),
    ),
    leader: reported ? peer(id * 10 + first, first) : undefined,
    pendingPeers: [],
    downPeers: [],
    approximateSizeBytes: 0,
    approximateKeys: 0,
  };
}

describe('PrepareChecker', () => {
  it('prepares a fresh cluster at once', () => {
    const checker = new PrepareChecker({ startMs: 0, loadedRegionCount: 0 });
    expect(checker.prepared).toBe(true);
    expect(checker.check(0, [info(1, [1], false)])).toBe(true);
  });

  it('waits until 80% of the regions reported since start', () => {
    const checker = new PrepareChecker({ startMs: 1_000, loadedRegionCount: 10 });
    const regions = Array.from({ length: 10 }, (_, i) => info(i + 1, [1, 2, 3], i < 7));
    expect(checker.check(2_000, regions)).toBe(false);
    regions[7] = info(8, [1, 2, 3], true);
    expect(checker.check(3_000, regions)).toBe(true);
    // Sticky: a region tree that later looks unreported does not unprepare it.
    expect(
      checker.check(
        4_000,
        regions.map((r) => info(r.region.id, [1, 2, 3], false)),
      ),
    ).toBe(true);
  });

  it('also needs 80% of every store', () => {
    const checker = new PrepareChecker({ startMs: 0, loadedRegionCount: 10 });
    // Nine of ten regions live on stores 1-3 and reported; store 4's only two regions did not.
    const regions = [...Array.from({ length: 8 }, (_, i) => info(i + 1, [1, 2, 3], true)), info(9, [4, 1, 2], false), info(10, [4, 2, 3], true)];
    // 9/10 overall but store 4 has 1/2 reported (its leader on store 4 reported region 10 only).
    expect(checker.check(1, regions)).toBe(false);
    regions[8] = info(9, [4, 1, 2], true);
    expect(checker.check(2, regions)).toBe(true);
  });

  it('gives up waiting after 5 minutes', () => {
    const checker = new PrepareChecker({ startMs: 10_000, loadedRegionCount: 3 });
    const regions = [info(1, [1], false), info(2, [1], false), info(3, [1], false)];
    expect(checker.check(10_000 + PREPARE_MAX_WAIT_MS - 1, regions)).toBe(false);
    expect(checker.check(10_000 + PREPARE_MAX_WAIT_MS, regions)).toBe(true);
  });
});
