// Seeded chaos with a changing membership: five stores, region 1 starting on stores 1-3. While the
// clients of sim-workload.ts read and write and the network partitions, drops and crash-restarts
// stores, the schedule adds peers on stores without one (a new peer id every time, so a store
// removed before comes back as a new peer), removes followers and the leader, and transfers
// leadership. Changes go to the leader as the scheduler sends them, concurrently with the clients;
// one answered with a region error is simply tried again later (as a new random choice).
//
// Membership rule: a removal is proposed only when the leader's region has 3 or more peers, so the
// region never drops below 2 voters (and a 2-peer region, whose leader TinyKV will not remove, sees
// no removal at all); adds are weighted up when it has 3 or fewer, so it spends most of its time at
// 3-4 (the run's totals print how many steps it had fewer than 3).
//
// Checkers: at most one leader per term (every step); after healing, stores outside the region
// hold a Tombstone (if they ever held the region's data) and no data; then every store gets a peer
// again, and every replica holds the same data and the same RegionLocalState; every key's history,
// with a final read, is linearizable and every store holds the value the final read saw.
// Replay one seed with RAFTSTORE_SIM_SEED=n; run more with RAFTSTORE_SIM_SEEDS=n (from
// RAFTSTORE_SIM_BASE); `npm run soak:raftstore` runs thousands.
import { afterAll, describe, expect, it } from 'vitest';
import { ConfChangeType } from '../../src/proto/eraftpb.js';
import type { Region } from '../../src/proto/metapb.js';
import { PeerState } from '../../src/proto/raft_serverpb.js';
import { SeededRandom } from '../../src/raft/index.js';
import { applyStateKey } from '../../src/raftstore/keys.js';
import { defined } from '../../src/util/assert.js';
import { SimCluster } from './cluster.js';
import { SimWorkload } from './sim-workload.js';

const STORES = [1, 2, 3, 4, 5];
const INITIAL_STORES = 3;
const KEYS = ['x', 'y', 'z'];
const CLIENTS = 3;
const CHAOS_STEPS = 400;
const HEAL_STEPS = 150;
const OP_TIMEOUT_STEPS = 60;
/** Steps after which an unanswered conf change is forgotten (its answer, if any, is ignored). */
const CONF_CHANGE_TIMEOUT_STEPS = 80;
/** Steps the replicas get to converge after the final re-adds. */
const CONVERGE_STEPS = 400;
const FIRST_NEW_PEER_ID = 1000;

type ChangeKind = 'add' | 'removeFollower' | 'removeLeader';

/** What a seed's schedule did, summed over the seeds of a run and printed at its end. */
interface MembershipCounts {
  proposed: Record<ChangeKind | 'transfer', number>;
  /** Conf changes answered without a region error (they changed the region, or were in effect). */
  succeeded: Record<ChangeKind, number>;
  /** Stores found outside the region after healing that had held its data (checked for a Tombstone). */
  tombstones: number;
  /** Steps (chaos and healing) with a leader, and those whose leader's region had fewer than 3 peers. */
  ledSteps: number;
  ledStepsBelow3: number;
}

/** The membership side of the schedule: at most one ChangePeer in flight, proposed without waiting. */
class MembershipChaos {
  private inFlight: { readonly token: number; readonly since: number; readonly kind: ChangeKind } | undefined;
  private tokens = 0;
  private nextPeerId = FIRST_NEW_PEER_ID;
  /** Stores whose kv engine has held an initialized peer of the region at some step. */
  readonly everInitialized = new Set<number>();

  constructor(
    private readonly cluster: SimCluster,
    private readonly rng: SeededRandom,
    private readonly counts: MembershipCounts,
  ) {}

  /** After every step: remembers which stores hold the region's data, counts how often it is short of 3 voters. */
  observe(): void {
    for (const [storeId, store] of this.cluster.stores) if (store.peer(1)?.isInitialized()) this.everInitialized.add(storeId);
    const leader = this.cluster.leaderStore();
    const size = leader === undefined ? undefined : this.cluster.stores.get(leader)?.peer(1)?.region.peers.length;
    if (size === undefined) return;
    this.counts.ledSteps++;
    if (size < 3) this.counts.ledStepsBelow3++;
  }

