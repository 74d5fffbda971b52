// The replica checker: PD's (TinyKV's copy, balance_test.go testReplicaCheckerSuite) basic, lost
// store, offline and opts cases over the mock cluster, with the deviations this project chose:
//   - a peer is down when its store is Down OR its leader reports it in down_peers (PD wants both);
//   - a remove-extra-replica spares the leader when another peer can go (PD removes store 1's leader).
// The snapshot-count, storage-threshold and label filters are not part of TinyKV-TS.
import { describe, expect, it } from 'vitest';
import { Peer } from '../../src/proto/metapb.js';
import type { RegionInfo } from '../../src/scheduler/cluster-state.js';
import { ReplicaChecker } from '../../src/scheduler/schedule/checkers/replica-checker.js';
import { OpKind } from '../../src/scheduler/schedule/operator.js';
import { MockCluster } from './mock-cluster.js';
import { checkAddPeer, checkRemovePeer, checkTransferPeer } from './schedule-checks.js';

function withPeer(info: RegionInfo, peer: Peer): RegionInfo {
  return { ...info, region: { ...info.region, peers: [...info.region.peers, peer] } };
}

function withoutStorePeer(info: RegionInfo, storeId: number): RegionInfo {
  return { ...info, region: { ...info.region, peers: info.region.peers.filter((p) => p.storeId !== storeId) } };
}

function storePeer(info: RegionInfo, storeId: number): Peer {
  const peer = info.region.peers.find((p) => p.storeId === storeId);
  if (!peer) throw new Error(`region ${info.region.id} has no peer on store ${storeId}`);
  return peer;
}

