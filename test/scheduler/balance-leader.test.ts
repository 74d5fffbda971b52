// balance-leader: PD's TestBalanceLimit (first half) and TestBalanceFilter over the mock cluster,
// plus the leader-count gap rule (>= 2; PD's count tolerance is not used) and moves into a store.
import { describe, expect, it } from 'vitest';
import { OpKind } from '../../src/scheduler/schedule/operator.js';
import { BalanceLeaderScheduler } from '../../src/scheduler/schedule/schedulers/balance-leader.js';
import { MockCluster } from './mock-cluster.js';
import { checkTransferLeader } from './schedule-checks.js';

function setup(): { tc: MockCluster; lb: BalanceLeaderScheduler } {
  return { tc: new MockCluster(), lb: new BalanceLeaderScheduler() };
}

describe('balance-leader', () => {
  it('PD TestBalanceLimit: a gap of one leader is balanced, sixteen is not', async () => {
    const { tc, lb } = setup();
    // Stores: 1:1 2:0 3:0 4:0, region 1 led on 1 with followers on 2, 3, 4.
    tc.addLeaderStore(1, 1);
    tc.addLeaderStore(2, 0);
    tc.addLeaderStore(3, 0);
    tc.addLeaderStore(4, 0);
    tc.addLeaderRegion(1, 1, 2, 3, 4);
    expect(await lb.schedule(tc)).toBeUndefined();
    tc.updateLeaderCount(1, 16);
    expect(await lb.schedule(tc)).toBeDefined();
  });

  it('PD TestBalanceFilter: Offline sources still give leaders; down and busy stores take none', async () => {
    const { tc, lb } = setup();
    // Stores: 1:1 2:2 3:3 4:16, region 1 led on 4 with followers on 1, 2, 3.
    tc.addLeaderStore(1, 1);
    tc.addLeaderStore(2, 2);
    tc.addLeaderStore(3, 3);
    tc.addLeaderStore(4, 16);
    tc.addLeaderRegion(1, 4, 1, 2, 3);
    checkTransferLeader(await lb.schedule(tc), OpKind.Balance, 4, 1);
    tc.setStoreOffline(4);
    checkTransferLeader(await lb.schedule(tc), OpKind.Balance, 4, 1);
    tc.setStoreDown(1);
    checkTransferLeader(await lb.schedule(tc), OpKind.Balance, 4, 2);
    tc.setStoreBusy(2, true);
    checkTransferLeader(await lb.schedule(tc), OpKind.Balance, 4, 3);
    tc.setStoreBusy(3, true);
    expect(await lb.schedule(tc)).toBeUndefined();
  });

  it('moves a leader only across a gap of at least two', async () => {
    const { tc, lb } = setup();
    tc.addLeaderStore(1, 10);
    tc.addLeaderStore(2, 9);
    tc.addLeaderStore(3, 9);
    tc.addLeaderRegion(1, 1, 2, 3);
    expect(await lb.schedule(tc)).toBeUndefined();
    tc.updateLeaderCount(2, 8);
    checkTransferLeader(await lb.schedule(tc), OpKind.Balance, 1, 2);
  });

  it('never hands the leader to a pending or down follower', async () => {
    const { tc, lb } = setup();
    tc.addLeaderStore(1, 10);
    tc.addLeaderStore(2, 0);
    tc.addLeaderStore(3, 1);
    const region = tc.addLeaderRegion(1, 1, 2, 3);
    tc.updatePendingPeers(1, 2);
    checkTransferLeader(await lb.schedule(tc), OpKind.Balance, 1, 3);
    const peer3 = region.region.peers[2];
    tc.putRegion({ ...region, downPeers: peer3 ? [{ peer: peer3, downSeconds: 600 }] : [] });
    tc.updatePendingPeers(1, 2);
    expect(await lb.schedule(tc)).toBeUndefined();
  });

  it('moves a leader into the store with fewest leaders when no source can give one away', async () => {
    const { tc, lb } = setup();
    // Stores: 1:1 2:14 3:15 4:16. Region 1 led on 4, its followers pending; region 2 led on 3.
    tc.addLeaderStore(1, 1);
    tc.addLeaderStore(2, 14);
    tc.addLeaderStore(3, 15);
    tc.addLeaderStore(4, 16);
    tc.addLeaderRegion(1, 4, 2, 3);
    tc.updatePendingPeers(1, 2, 3);
    tc.addLeaderRegion(2, 3, 1, 2);
    checkTransferLeader(await lb.schedule(tc), OpKind.Balance, 3, 1);
  });

  it('is allowed while leader operators in flight stay under the leader schedule limit', () => {
    const tc = new MockCluster({ config: { leaderScheduleLimit: 4 } });
    const lb = new BalanceLeaderScheduler();
    expect(lb.name).toBe('balance-leader-scheduler');
    expect(lb.isScheduleAllowed(tc, (bit) => (bit === OpKind.Leader ? 3 : 99))).toBe(true);
    expect(lb.isScheduleAllowed(tc, (bit) => (bit === OpKind.Leader ? 4 : 0))).toBe(false);
  });
});

describe('balance-leader with operators in flight', () => {
  it('counts their influence: from 4:0 it moves two leaders, not four', async () => {
    const cluster = new MockCluster({ seed: 7 });
    for (const id of [1, 2, 3]) cluster.addLeaderStore(id, 0);
    for (let region = 1; region <= 4; region++) cluster.addLeaderRegion(region, 1, 2, 3);
    cluster.updateLeaderCount(1, 4);
    const scheduler = new BalanceLeaderScheduler();
    for (let round = 0; round < 6; round++) {
      const op = await scheduler.schedule(cluster);
      if (op) cluster.running.push(op);
    }
    // 4:0:0 settles at 2:1:1 (gaps below 2), two transfers in flight.
    expect(cluster.running).toHaveLength(2);
  });
});