  /** Maybe starts one change (`now` is the workload's logical time). */
  act(now: number): void {
    if (!this.idle(now) || !this.rng.chance(0.08)) return;
    const leaderStore = this.cluster.leaderStore();
    const leader = leaderStore === undefined ? undefined : this.cluster.stores.get(leaderStore)?.peer(1);
    if (!leader) return;
    const region = leader.region;
    const followers = region.peers.filter((p) => p.id !== leader.meta.id);
    const roll = this.rng.float();
    const addWeight = region.peers.length <= 3 ? 0.5 : 0.2;
    if (roll < addWeight) {
      const outside = STORES.filter((id) => !region.peers.some((p) => p.storeId === id));
      if (outside.length > 0) this.propose('add', ConfChangeType.AddNode, { id: this.nextPeerId++, storeId: this.rng.pick(outside) }, now);
    } else if (followers.length === 0) {
      return;
    } else if (roll < addWeight + 0.35) {
      if (this.cluster.proposeTransferLeader(1, this.rng.pick(followers).storeId)) this.counts.proposed.transfer++;
    } else if (region.peers.length < 3) {
      return; // the membership rule: no removal from a region of 2 or fewer peers
    } else if (roll < addWeight + 0.6) {
      this.propose('removeFollower', ConfChangeType.RemoveNode, this.rng.pick(followers), now);
    } else {
      this.propose('removeLeader', ConfChangeType.RemoveNode, leader.meta, now);
    }
  }

  /** Whether no change is in flight; an unanswered one is forgotten after CONF_CHANGE_TIMEOUT_STEPS. */
  idle(now: number): boolean {
    if (this.inFlight && now - this.inFlight.since > CONF_CHANGE_TIMEOUT_STEPS) this.inFlight = undefined;
    return this.inFlight === undefined;
  }

  /** A new peer on every store without one, one change at a time (blocking: the clients are done). */
  async addEverywhere(): Promise<void> {
    for (const storeId of STORES) {
      const leader = defined(this.cluster.stores.get(await this.cluster.waitLeader())?.peer(1), 'leader peer');
      if (leader.region.peers.some((p) => p.storeId === storeId)) continue;
      await this.cluster.addPeer(1, storeId, this.nextPeerId++, 1000);
    }
  }

  private propose(kind: ChangeKind, changeType: ConfChangeType, peer: { id: number; storeId: number }, now: number): void {
    const token = ++this.tokens;
    // Set before proposing: a stopped store answers at once.
    this.inFlight = { token, since: now, kind };
    const proposed = this.cluster.proposeChangePeer(1, changeType, peer, (response) => {
      if (this.inFlight?.token !== token) return;
      this.inFlight = undefined;
      if (!response.header?.error) this.counts.succeeded[kind]++;
    });
    if (proposed) this.counts.proposed[kind]++;
    else if (this.inFlight.token === token) this.inFlight = undefined;
  }
}

async function injectFault(cluster: SimCluster, rng: SeededRandom): Promise<void> {
  const roll = rng.float();
  if (roll < 0.05) {
    // Isolating a node (often the leader) makes deposed leaders that still believe they lead.
    cluster.clearFilters();
    cluster.isolate(rng.pick([cluster.leaderStore() ?? 1, ...STORES]));
  } else if (roll < 0.07) {
    cluster.clearFilters();
    cluster.dropRandomly(0.1);
  } else if (roll < 0.1) {
    cluster.clearFilters();
  } else if (roll < 0.115 && cluster.down.size === 0) {
    await cluster.crash(rng.pick(STORES));
  } else if (roll < 0.15 && cluster.down.size > 0) {
    await cluster.restart(defined([...cluster.down][0], 'a down store'));
  }
}

/** Stores outside the region: a Tombstone if they ever held it, no data, no apply state, no initialized peer. */
function checkOutsiders(cluster: SimCluster, region: Region, everInitialized: ReadonlySet<number>, seed: number): number {
  let tombstones = 0;
  for (const storeId of STORES) {
    if (region.peers.some((p) => p.storeId === storeId)) continue;
    const what = `seed ${seed}: store ${storeId} (not in region, peers ${JSON.stringify(region.peers)})`;
    const state = cluster.regionStateOf(storeId);
    if (everInitialized.has(storeId) || state) expect(state?.state, `${what}: region state`).toBe(PeerState.Tombstone);
    if (everInitialized.has(storeId)) tombstones++;
    expect(cluster.dataOf(storeId), `${what}: data`).toEqual([]);
    expect(defined(cluster.engines.get(storeId), 'engines').kv.get('meta', applyStateKey(1)), `${what}: apply state`).toBeUndefined();
    // A peer removed before its first snapshot came may linger uninitialized (no range, no data).
    expect(cluster.stores.get(storeId)?.peer(1)?.isInitialized() ?? false, `${what}: initialized peer`).toBe(false);
  }
  return tombstones;
}

