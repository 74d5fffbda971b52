// Region split (TinyKV 3B Split) on the single-thread simulation: the production poller and apply
// code on in-process channels, three stores, seeded.
import { describe, expect, it } from 'vitest';
import type { Region } from '../../src/proto/metapb.js';
import { AdminCmdType, RaftCmdRequest, type RaftCmdResponse } from '../../src/proto/raft_cmdpb.js';
import { PeerState, RaftApplyState, RegionLocalState } from '../../src/proto/raft_serverpb.js';
import { applyStateKey, regionStateKey } from '../../src/raftstore/keys.js';
import { RegionErrorCode, regionErrorCodeOf } from '../../src/raftstore/router/errors.js';
import { RaftKvStorage } from '../../src/storage/raft-kv-storage.js';
import { RegionError } from '../../src/raftstore/router/errors.js';
import { defined } from '../../src/util/assert.js';
import { SimCluster, seedFromEnv } from './cluster.js';

function seeded(name: string, base: number): number {
  const seed = seedFromEnv(base);
  console.log(`[raftstore] ${name}: seed ${seed} (replay with RAFTSTORE_SEED=${seed})`);
  return seed;
}

const NEW_REGION_ID = 2;
const newPeerIds = (stores: number[]) => stores.map((id) => id + 200);

function leaderOf(cluster: SimCluster, regionId: number): number | undefined {
  return cluster.leaderStore(regionId);
}

/** Proposes Split to region `regionId`'s leader until it is answered; returns the answer. */
async function split(cluster: SimCluster, regionId: number, splitKey: string, newRegionId = NEW_REGION_ID, maxSteps = 300): Promise<RaftCmdResponse> {
  for (let step = 0; step < maxSteps;) {
    const leader = leaderOf(cluster, regionId);
    const peer = leader === undefined ? undefined : cluster.stores.get(leader)?.peer(regionId);
    if (!peer || leader === undefined) {
      await cluster.step();
      step++;
      continue;
    }
    const request = RaftCmdRequest.fromPartial({
      header: { regionId, peer: peer.meta, regionEpoch: peer.region.regionEpoch },
      adminRequest: {
        cmdType: AdminCmdType.Split,
        split: { splitKey: Buffer.from(splitKey), newRegionId, newPeerIds: newPeerIds(peer.region.peers.map((p) => p.storeId)) },
      },
    });
    let answer: RaftCmdResponse | undefined;
    defined(cluster.stores.get(leader), 'leader store').propose(request, (result) => (answer = result.response));
    while (answer === undefined && step < maxSteps) {
      await cluster.step();
      step++;
    }
    if (answer) return answer;
  }
  throw new Error(`split not answered in ${maxSteps} steps`);
}

/** Runs an operation on the leader of the key's region, retrying region errors as a client does. */
async function onKeyLeader<T>(cluster: SimCluster, key: string, op: (storage: RaftKvStorage) => Promise<T>, maxSteps = 400): Promise<T> {
  for (let step = 0; step < maxSteps;) {
    const leader = [...cluster.stores].find(([, node]) => {
      const region = node.regionForKey(Buffer.from(key));
      return region !== undefined && node.peer(region.id)?.isLeader();
    });
    if (leader) {
      let outcome: { value?: T; error?: unknown } | undefined;
      void op(new RaftKvStorage(leader[1], 60_000)).then(
        (value) => (outcome = { value }),
        (error: unknown) => (outcome = { error }),
      );
      while (outcome === undefined && step < maxSteps) {
        await cluster.step();
        step++;
      }
      if (outcome && outcome.error === undefined) return outcome.value as T;
      if (outcome && !(outcome.error instanceof RegionError)) throw outcome.error;
    }
    await cluster.step();
    step++;
  }
  throw new Error(`no answer for key ${key} in ${maxSteps} steps`);
}

const put = (cluster: SimCluster, key: string, value: string) =>
  onKeyLeader(cluster, key, (s) => s.write(undefined, [{ type: 'put', cf: 'default', key: Buffer.from(key), value: Buffer.from(value) }]));

