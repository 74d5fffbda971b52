// Membership change (TinyKV 3B ChangePeer) on the single-thread simulation.
import { describe, expect, it } from 'vitest';
import { ConfChangeType, MessageType } from '../../src/proto/eraftpb.js';
import { PeerState, RaftMessage, RegionLocalState } from '../../src/proto/raft_serverpb.js';
import { applyStateKey, raftStateKey, regionStateKey } from '../../src/raftstore/keys.js';
import { defined } from '../../src/util/assert.js';
import { SimCluster, seedFromEnv } from './cluster.js';

function seeded(name: string, base: number): number {
  const seed = seedFromEnv(base);
  console.log(`[raftstore] ${name}: seed ${seed} (replay with RAFTSTORE_SEED=${seed})`);
  return seed;
}

function peerIds(cluster: SimCluster, storeId: number, regionId = 1): number[] {
  const peer = cluster.stores.get(storeId)?.peer(regionId);
  return (peer?.region.peers ?? []).map((p) => p.id).sort((a, b) => a - b);
}

describe('conf change', () => {
  it('removes a follower: the region loses the peer, conf_ver grows once, the same change again is a no-op', async () => {
    const cluster = new SimCluster({ stores: 3, seed: seeded('remove-follower', 31) });
    await cluster.start();
    const leader = await cluster.waitLeader();
    await cluster.put('a', '1');
    const follower = [1, 2, 3].find((id) => id !== leader)!;
    const response = await cluster.removePeer(1, follower, follower + 100);
    const region = response.adminResponse?.changePeer?.region;
    expect(region?.peers.map((p) => p.id)).not.toContain(follower + 100);
    expect(region?.regionEpoch).toEqual({ confVer: 2, version: 1 });
    // As the scheduler re-sends it: with the epoch from before the change.
    const again = await cluster.changePeer(1, ConfChangeType.RemoveNode, { id: follower + 100, storeId: follower }, 300, { confVer: 1, version: 1 });
    expect(again.adminResponse?.changePeer?.region?.regionEpoch).toEqual({ confVer: 2, version: 1 });
    await cluster.put('b', '2');
    expect(await cluster.get('b')).toBe('2');
    await cluster.run(5);
    const remaining = [1, 2, 3].filter((id) => id !== follower);
    for (const id of remaining) expect(peerIds(cluster, id)).toEqual(remaining.map((s) => s + 100));
  });

  it('adds a peer on a new store: it is created by a message, catches up by snapshot and serves', async () => {
    const cluster = new SimCluster({ stores: 3, seed: seeded('add-peer', 32) });
    await cluster.start();
    await cluster.waitLeader();
    for (let i = 0; i < 10; i++) await cluster.put(`k${i}`, `v${i}`);
    await cluster.addStore(4);
    const response = await cluster.addPeer(1, 4, 104);
    expect(response.adminResponse?.changePeer?.region?.peers.map((p) => p.id)).toContain(104);
    await cluster.run(30);
    expect(cluster.stores.get(4)?.peer(1)?.isInitialized()).toBe(true);
    expect(cluster.localValue(4, 'k9')).toBe('v9');
    await cluster.put('after', 'add');
    await cluster.run(5);
    expect(cluster.localValue(4, 'after')).toBe('add');
    const again = await cluster.addPeer(1, 4, 104);
    expect(again.adminResponse?.changePeer?.region?.regionEpoch).toEqual({ confVer: 2, version: 1 });
  });

  it('destroys a removed follower: tombstone, no data, no raft state, not loaded on restart', async () => {
    const cluster = new SimCluster({ stores: 3, seed: seeded('destroy-follower', 33) });
    await cluster.start();
    const leader = await cluster.waitLeader();
    for (let i = 0; i < 5; i++) await cluster.put(`k${i}`, `v${i}`);
    const follower = [1, 2, 3].find((id) => id !== leader)!;
    await cluster.removePeer(1, follower, follower + 100);
    for (let i = 0; i < 100 && cluster.stores.get(follower)?.peer(1); i++) await cluster.step();
    expect(cluster.stores.get(follower)?.peer(1)).toBeUndefined();
    expect(cluster.localValue(follower, 'k1')).toBeUndefined();
    const engines = cluster.engines.get(follower)!;
    const state = RegionLocalState.decode(engines.kv.get('meta', regionStateKey(1))!);
    expect(state.state).toBe(PeerState.Tombstone);
    expect(engines.kv.get('meta', applyStateKey(1))).toBeUndefined();
    expect(engines.raft.get('meta', raftStateKey(1))).toBeUndefined();
    // A message from the membership that removed it does not bring the peer back.
    const leaderPeer = defined(cluster.stores.get(leader)?.peer(1), 'leader peer');
    const stale = RaftMessage.fromPartial({
      regionId: 1,
      fromPeer: leaderPeer.meta,
      toPeer: { id: follower + 100, storeId: follower },
      regionEpoch: { confVer: 2, version: 1 },
      message: { msgType: MessageType.MsgHeartbeat, from: leaderPeer.meta.id, to: follower + 100, term: leaderPeer.term(), commit: 0 },
    });
    const node = defined(cluster.stores.get(follower), 'follower store');
    node.onRaftMessage(stale);
    await node.settle();
    expect(node.peer(1)).toBeUndefined();
    expect(node.droppedMessages.get('tombstoned-region')).toBeGreaterThan(0);
    await cluster.crash(follower);
    await cluster.restart(follower);
    await cluster.run(10);
    expect(cluster.stores.get(follower)?.peer(1)).toBeUndefined();
    await cluster.put('k1', 'w1');
    expect(await cluster.get('k1')).toBe('w1');
  });

  it('removes the leader: the others elect a new one and keep serving', async () => {
    const cluster = new SimCluster({ stores: 3, seed: seeded('remove-leader', 34) });
    await cluster.start();
    const leader = await cluster.waitLeader();
    await cluster.put('a', '1');
    await cluster.removePeer(1, leader, leader + 100);
    await cluster.put('b', '2');
    expect(await cluster.get('a')).toBe('1');
    expect(cluster.leaderStore()).not.toBe(leader);
    for (let i = 0; i < 100 && cluster.stores.get(leader)?.peer(1); i++) await cluster.step();
    expect(cluster.stores.get(leader)?.peer(1)).toBeUndefined();
    expect(cluster.localValue(leader, 'a')).toBeUndefined();
  });

  it('re-adds a store with a new peer id after its removal', async () => {
    const cluster = new SimCluster({ stores: 3, seed: seeded('re-add', 35) });
    await cluster.start();
    const leader = await cluster.waitLeader();
    await cluster.put('a', '1');
    const follower = [1, 2, 3].find((id) => id !== leader)!;
    await cluster.removePeer(1, follower, follower + 100);
    for (let i = 0; i < 100 && cluster.stores.get(follower)?.peer(1); i++) await cluster.step();
    expect(cluster.stores.get(follower)?.peer(1)).toBeUndefined();
    await cluster.put('b', '2');
    await cluster.addPeer(1, follower, follower + 200);
    await cluster.run(30);
    expect(cluster.stores.get(follower)?.peer(1)?.meta.id).toBe(follower + 200);
    expect(cluster.localValue(follower, 'b')).toBe('2');
    expect(cluster.localValue(follower, 'a')).toBe('1');
  });

  it('removes the leader of a two-peer region by handing leadership over first', async () => {
    const cluster = new SimCluster({ stores: 3, seed: seeded('remove-leader-of-pair', 36) });
    await cluster.start();
    const first = await cluster.waitLeader();
    await cluster.put('a', '1');
    const follower = [1, 2, 3].find((id) => id !== first)!;
    await cluster.removePeer(1, follower, follower + 100);
    const leader = defined(cluster.leaderStore(), 'leader');
    const response = await cluster.removePeer(1, leader, leader + 100);
    expect(response.adminResponse?.changePeer?.region?.peers).toHaveLength(1);
    await cluster.put('b', '2');
    expect(await cluster.get('b')).toBe('2');
    expect(cluster.leaderStore()).not.toBe(leader);
  });

  it('survives a seeded series of removes and adds (leader included) under message drops and crash-restarts', async () => {
    const seed = seeded('conf-change-chaos', 37);
    const cluster = new SimCluster({ stores: 3, seed, config: { raftLogGcCountLimit: 10 } });
    await cluster.start();
    await cluster.addStore(4);
    await cluster.waitLeader();
    const rng = cluster.rng.fork();
    cluster.dropRandomly(0.05);
    let nextPeerId = 1000;
    const written = new Map<string, string>();
    for (let round = 0; round < 8; round++) {
      const leader = defined(cluster.stores.get(await cluster.waitLeader())?.peer(1), 'leader peer');
      const members = leader.region.peers;
      if (members.length > 2 && rng.chance(0.5)) {
        const victim = defined(members[rng.int(members.length)], 'a member');
        await cluster.removePeer(1, victim.storeId, victim.id, 1000);
      } else {
        const outside = [1, 2, 3, 4].filter((id) => !members.some((p) => p.storeId === id));
        const target = outside[rng.int(outside.length)];
        if (target !== undefined) await cluster.addPeer(1, target, nextPeerId++, 1000);
      }
      // A crash-restart of any store (while the rest keep a quorum): a removed peer must not come
      // back, a member catches up.
      const quorumSafe = defined(cluster.stores.get(await cluster.waitLeader())?.peer(1), 'leader peer').region.peers.length >= 3;
      const crashed = quorumSafe && rng.chance(0.4) ? 1 + rng.int(4) : undefined;
      if (crashed !== undefined) await cluster.crash(crashed);
      for (let i = 0; i < 3; i++) {
        const key = `r${round}k${i}`;
        await cluster.put(key, `v${round}`);
        written.set(key, `v${round}`);
      }
      if (crashed !== undefined) await cluster.restart(crashed);
    }
    cluster.clearFilters();
    await cluster.run(100);
    const region = defined(cluster.stores.get(await cluster.waitLeader())?.peer(1), 'leader peer').region;
    for (const storeId of [1, 2, 3, 4]) {
      const member = region.peers.some((p) => p.storeId === storeId);
      for (const [key, value] of written) expect(cluster.localValue(storeId, key), `store ${storeId} key ${key}`).toBe(member ? value : undefined);
      // A peer removed before its snapshot came may linger uninitialized (no range, no data), as in
      // TinyKV; a later re-add replaces it.
      if (!member) expect(cluster.stores.get(storeId)?.peer(1)?.isInitialized() ?? false).toBe(false);
    }
  });

  it('creates peers from messages for unknown regions only up to a bound', async () => {
    const cluster = new SimCluster({ stores: 3, seed: seeded('made-up-regions', 38) });
    await cluster.start();
    await cluster.waitLeader();
    const node = defined(cluster.stores.get(1), 'store 1');
    const made = 1100;
    for (let regionId = 1000; regionId < 1000 + made; regionId++) {
      node.onRaftMessage(
        RaftMessage.fromPartial({
          regionId,
          fromPeer: { id: 9, storeId: 2 },
          toPeer: { id: 8, storeId: 1 },
          regionEpoch: { confVer: 1, version: 1 },
          message: { msgType: MessageType.MsgHeartbeat, from: 9, to: 8, term: 1, commit: 0 },
        }),
      );
    }
    await node.settle();
    let created = 0;
    for (let regionId = 1000; regionId < 1000 + made; regionId++) if (node.peer(regionId)) created++;
    expect(created).toBe(1024);
    expect(node.regions().map((r) => r.id)).toEqual([1]);
  });
});
