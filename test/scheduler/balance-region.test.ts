// TinyKV 3C's balance-region tests (scheduler/server/schedulers/balance_test.go, reference §3.9) over
// the mock cluster, plus the scheduler's own limits and intervals.
import { describe, expect, it } from 'vitest';
import { OpKind } from '../../src/scheduler/schedule/operator.js';
import { BalanceRegionScheduler } from '../../src/scheduler/schedule/schedulers/balance-region.js';
import { KNOWN_SCHEDULERS, createScheduler } from '../../src/scheduler/schedule/schedulers/scheduler.js';
import { SchedulerErrorCode } from '../../src/scheduler/errors.js';
import { MockCluster } from './mock-cluster.js';
import { checkTransferPeer, checkTransferPeerWithLeaderTransfer } from './schedule-checks.js';

function setup(maxReplicas: number): { tc: MockCluster; sb: BalanceRegionScheduler } {
  return { tc: new MockCluster({ config: { maxReplicas } }), sb: new BalanceRegionScheduler() };
}

describe('balance-region (TinyKV 3C)', () => {
  it('TestReplicas13C: one replica moves off the largest store, taking the leader along', async () => {
    const { tc, sb } = setup(1);
    tc.addRegionStore(1, 6);
    tc.addRegionStore(2, 8);
    tc.addRegionStore(3, 8);
    tc.addRegionStore(4, 16);
    tc.addLeaderRegion(1, 4);
    checkTransferPeerWithLeaderTransfer(await sb.schedule(tc), OpKind.Balance, 4, 1);

    // An Offline store is no target: store 2 is now the smallest.
    tc.setStoreOffline(1);
    tc.addRegionStore(2, 6);
    checkTransferPeerWithLeaderTransfer(await sb.schedule(tc), OpKind.Balance, 4, 2);

    // A region with fewer peers than max-replicas is the replica checker's.
    tc.setConfig({ maxReplicas: 3 });
    expect(await sb.schedule(tc)).toBeUndefined();
    tc.setConfig({ maxReplicas: 1 });
    expect(await sb.schedule(tc)).toBeDefined();
  });

  it('TestReplicas33C: three replicas move to the smallest store outside the region, never to a down one', async () => {
    const { tc, sb } = setup(3);
    tc.addRegionStore(1, 16);
    tc.addRegionStore(2, 15);
    tc.addRegionStore(3, 14);
    tc.addLeaderRegion(1, 1, 2, 3);
    // Every store holds the region: nowhere to move it.
    expect(await sb.schedule(tc)).toBeUndefined();

    tc.addRegionStore(4, 2);
    checkTransferPeer(await sb.schedule(tc), OpKind.Balance, 1, 4);
    tc.addRegionStore(5, 1);
    checkTransferPeer(await sb.schedule(tc), OpKind.Balance, 1, 5);
    tc.addRegionStore(6, 0);
    checkTransferPeer(await sb.schedule(tc), OpKind.Balance, 1, 6);
    tc.setStoreDown(6);
    checkTransferPeer(await sb.schedule(tc), OpKind.Balance, 1, 5);

    tc.setStoreDown(4);
    tc.setStoreDown(5);
    tc.setStoreDown(6);
    // Store 7 is larger than the source: moving there is not worth it.
    tc.addRegionStore(7, 20);
    expect(await sb.schedule(tc)).toBeUndefined();
  });

  it('TestReplicas53C: five replicas', async () => {
    const { tc, sb } = setup(5);
    tc.addRegionStore(1, 4);
    tc.addRegionStore(2, 5);
    tc.addRegionStore(3, 6);
    tc.addRegionStore(4, 7);
    tc.addRegionStore(5, 28);
    tc.addLeaderRegion(1, 1, 2, 3, 4, 5);

    tc.addRegionStore(6, 1);
    checkTransferPeer(await sb.schedule(tc), OpKind.Balance, 5, 6);
    tc.addRegionStore(7, 5);
    checkTransferPeer(await sb.schedule(tc), OpKind.Balance, 5, 6);

    tc.addLeaderRegion(1, 2, 3, 4, 5, 6);
    checkTransferPeer(await sb.schedule(tc), OpKind.Balance, 5, 1);

    tc.addRegionStore(11, 29);
    tc.addRegionStore(12, 8);
    tc.addRegionStore(13, 7);
    tc.addLeaderRegion(1, 2, 3, 11, 12, 13);
    checkTransferPeer(await sb.schedule(tc), OpKind.Balance, 11, 6);
  });

  it('TestReplacePendingRegion3C: a region with a pending peer on the source goes first', async () => {
    const { tc, sb } = setup(3);
    tc.addRegionStore(1, 16);
    tc.addRegionStore(2, 7);
    tc.addRegionStore(3, 15);
    tc.addRegionStore(4, 10);
    tc.addLeaderRegion(1, 1, 2, 3);
    tc.addLeaderRegion(2, 1, 2, 3);
    tc.addLeaderRegion(3, 2, 1, 3);
    tc.updatePendingPeers(3, 1);

    const op = await sb.schedule(tc);
    expect(op?.regionId).toBe(3);
    checkTransferPeer(op, OpKind.Balance, 1, 4);
  });
});

