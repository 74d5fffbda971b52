// TinyKV's BasicConfChange3B and ConfChangeRemoveLeader3B, shortened, on the real threaded store:
// three stores over gRPC on LMDB; ChangePeer admin commands go to the region's leader.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfChangeType } from '../../src/proto/eraftpb.js';
import type { Peer, Region } from '../../src/proto/metapb.js';
import { AdminCmdType, RaftCmdRequest, type RaftCmdResponse } from '../../src/proto/raft_cmdpb.js';
import { PeerState, RegionLocalState } from '../../src/proto/raft_serverpb.js';
import { regionStateKey } from '../../src/raftstore/keys.js';
import type { ClusterNode } from '../../src/server/cluster-node.js';
import { defined } from '../../src/util/assert.js';
import { firstAnswer, InProcessCluster, waitUntil, withClient } from './harness.js';

let cluster: InProcessCluster;

const localValue = (node: ClusterNode, key: string) => node.engines.kv.get('default', Buffer.from(key))?.toString();
const all = () => cluster.all();

beforeAll(async () => {
  cluster = await InProcessCluster.start({ raftPollers: 1 });
});

afterAll(async () => {
  await cluster.close();
});

function leaderOf(regionId: number): { node: ClusterNode; region: Region; leader: Peer } | undefined {
  for (const node of all()) {
    const found = node.store.leaderRegions().find((r) => r.region.id === regionId);
    if (found) return { node, ...found };
  }
  return undefined;
}

/** Sends ChangePeer to the region's leader until it is answered without a region error. */
async function changePeer(regionId: number, changeType: ConfChangeType, peer: Peer, deadlineMs = 20_000): Promise<RaftCmdResponse> {
  const deadline = Date.now() + deadlineMs;
  while (Date.now() < deadline) {
    const current = leaderOf(regionId);
    if (current) {
      const request = RaftCmdRequest.fromPartial({
        header: { regionId, peer: current.leader, regionEpoch: current.region.regionEpoch },
        adminRequest: { cmdType: AdminCmdType.ChangePeer, changePeer: { changeType, peer } },
      });
      const response = await new Promise<RaftCmdResponse>((resolve) => current.node.store.propose(request, (result) => resolve(result.response)));
      if (!response.header?.error) return response;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('conf change not answered');
}

const put = (key: string, value: string) => firstAnswer((addr) => withClient(addr, (c) => c.put(key, value)), all);

describe('conf change on the threaded store', () => {
  it('removes a follower (cleaned), re-adds its store with a new peer id (caught up), removes the leader', async () => {
    await put('k1', 'v1');
    const regionId = leaderRegionId();
    await waitUntil(() => leaderOf(regionId) !== undefined);
    const { node: leader } = defined(leaderOf(regionId), 'leader of the region');
    const follower = defined(
      all().find((n) => n !== leader),
      'a follower store',
    );
    await waitUntil(() => localValue(follower, 'k1') === 'v1');
    const oldPeer = defined(
      follower.store.regions()[0]?.peers.find((p) => p.storeId === follower.storeId),
      'the follower peer',
    );

    await changePeer(regionId, ConfChangeType.RemoveNode, oldPeer);
    // The poller reports the region gone once the peer stops; its data goes just after.
    await waitUntil(() => follower.store.regions().length === 0 && localValue(follower, 'k1') === undefined, 15_000);
    expect(follower.store.regions()).toEqual([]);
    expect(localValue(follower, 'k1')).toBeUndefined();
    const tombstone = RegionLocalState.decode(defined(follower.engines.kv.get('meta', regionStateKey(regionId)), 'region state'));
    expect(tombstone.state).toBe(PeerState.Tombstone);

    await put('k2', 'v2');
    const newPeer = { id: oldPeer.id + 1000, storeId: follower.storeId };
    await changePeer(regionId, ConfChangeType.AddNode, newPeer);
    await waitUntil(() => localValue(follower, 'k2') === 'v2', 15_000);
    expect(localValue(follower, 'k1')).toBe('v1');
    expect(localValue(follower, 'k2')).toBe('v2');

    const current = defined(leaderOf(regionId), 'leader of the region');
    await changePeer(regionId, ConfChangeType.RemoveNode, current.leader);
    await waitUntil(() => current.node.store.regions().length === 0, 15_000);
    expect(current.node.store.regions()).toEqual([]);
    await put('k3', 'v3');
    const others = all().filter((n) => n !== current.node);
    await waitUntil(() => others.every((n) => localValue(n, 'k3') === 'v3'), 15_000);
    for (const node of others) expect(localValue(node, 'k3')).toBe('v3');
  });
});

function leaderRegionId(): number {
  return all().flatMap((n) => n.store.regions())[0]?.id ?? 0;
}
