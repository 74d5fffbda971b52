// Properties of every operator the schedulers and the replica checker propose, over random mock
// clusters: a peer is only added on a healthy store outside the region, only removed from a store
// inside it, and a leader only goes to a follower's store.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { RegionInfo } from '../../src/scheduler/cluster-state.js';
import { ReplicaChecker } from '../../src/scheduler/schedule/checkers/replica-checker.js';
import type { Operator } from '../../src/scheduler/schedule/operator.js';
import { KNOWN_SCHEDULERS, createScheduler } from '../../src/scheduler/schedule/schedulers/scheduler.js';
import { MockCluster } from './mock-cluster.js';

const STORE_IDS = [1, 2, 3, 4, 5, 6];

const clusterShape = fc.record({
  seed: fc.nat(),
  maxReplicas: fc.integer({ min: 1, max: 5 }),
  stores: fc.array(
    fc.record({ regions: fc.nat({ max: 40 }), leaders: fc.nat({ max: 40 }), health: fc.constantFrom('up', 'up', 'up', 'down', 'offline', 'busy') }),
    { minLength: STORE_IDS.length, maxLength: STORE_IDS.length },
  ),
  regions: fc.array(fc.record({ stores: fc.shuffledSubarray(STORE_IDS, { minLength: 1, maxLength: 5 }), pendingMask: fc.nat({ max: 31 }) }), {
    minLength: 1,
    maxLength: 8,
  }),
});

type Shape = typeof clusterShape extends fc.Arbitrary<infer T> ? T : never;

function build(shape: Shape): MockCluster {
  const tc = new MockCluster({ config: { maxReplicas: shape.maxReplicas }, seed: shape.seed });
  shape.stores.forEach((s, i) => {
    const id = STORE_IDS[i] ?? 0;
    tc.addRegionStore(id, s.regions);
    tc.updateLeaderCount(id, s.leaders);
    if (s.health === 'down') tc.setStoreDown(id);
    if (s.health === 'offline') tc.setStoreOffline(id);
    if (s.health === 'busy') tc.setStoreBusy(id, true);
  });
  shape.regions.forEach((r, i) => {
    const [leader, ...followers] = r.stores;
    tc.addLeaderRegion(i + 1, leader ?? 1, ...followers);
    tc.updatePendingPeers(i + 1, ...followers.filter((_, j) => (r.pendingMask & (1 << j)) !== 0));
  });
  return tc;
}

function checkOperator(tc: MockCluster, op: Operator, region: RegionInfo): void {
  const holders = new Set(region.region.peers.map((p) => p.storeId));
  for (const step of op.steps) {
    if (step.type === 'add-peer') {
      expect(holders.has(step.toStore), `${op.toString()} adds on a store holding the region`).toBe(false);
      const target = tc.getStore(step.toStore);
      expect(target && tc.isStoreUp(target) && !tc.isStoreBusy(target), `${op.toString()} adds on an unhealthy store`).toBe(true);
      holders.add(step.toStore);
    } else if (step.type === 'remove-peer') {
      expect(holders.has(step.fromStore), `${op.toString()} removes from a store without the region`).toBe(true);
      holders.delete(step.fromStore);
    } else if (step.type === 'transfer-leader') {
      expect(holders.has(step.toStore), `${op.toString()} moves the leader off the region`).toBe(true);
      expect(step.toStore).not.toBe(step.fromStore);
    }
  }
  expect(holders.size, `${op.toString()} leaves the region without peers`).toBeGreaterThan(0);
}

describe('scheduling properties', () => {
  it('balance schedulers only propose operators that fit the region', async () => {
    await fc.assert(
      fc.asyncProperty(clusterShape, async (shape) => {
        const tc = build(shape);
        for (const name of KNOWN_SCHEDULERS) {
          const op = await createScheduler(name).schedule(tc);
          if (!op) continue;
          const region = tc.getRegion(op.regionId);
          expect(region).toBeDefined();
          if (region) checkOperator(tc, op, region);
        }
      }),
      { numRuns: 300, seed: 7 },
    );
  });

  it('the replica checker only proposes operators that fit the region and move toward max-replicas', async () => {
    const rc = new ReplicaChecker();
    await fc.assert(
      fc.asyncProperty(clusterShape, async (shape) => {
        const tc = build(shape);
        for (let id = 1; id <= shape.regions.length; id++) {
          const region = tc.getRegion(id);
          if (!region) continue;
          const op = await rc.check(tc, region);
          if (!op) continue;
          checkOperator(tc, op, region);
          const adds = op.steps.filter((s) => s.type === 'add-peer').length;
          const removes = op.steps.filter((s) => s.type === 'remove-peer').length;
          const after = region.region.peers.length + adds - removes;
          const before = region.region.peers.length;
          expect(Math.abs(after - shape.maxReplicas) <= Math.abs(before - shape.maxReplicas), op.toString()).toBe(true);
        }
      }),
      { numRuns: 300, seed: 11 },
    );
  });
});
