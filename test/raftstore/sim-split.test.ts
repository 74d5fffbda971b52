// Seeded chaos with region splits: partitions, drops and crash-restarts while clients read and
// write keys over the whole key space and regions split under them. Each command is routed as a
// client routes it, to a store whose peer of the key's region believes it leads, with that peer's
// region id and epoch, so commands race with splits. Checkers: every key's history is linearizable
// (no acknowledged write lost, no stale read); after healing, on every store the regions tile the
// key space (each key owned by exactly one region), all stores hold the same regions and the same
// data. Replay a seed with RAFTSTORE_SIM_SEED=n; more seeds with RAFTSTORE_SIM_SEEDS=n (from
// RAFTSTORE_SIM_BASE); scripts/raftstore-soak.mjs runs thousands.
import { describe, expect, it } from 'vitest';
import type { Region } from '../../src/proto/metapb.js';
import { ConfChangeType } from '../../src/proto/eraftpb.js';
import { AdminCmdType, CmdType, RaftCmdRequest, type Request } from '../../src/proto/raft_cmdpb.js';
import { SeededRandom } from '../../src/raft/index.js';
import type { CommandResult } from '../../src/raftstore/router/command-callback.js';
import { keyInRegion } from '../../src/raftstore/region.js';
import { defined } from '../../src/util/assert.js';
import { SimCluster } from './cluster.js';
import { checkRegister, type RegisterOp } from './linearizability.js';

const KEYS = ['a', 'c', 'e', 'g', 'j', 'm', 'p', 's', 'v', 'y'];
const SPLIT_KEYS = ['b', 'd', 'f', 'h', 'k', 'n', 'q', 't', 'w'];
/** Stores the cluster starts with (each in the first region); membership runs add two empty ones. */
const INITIAL_STORES = [1, 2, 3];
const ALL_STORES = [1, 2, 3, 4, 5];
/** A conf change not answered in this many steps is given up (its region may take another). */
const CHANGE_TIMEOUT_STEPS = 80;
const CLIENTS = 3;
const CHAOS_STEPS = 300;
const HEAL_STEPS = 200;
const OP_TIMEOUT_STEPS = 60;

/** Stores whose peer of the region holding `key` believes it leads (and was not removed), with that peer's region. */
function leadersOf(cluster: SimCluster, key: Buffer): Array<{ storeId: number; region: Region }> {
  const out: Array<{ storeId: number; region: Region }> = [];
  for (const [storeId, node] of cluster.stores) {
    const region = node.regionForKey(key);
    const peer = region && node.peer(region.id);
    if (region && peer?.isLeader() && !peer.isRemoved()) out.push({ storeId, region });
  }
  return out;
}

/**
 * Membership changes on whichever region a random key falls in, one at a time per region, sent to
 * its leader without waiting: add a peer (new id) on a store without one, remove a peer (the
 * leader too) only while the region has 3 or more, or move the leader.
 */
class RegionMembership {
  private nextPeerId = 5000;
  private readonly inFlight = new Map<number, number>();
  changes = 0;

  constructor(
    private readonly cluster: SimCluster,
    private readonly rng: SeededRandom,
  ) {}

  maybeChange(now: number): void {
    const key = Buffer.from(this.rng.pick([...KEYS, ...SPLIT_KEYS]));
    const led = leadersOf(this.cluster, key)[0];
    if (!led) return;
    const { region } = led;
    const since = this.inFlight.get(region.id);
    if (since !== undefined && now - since < CHANGE_TIMEOUT_STEPS) return;
    const outside = ALL_STORES.filter((id) => this.cluster.stores.has(id) && !region.peers.some((p) => p.storeId === id));
    const roll = this.rng.float();
    if (roll < 0.2) {
      this.cluster.proposeTransferLeader(region.id, this.rng.pick(region.peers).storeId);
      return;
    }
    const remove = region.peers.length >= 3 && (outside.length === 0 || roll < 0.55);
    const done = () => this.inFlight.delete(region.id);
    if (remove) {
      this.cluster.proposeChangePeer(region.id, ConfChangeType.RemoveNode, this.rng.pick(region.peers), done);
    } else if (outside.length > 0) {
      this.cluster.proposeChangePeer(region.id, ConfChangeType.AddNode, { id: this.nextPeerId++, storeId: this.rng.pick(outside) }, done);
    } else {
      return;
    }
    this.inFlight.set(region.id, now);
    this.changes++;
  }