/** What must be equal on every replica: its data and its RegionLocalState. */
function replicaView(cluster: SimCluster, storeId: number): string {
  const state = cluster.regionStateOf(storeId);
  const peers = (state?.region?.peers ?? []).map((p) => `${p.id}@${p.storeId}`).sort();
  return JSON.stringify({ state: state?.state, confVer: state?.region?.regionEpoch?.confVer, peers, data: cluster.dataOf(storeId) });
}

async function runSeed(seed: number, counts: MembershipCounts): Promise<void> {
  const rng = new SeededRandom(seed);
  const cluster = new SimCluster({ stores: INITIAL_STORES, seed, config: { raftLogGcCountLimit: 15 } });
  await cluster.start();
  for (const id of STORES.slice(INITIAL_STORES)) await cluster.addStore(id);
  const faults = rng.fork();
  const membership = new MembershipChaos(cluster, rng.fork(), counts);
  const workload = new SimWorkload(cluster, rng, {
    keys: KEYS,
    clients: CLIENTS,
    opTimeoutSteps: OP_TIMEOUT_STEPS,
    afterStep: () => {
      cluster.checkOneLeaderPerTerm();
      membership.observe();
    },
  });
  for (let i = 0; i < CHAOS_STEPS; i++) {
    await injectFault(cluster, faults);
    membership.act(workload.now);
    await workload.tick();
  }
  // Heal: operations in flight (the clients' and a conf change) must finish.
  workload.endChaos();
  cluster.clearFilters();
  for (const id of [...cluster.down]) await cluster.restart(id);
  await workload.finish(seed, HEAL_STEPS);
  while (!membership.idle(workload.now)) await workload.tick();
  for (let i = 0; i < HEAL_STEPS; i++) await workload.tick();
  const region = defined(cluster.stores.get(await cluster.waitLeader())?.peer(1), 'leader peer').region;
  counts.tombstones += checkOutsiders(cluster, region, membership.everInitialized, seed);

  await membership.addEverywhere();
  const converged = () => new Set(STORES.map((id) => replicaView(cluster, id))).size === 1;
  for (let i = 0; i < CONVERGE_STEPS && !converged(); i++) await workload.tick();
  const reference = replicaView(cluster, 1);
  for (const id of STORES) expect(replicaView(cluster, id), `seed ${seed}: store ${id} differs from store 1`).toBe(reference);
  expect(cluster.regionStateOf(1)?.state, `seed ${seed}: region state`).toBe(PeerState.Normal);
  expect(cluster.regionStateOf(1)?.region?.peers, `seed ${seed}: peers`).toHaveLength(STORES.length);
  workload.check(seed);
  for (const key of KEYS)
    for (const id of STORES) expect(cluster.localValue(id, key), `seed ${seed}: ${key} on store ${id}`).toBe(workload.lastRead(key));
}

describe('raftstore chaos simulation with membership changes', () => {
  const single = process.env.RAFTSTORE_SIM_SEED;
  const count = Number(process.env.RAFTSTORE_SIM_SEEDS ?? 30);
  const base = single ? Number(single) : Number(process.env.RAFTSTORE_SIM_BASE ?? 1000 + (Math.floor(Date.now() / 86_400_000) % 1000));
  const seeds = single ? [base] : Array.from({ length: count }, (_, i) => base + i);
  const zero = () => ({ add: 0, removeFollower: 0, removeLeader: 0 });
  const counts: MembershipCounts = { proposed: { ...zero(), transfer: 0 }, succeeded: zero(), tombstones: 0, ledSteps: 0, ledStepsBelow3: 0 };
  console.log(`[raftstore sim-membership] seeds ${seeds[0]}..${seeds.at(-1)} (replay one with RAFTSTORE_SIM_SEED=n)`);

  it.each(seeds)('seed %i stays linearizable and converges through membership changes', async (seed) => {
    await runSeed(seed, counts);
  });

  afterAll(() => console.log(`[raftstore sim-membership] ${JSON.stringify(counts)}`));
});