const get = (cluster: SimCluster, key: string) =>
  onKeyLeader(cluster, key, async (s) => {
    const reader = await s.reader(undefined, Buffer.from(key));
    try {
      return reader.getCF('default', Buffer.from(key))?.toString();
    } finally {
      reader.close();
    }
  });

function regionOnDisk(cluster: SimCluster, storeId: number, regionId: number): RegionLocalState | undefined {
  const bytes = cluster.engines.get(storeId)?.kv.get('meta', regionStateKey(regionId));
  return bytes ? RegionLocalState.decode(bytes) : undefined;
}

function range(region: Region | undefined): [string, string] {
  return [Buffer.from(region?.startKey ?? []).toString(), Buffer.from(region?.endKey ?? []).toString()];
}

async function settleUntil(cluster: SimCluster, done: () => boolean, maxSteps = 300): Promise<void> {
  for (let i = 0; i < maxSteps && !done(); i++) await cluster.step();
  expect(done()).toBe(true);
}

describe('region split', () => {
  it('splits [start, end) into [start, k) and [k, end) on every store, both version + 1, and both serve', async () => {
    const cluster = new SimCluster({ stores: 3, seed: seeded('split-basic', 41) });
    await cluster.start();
    await cluster.waitLeader();
    for (const key of ['a', 'b', 'm', 'x', 'z']) await put(cluster, key, `v-${key}`);
    const answer = await split(cluster, 1, 'm');
    expect(answer.header?.error).toBeUndefined();
    const regions = defined(answer.adminResponse?.split, 'split response').regions;
    expect(regions.map((r) => [r.id, ...range(r), r.regionEpoch?.version])).toEqual([
      [1, '', 'm', 2],
      [NEW_REGION_ID, 'm', '', 2],
    ]);
    expect(regions[1]?.peers.map((p) => p.id).sort()).toEqual([201, 202, 203]);
    // Every store applies the split and starts the new region's peer; the new region elects a leader.
    await settleUntil(cluster, () => [1, 2, 3].every((id) => cluster.stores.get(id)?.peer(NEW_REGION_ID)?.isInitialized()));
    await settleUntil(cluster, () => leaderOf(cluster, NEW_REGION_ID) !== undefined);
    for (const id of [1, 2, 3]) {
      expect(range(regionOnDisk(cluster, id, 1)?.region)).toEqual(['', 'm']);
      expect(range(regionOnDisk(cluster, id, NEW_REGION_ID)?.region)).toEqual(['m', '']);
      const apply = RaftApplyState.decode(defined(cluster.engines.get(id)?.kv.get('meta', applyStateKey(NEW_REGION_ID)), 'apply state'));
      expect(apply.appliedIndex).toBeGreaterThanOrEqual(5);
    }
    // Data stays where it was; each region serves its keys.
    expect(await get(cluster, 'a')).toBe('v-a');
    expect(await get(cluster, 'z')).toBe('v-z');
    await put(cluster, 'y', 'after');
    await put(cluster, 'c', 'after');
    expect(await get(cluster, 'y')).toBe('after');
    expect(await get(cluster, 'c')).toBe('after');
  });

  it('answers KeyNotInRegion for a key routed to the old region, and EpochNotMatch for the old epoch', async () => {
    const cluster = new SimCluster({ stores: 3, seed: seeded('split-errors', 42) });
    await cluster.start();
    const leader = await cluster.waitLeader();
    await put(cluster, 'k', '1');
    const before = defined(cluster.stores.get(leader)?.peer(1), 'leader peer').region;
    await split(cluster, 1, 'm');
    await settleUntil(cluster, () => leaderOf(cluster, 1) !== undefined && leaderOf(cluster, NEW_REGION_ID) !== undefined);
    const oldLeader = defined(leaderOf(cluster, 1), 'leader of region 1');
    const peer = defined(cluster.stores.get(oldLeader)?.peer(1), 'peer');
    const ask = (key: string, epoch = peer.region.regionEpoch) =>
      new Promise<RaftCmdResponse>((resolve) => {
        const request = RaftCmdRequest.fromPartial({
          header: { regionId: 1, peer: peer.meta, regionEpoch: epoch },
          requests: [{ cmdType: 1 /* Get */, get: { cf: 'default', key: Buffer.from(key) } }],
        });
        cluster.stores.get(oldLeader)?.propose(request, (result) => resolve(result.response));
        void cluster.run(20);
      });
    const outside = await ask('z');
    expect(regionErrorCodeOf(defined(outside.header?.error, 'error'))).toBe(RegionErrorCode.KeyNotInRegion);
    const stale = await ask('a', before.regionEpoch);
    expect(regionErrorCodeOf(defined(stale.header?.error, 'error'))).toBe(RegionErrorCode.EpochNotMatch);
    expect(stale.header?.error?.epochNotMatch?.currentRegions.map((r) => r.id)).toContain(1);
  });

  it('refuses a split key outside the region or at its start, and a stale epoch', async () => {
    const cluster = new SimCluster({ stores: 3, seed: seeded('split-refused', 43) });
    await cluster.start();
    await cluster.waitLeader();
    await put(cluster, 'k', '1');
    await split(cluster, 1, 'm');
    // Region 1 is now ['', 'm'): 'q' is outside it.
    const outside = await split(cluster, 1, 'q', 3);
    expect(outside.header?.error?.message).toMatch(/split key not inside/);
    const again = await split(cluster, NEW_REGION_ID, 'm', 3);
    expect(again.header?.error?.message).toMatch(/split key not inside/);
    expect(regionOnDisk(cluster, 1, 3)).toBeUndefined();
  });

  it('a store that was cut off during the split catches up: its new-region peer starts from the split, not a snapshot', async () => {
    const cluster = new SimCluster({ stores: 3, seed: seeded('split-lagging', 44) });
    await cluster.start();
    const leader = await cluster.waitLeader();
    const lagging = [1, 2, 3].find((id) => id !== leader)!;
    await put(cluster, 'a', '1');
    cluster.isolate(lagging);
    await split(cluster, 1, 'm');
    await settleUntil(cluster, () => leaderOf(cluster, NEW_REGION_ID) !== undefined);
    await put(cluster, 'p', 'new-region');
    await put(cluster, 'b', 'old-region');
    // Messages of the new region may create an uninitialized peer there; the split then initializes it.
    cluster.clearFilters();
    await settleUntil(cluster, () => cluster.stores.get(lagging)?.peer(NEW_REGION_ID)?.isInitialized() === true, 600);
    await settleUntil(cluster, () => cluster.localValue(lagging, 'p') === 'new-region' && cluster.localValue(lagging, 'b') === 'old-region', 600);
    expect(range(regionOnDisk(cluster, lagging, 1)?.region)).toEqual(['', 'm']);
    expect(regionOnDisk(cluster, lagging, NEW_REGION_ID)?.state).toBe(PeerState.Normal);
  });

  it('keeps both regions across a crash and restart of every store', async () => {
    const cluster = new SimCluster({ stores: 3, seed: seeded('split-restart', 45) });
    await cluster.start();
    await cluster.waitLeader();
    await put(cluster, 'a', '1');
    await put(cluster, 'z', '2');
    await split(cluster, 1, 'm');
    await settleUntil(cluster, () => [1, 2, 3].every((id) => cluster.stores.get(id)?.peer(NEW_REGION_ID)?.isInitialized()));
    for (const id of [1, 2, 3]) await cluster.crash(id);
    for (const id of [1, 2, 3]) await cluster.restart(id);
    await settleUntil(cluster, () => leaderOf(cluster, 1) !== undefined && leaderOf(cluster, NEW_REGION_ID) !== undefined);
    expect(await get(cluster, 'a')).toBe('1');
    expect(await get(cluster, 'z')).toBe('2');
    await put(cluster, 'y', '3');
    expect(await get(cluster, 'y')).toBe('3');
  });
});