  /**
   * Adds a peer of the region on the store until the leader's region lists one there (a change
   * proposed during the chaos may be the one that lands). Throws when it does not within 1000 steps.
   */
  private async addUntilMember(regionId: number, storeId: number): Promise<void> {
    for (let step = 0; step < 1000; step++) {
      const region = leaderView(this.cluster, regionId);
      if (region?.peers.some((p) => p.storeId === storeId)) return;
      if (region && step % 30 === 0) this.cluster.proposeChangePeer(regionId, ConfChangeType.AddNode, { id: this.nextPeerId++, storeId }, () => {});
      await this.cluster.step();
    }
    throw new Error(`seed ${this.cluster.options.seed}: region ${regionId} got no peer on store ${storeId}`);
  }

  /** After healing: every region gets a peer on every store. */
  async fillEveryStore(): Promise<void> {
    for (let round = 0; round < 20; round++) {
      const ids = new Set([...this.cluster.stores.values()].flatMap((node) => node.regions().map((r) => r.id)));
      let complete = true;
      for (const regionId of ids) {
        const region = leaderView(this.cluster, regionId);
        const missing = ALL_STORES.filter((id) => !region || !region.peers.some((p) => p.storeId === id));
        if (!region) complete = false;
        else for (const storeId of missing) await this.addUntilMember(regionId, storeId);
      }
      if (complete && ALL_STORES.every((id) => this.cluster.stores.get(id)?.regions().length === ids.size)) return;
      await this.cluster.run(20);
    }
  }
}

/** The region as its leader sees it now, if it has one. */
function leaderView(cluster: SimCluster, regionId: number): Region | undefined {
  const leader = cluster.leaderStore(regionId);
  return leader === undefined ? undefined : cluster.stores.get(leader)?.peer(regionId)?.region;
}

interface SeedOptions {
  /** Also change regions' membership and move their leaders, over five stores. */
  readonly membership: boolean;
}