describe('replica checker', () => {
  const rc = new ReplicaChecker();

  it('PD TestBasic: makes up, removes extra, replaces down and offline peers', async () => {
    const tc = new MockCluster();
    tc.addRegionStore(1, 4);
    tc.addRegionStore(2, 3);
    tc.addRegionStore(3, 2);
    tc.addRegionStore(4, 1);
    let region = tc.addLeaderRegion(1, 1, 2);

    // Two peers of three: add one on the emptiest store, not on a down one.
    const op = checkAddPeer(await rc.check(tc, region), OpKind.Replica, 4);
    expect(op.desc).toBe('make-up-replica');
    tc.setStoreDown(4);
    checkAddPeer(await rc.check(tc, region), OpKind.Replica, 3);
    tc.setStoreUp(4);
    checkAddPeer(await rc.check(tc, region), OpKind.Replica, 4);

    region = withPeer(region, await tc.allocPeer(4));
    expect(await rc.check(tc, region)).toBeUndefined();

    // Four of three: the fullest store that does not hold the leader loses its peer (PD: store 1, the leader).
    region = withPeer(region, await tc.allocPeer(3));
    const remove = checkRemovePeer(await rc.check(tc, region), 2);
    expect(remove.desc).toBe('remove-extra-replica');
    expect(remove.kind & OpKind.Replica).toBe(OpKind.Replica);

    // Peers on 2, 3, 4 (leader gone with store 1's peer; put a leader back on 3).
    region = withoutStorePeer(region, 1);
    region = { ...region, leader: storePeer(region, 3) };
    tc.setStoreDown(2);
    region = { ...region, downPeers: [{ peer: storePeer(region, 2), downSeconds: 24 * 60 * 60 }] };
    const replace = checkTransferPeer(await rc.check(tc, region), OpKind.Replica, 2, 1);
    expect(replace.desc).toBe('replace-down-replica');
    // PD: no down peers reported means nothing to do, even with store 2 down; here store 2 must be up too.
    region = { ...region, downPeers: [] };
    checkTransferPeer(await rc.check(tc, region), OpKind.Replica, 2, 1);
    tc.setStoreUp(2);
    expect(await rc.check(tc, region)).toBeUndefined();

    tc.setStoreOffline(3);
    const offline = checkTransferPeer(await rc.check(tc, region), OpKind.Replica, 3, 1);
    expect(offline.desc).toBe('replace-offline-replica');
  });

  it('PD TestLostStore: a peer on a store the scheduler does not know leaves the region alone', async () => {
    const tc = new MockCluster();
    tc.addRegionStore(1, 1);
    tc.addRegionStore(2, 1);
    const region = tc.addLeaderRegion(1, 1, 2, 3);
    expect(await rc.check(tc, region)).toBeUndefined();
  });

  it('PD TestOffline: makes up to three, removes extras, replaces the peer on an Offline store', async () => {
    const tc = new MockCluster({ config: { maxReplicas: 3 } });
    tc.addRegionStore(1, 1);
    tc.addRegionStore(2, 2);
    tc.addRegionStore(3, 3);
    tc.addRegionStore(4, 4);
    let region = tc.addLeaderRegion(1, 1);

    checkAddPeer(await rc.check(tc, region), OpKind.Replica, 2);
    region = withPeer(region, await tc.allocPeer(2));
    checkAddPeer(await rc.check(tc, region), OpKind.Replica, 3);
    region = withPeer(region, await tc.allocPeer(3));
    region = withPeer(region, await tc.allocPeer(4));
    checkRemovePeer(await rc.check(tc, region), 4);

    // More peers than max-replicas and one on an Offline store: that one goes, no replacement needed.
    tc.setStoreOffline(3);
    const removeOffline = checkRemovePeer(await rc.check(tc, region), 3);
    expect(removeOffline.desc).toBe('remove-extra-offline-replica');
    region = withoutStorePeer(region, 4);
    checkTransferPeer(await rc.check(tc, region), OpKind.Replica, 3, 4);
    tc.addRegionStore(5, 3);
    checkTransferPeer(await rc.check(tc, region), OpKind.Replica, 3, 5);
    // No healthy store outside the region: nothing.
    tc.setStoreBusy(4, true);
    tc.setStoreDown(5);
    expect(await rc.check(tc, region)).toBeUndefined();
  });

  it('PD TestOpts: a down peer is replaced before an offline one', async () => {
    const tc = new MockCluster();
    for (const id of [1, 2, 3, 4]) tc.addRegionStore(id, 100);
    let region = tc.addLeaderRegion(1, 1, 2, 3);
    tc.setStoreDown(1);
    region = { ...region, downPeers: [{ peer: storePeer(region, 1), downSeconds: 24 * 60 * 60 }] };
    tc.setStoreOffline(2);
    checkTransferPeer(await rc.check(tc, region), OpKind.Replica, 1, 4);
  });

  it('replaces a peer its leader reports down although its store still heartbeats', async () => {
    const tc = new MockCluster();
    for (const id of [1, 2, 3, 4]) tc.addRegionStore(id, 1);
    let region = tc.addLeaderRegion(1, 1, 2, 3);
    region = { ...region, downPeers: [{ peer: storePeer(region, 3), downSeconds: 600 }] };
    checkTransferPeer(await rc.check(tc, region), OpKind.Replica, 3, 4);
  });

  it('removes a pending follower before the fullest one, and never the leader', async () => {
    const tc = new MockCluster({ config: { maxReplicas: 3 } });
    for (const id of [1, 2, 3, 4]) tc.addRegionStore(id, id);
    tc.addLeaderRegion(1, 4, 1, 2, 3);
    // No pending peer: the fullest follower's store (3; store 4 holds the leader).
    checkRemovePeer(await rc.check(tc, tc.updatePendingPeers(1)), 3);
    // Stores 1 and 2 pending: the fuller of the two.
    const op = checkRemovePeer(await rc.check(tc, tc.updatePendingPeers(1, 1, 2)), 2);
    expect(op.steps).toHaveLength(1);
  });

  it('waits for a known leader before proposing anything', async () => {
    const tc = new MockCluster();
    for (const id of [1, 2, 3]) tc.addRegionStore(id, 1);
    const region = tc.addLeaderRegion(1, 1);
    expect(await rc.check(tc, { ...region, leader: undefined })).toBeUndefined();
    checkAddPeer(await rc.check(tc, region), OpKind.Replica, 2);
  });

  it('keeps a region at max-replicas as it is', async () => {
    const tc = new MockCluster({ config: { maxReplicas: 1 } });
    tc.addRegionStore(1, 1);
    tc.addRegionStore(2, 0);
    expect(await rc.check(tc, tc.addLeaderRegion(1, 1))).toBeUndefined();
  });
});