describe('balance-region (TinyKV-TS)', () => {
  it('moves nothing while the size gap is at most twice the region size', async () => {
    const { tc, sb } = setup(1);
    tc.addRegionStore(1, 3); // 30 bytes
    tc.addRegionStore(2, 1); // 10 bytes: gap 20 = 2 * 10
    tc.addLeaderRegion(1, 1);
    expect(await sb.schedule(tc)).toBeUndefined();
    tc.addRegionStore(2, 0); // gap 30 > 20
    checkTransferPeer(await sb.schedule(tc), OpKind.Balance, 1, 2);
  });

  it('drains an Offline store as a source, and skips busy stores as target', async () => {
    const { tc, sb } = setup(1);
    tc.addRegionStore(1, 10);
    tc.addRegionStore(2, 2);
    tc.addRegionStore(3, 3);
    tc.addLeaderRegion(1, 1);
    tc.setStoreOffline(1);
    checkTransferPeer(await sb.schedule(tc), OpKind.Balance, 1, 2);
    tc.setStoreBusy(2, true);
    checkTransferPeer(await sb.schedule(tc), OpKind.Balance, 1, 3);
    tc.setStoreBusy(3, true);
    expect(await sb.schedule(tc)).toBeUndefined();
  });

  it('tries the next source when the largest store has no region to give', async () => {
    const { tc, sb } = setup(1);
    tc.addRegionStore(1, 30); // counts say large, but no region is known on it yet
    tc.addRegionStore(2, 20);
    tc.addRegionStore(3, 1);
    tc.addLeaderRegion(7, 2);
    const op = checkTransferPeer(await sb.schedule(tc), OpKind.Balance, 2, 3);
    expect(op.regionId).toBe(7);
    expect(op.desc).toBe('balance-region');
  });

  it('leaves regions with a down peer or no known leader alone', async () => {
    const { tc, sb } = setup(1);
    tc.addRegionStore(1, 10);
    tc.addRegionStore(2, 0);
    const region = tc.addLeaderRegion(1, 1);
    tc.putRegion({ ...region, leader: undefined });
    expect(await sb.schedule(tc)).toBeUndefined();
    const only = region.region.peers[0];
    tc.putRegion({ ...region, downPeers: only ? [{ peer: only, downSeconds: 1 }] : [] });
    expect(await sb.schedule(tc)).toBeUndefined();
    tc.putRegion(region);
    checkTransferPeer(await sb.schedule(tc), OpKind.Balance, 1, 2);
  });

  it('is allowed while region operators in flight stay under the region schedule limit', () => {
    const tc = new MockCluster({ config: { regionScheduleLimit: 2 } });
    const sb = new BalanceRegionScheduler();
    expect(sb.isScheduleAllowed(tc, (bit) => (bit === OpKind.Region ? 1 : 99))).toBe(true);
    expect(sb.isScheduleAllowed(tc, (bit) => (bit === OpKind.Region ? 2 : 0))).toBe(false);
  });

  it('runs every 10 ms after an operator and backs off by 1.3x up to 5 s', () => {
    const sb = createScheduler('balance-region-scheduler');
    expect(sb.name).toBe('balance-region-scheduler');
    expect(sb.type).toBe('balance-region');
    expect(sb.minIntervalMs).toBe(10);
    expect(sb.nextIntervalMs(10)).toBeCloseTo(13);
    expect(sb.nextIntervalMs(4_000)).toBe(5_000);
    expect(sb.nextIntervalMs(5_000)).toBe(5_000);
  });

  it('createScheduler knows the two balancers and refuses other names', () => {
    expect([...KNOWN_SCHEDULERS].sort()).toEqual(['balance-leader-scheduler', 'balance-region-scheduler']);
    expect(createScheduler('balance-leader-scheduler').type).toBe('balance-leader');
    expect(() => createScheduler('shuffle-region-scheduler')).toThrow(expect.objectContaining({ code: SchedulerErrorCode.SchedulerNotFound }));
  });
});