async function runSeed(seed: number, { membership }: SeedOptions): Promise<void> {
  const rng = new SeededRandom(seed);
  const cluster = new SimCluster({ stores: INITIAL_STORES.length, seed, config: { raftLogGcCountLimit: 15 } });
  await cluster.start();
  const STORES = membership ? ALL_STORES : INITIAL_STORES;
  if (membership) for (const id of ALL_STORES.slice(INITIAL_STORES.length)) await cluster.addStore(id);
  const members = membership ? new RegionMembership(cluster, rng) : undefined;
  let now = 0;
  let chaos = true;
  let nextRegionId = 100;
  const history = new Map<string, RegisterOp[]>(KEYS.map((k) => [k, []]));
  let waiters: Array<() => void> = [];
  const nextStep = () => new Promise<void>((resolve) => waiters.push(resolve));

  /** As sim.test.ts's execute, but routed by key to the key's region, with that region's epoch. */
  async function execute(
    key: Buffer,
    request: Request,
    deadline: number,
    onUnknown: (start: number) => void = () => {},
  ): Promise<CommandResult | undefined> {
    while (now < deadline) {
      const leaders = leadersOf(cluster, key);
      if (leaders.length === 0) {
        await nextStep();
        continue;
      }
      const { storeId, region } = rng.pick(leaders);
      const command = RaftCmdRequest.fromPartial({ header: { regionId: region.id, regionEpoch: region.regionEpoch }, requests: [request] });
      let result: CommandResult | undefined;
      const attemptStart = now;
      defined(cluster.stores.get(storeId), 'leader store').propose(command, (r) => (result = r));
      const attemptDeadline = Math.min(deadline, now + 20);
      while (result === undefined && now < attemptDeadline) await nextStep();
      if (result === undefined) {
        onUnknown(attemptStart);
        continue;
      }
      if (!result.response.header?.error) return result;
      onUnknown(attemptStart);
      await nextStep();
    }
    return undefined;
  }

  async function put(key: string, value: string): Promise<void> {
    const ops = defined(history.get(key), 'history');
    let attemptStart = now;
    const request = { cmdType: CmdType.Put, put: { cf: 'default', key: Buffer.from(key), value: Buffer.from(value) } } as Request;
    const result = await execute(Buffer.from(key), request, now + OP_TIMEOUT_STEPS, (start) => {
      ops.push({ kind: 'put', value, invoke: start, response: Infinity });
      attemptStart = now;
    });
    if (result) ops.push({ kind: 'put', value, invoke: attemptStart, response: now });
  }

  async function get(key: string): Promise<void> {
    const invoke = now;
    const request = { cmdType: CmdType.Get, get: { cf: 'default', key: Buffer.from(key) } } as Request;
    const result = await execute(Buffer.from(key), request, now + OP_TIMEOUT_STEPS);
    if (!result) return;
    const value = result.response.responses[0]?.get?.value;
    defined(history.get(key), 'history').push({
      kind: 'get',
      value: value && value.length > 0 ? value.toString() : undefined,
      invoke,
      response: now,
    });
  }

  async function client(id: number): Promise<void> {
    const local = rng.fork();
    for (let n = 0; chaos; n++) {
      const key = local.pick(KEYS);
      if (local.chance(0.5)) await put(key, `c${id}-${n}`);
      else await get(key);
      for (let pause = local.int(3); pause > 0 && chaos; pause--) await nextStep();
    }
  }

  /** Proposes a split of the region holding a random split key, to a store that leads it (the answer is not awaited). */
  function proposeSplit(): void {
    const splitKey = Buffer.from(rng.pick(SPLIT_KEYS));
    const leaders = leadersOf(cluster, splitKey);
    if (leaders.length === 0) return;
    const { storeId, region } = rng.pick(leaders);
    if (Buffer.compare(region.startKey, splitKey) === 0) return;
    const newRegionId = nextRegionId++;
    const request = RaftCmdRequest.fromPartial({
      header: { regionId: region.id, regionEpoch: region.regionEpoch },
      adminRequest: {
        cmdType: AdminCmdType.Split,
        split: { splitKey, newRegionId, newPeerIds: region.peers.map((p) => newRegionId * 10 + p.storeId) },
      },
    });
    defined(cluster.stores.get(storeId), 'leader store').propose(request, () => {});
  }

  async function injectFault(): Promise<void> {
    const roll = rng.float();
    if (roll < 0.05) {
      cluster.clearFilters();
      cluster.isolate(rng.pick(STORES));
    } else if (roll < 0.07) {
      cluster.clearFilters();
      cluster.dropRandomly(0.1);
    } else if (roll < 0.1) {
      cluster.clearFilters();
    } else if (roll < 0.115 && cluster.down.size === 0) {
      await cluster.crash(rng.pick(STORES));
    } else if (roll < 0.15 && cluster.down.size > 0) {
      await cluster.restart(defined([...cluster.down][0], 'a down store'));
    } else if (roll < 0.19) {
      proposeSplit();
    } else if (members && roll < 0.25) {
      members.maybeChange(now);
    }
  }

  const clients = Array.from({ length: CLIENTS }, (_, i) => client(i));
  const tick = async () => {
    now++;
    await cluster.step();
    const wake = waiters;
    waiters = [];
    for (const resolve of wake) resolve();
    for (let i = 0; i < 5; i++) await Promise.resolve();
  };
  for (let i = 0; i < CHAOS_STEPS; i++) {
    await injectFault();
    await tick();
  }
  chaos = false;
  cluster.clearFilters();
  for (const id of [...cluster.down]) await cluster.restart(id);
  // Every region gets a peer on every store again, so all stores can be compared.
  await members?.fillEveryStore();
  let done = false;
  void Promise.all(clients).then(() => (done = true));
  for (let i = 0; i < HEAL_STEPS || !done; i++) {
    if (i > HEAL_STEPS + 500) throw new Error(`seed ${seed}: clients did not finish after healing`);
    await tick();
  }
  const finals = KEYS.map((key) => get(key));
  let finalsDone = false;
  void Promise.all(finals).then(() => (finalsDone = true));
  while (!finalsDone) await tick();
  // Every store catches up with every split and every write.
  const layout = (storeId: number) =>
    defined(cluster.stores.get(storeId), 'store')
      .regions()
      .map((r) => `${r.id}:${Buffer.from(r.startKey).toString()}-${Buffer.from(r.endKey).toString()}@${r.regionEpoch?.version}`)
      .sort()
      .join(' ');
  const converged = () =>
    STORES.every((id) => layout(id) === layout(1)) && KEYS.every((key) => new Set(STORES.map((id) => cluster.localValue(id, key))).size === 1);
  for (let i = 0; i < 400 && !converged(); i++) await tick();

  for (const [key, ops] of history) {
    const result = checkRegister(ops);
    if (!result.ok) throw new Error(`seed ${seed}: history of ${key} is not linearizable:\n${JSON.stringify(result.history)}`);
  }
  for (const storeId of STORES) {
    const regions = defined(cluster.stores.get(storeId), 'store').regions();
    for (const key of [...KEYS, ...SPLIT_KEYS, '', 'zzz']) {
      const owners = regions.filter((r) => keyInRegion(Buffer.from(key), r));
      expect(owners.length, `seed ${seed}: store ${storeId}: key '${key}' owned by ${owners.length} regions`).toBe(1);
    }
  }
  expect(converged(), `seed ${seed}: stores did not converge: ${STORES.map((id) => `${id}: ${layout(id)}`).join(' | ')}`).toBe(true);
  const acknowledged = [...history.values()].flat().filter((op) => op.kind === 'put' && op.response !== Infinity).length;
  expect(acknowledged, `seed ${seed}: no write was acknowledged`).toBeGreaterThan(0);
  if (process.env.RAFTSTORE_SIM_VERBOSE) console.log(`seed ${seed}: ${members?.changes ?? 0} membership changes; ${layout(1)}`);
}

// The same seed variables as the other chaos simulations (scripts/raftstore-soak.mjs sets them).
const fixed = process.env.RAFTSTORE_SIM_SEED;
const base = Number(process.env.RAFTSTORE_SIM_BASE ?? 9000 + (Math.floor(Date.now() / 86_400_000) % 1000));
const count = Number(process.env.RAFTSTORE_SIM_SEEDS ?? 10);
const seeds = fixed ? [Number(fixed)] : Array.from({ length: count }, (_, i) => base + i);

describe('raftstore chaos with region splits', () => {
  it(
    `seeds ${seeds[0]}..${seeds.at(-1)}: linearizable per key, every key in exactly one region, stores converge`,
    async () => {
      console.log(`[raftstore] split chaos seeds ${seeds[0]}..${seeds.at(-1)} (replay one with RAFTSTORE_SIM_SEED=n)`);
      for (const seed of seeds) await runSeed(seed, { membership: false });
    },
    Math.max(300_000, seeds.length * 3_000),
  );

  it(
    `with membership changes and leader moves over five stores, seeds ${seeds[0]}..${seeds.at(-1)}`,
    async () => {
      for (const seed of seeds) await runSeed(seed, { membership: true });
    },
    Math.max(300_000, seeds.length * 6_000),
  );
});
