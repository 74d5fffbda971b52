// Seeded chaos on an in-process cluster: partitions, message drops, crash-restarts, while clients
// read and write. Checkers: every key's history is linearizable (so no acknowledged write is
// lost and no stale read is served), and after healing every store holds the same data.
// Replay one seed with RAFTSTORE_SIM_SEED=n; run more with RAFTSTORE_SIM_SEEDS=n (from RAFTSTORE_SIM_BASE);
// scripts/raftstore-soak.mjs runs thousands.
import { describe, expect, it } from 'vitest';
import { CmdType, RaftCmdRequest } from '../../src/proto/raft_cmdpb.js';
import { SeededRandom } from '../../src/raft/index.js';
import type { CommandResult } from '../../src/raftstore/router/command-callback.js';
import { SimCluster } from './cluster.js';
import { checkRegister, type RegisterOp } from './linearizability.js';
import { defined } from '../../src/util/assert.js';

const KEYS = ['x', 'y', 'z'];
const CLIENTS = 3;
const CHAOS_STEPS = 300;
const HEAL_STEPS = 150;
const OP_TIMEOUT_STEPS = 60;

interface History {
  ops: Map<string, RegisterOp[]>;
}

async function runSeed(seed: number): Promise<void> {
  const rng = new SeededRandom(seed);
  const cluster = new SimCluster({ stores: 3, seed, config: { raftLogGcCountLimit: 15 } });
  await cluster.start();
  let now = 0;
  let chaos = true;
  const history: History = { ops: new Map(KEYS.map((k) => [k, []])) };
  let waiters: Array<() => void> = [];
  const nextStep = () => new Promise<void>((resolve) => waiters.push(resolve));

  /**
   * Sends one command to whichever store leads; resolves with its result, or undefined when none
   * came in time. `onUnknown(attemptStart)` is told of every attempt whose outcome stays unknown
   * (no answer before the next try, or an error): such an attempt may still take effect later, so a
   * retried put is recorded as several writes, as a client without deduplication really issues them.
   */
  async function execute(
    request: RaftCmdRequest,
    deadline: number,
    onUnknown: (attemptStart: number) => void = () => {},
  ): Promise<CommandResult | undefined> {
    while (now < deadline) {
      // Any store that believes it leads may get the call, including a deposed leader cut off
      // from the others: it must not answer a read or acknowledge a write it cannot commit.
      const leaders = [...cluster.stores.keys()].filter((id) => cluster.stores.get(id)!.peer(1)?.isLeader());
      if (leaders.length === 0) {
        await nextStep();
        continue;
      }
      let result: CommandResult | undefined;
      const attemptStart = now;
      cluster.stores.get(rng.pick(leaders))!.propose(request, (r) => (result = r));
      const attemptDeadline = Math.min(deadline, now + 20);
      while (result === undefined && now < attemptDeadline) await nextStep();
      if (result === undefined) {
        onUnknown(attemptStart);
        continue;
      }
      if (!result.response.header?.error) return result;
      // An error does not prove the command did nothing: a crashing store fails the proposals it
      // had already replicated, and those may still commit under the next leader.
      onUnknown(attemptStart);
      await nextStep();
    }
    return undefined;
  }

  async function put(key: string, value: string): Promise<void> {
    const ops = history.ops.get(key)!;
    const request = RaftCmdRequest.fromPartial({
      header: { regionId: 1 },
      requests: [{ cmdType: CmdType.Put, put: { cf: 'default', key: Buffer.from(key), value: Buffer.from(value) } }],
    });
    let attemptStart = now;
    const result = await execute(request, now + OP_TIMEOUT_STEPS, (start) => {
      ops.push({ kind: 'put', value, invoke: start, response: Infinity });
      attemptStart = now;
    });
    // The answered attempt is one write; attempts before it with no answer may also apply.
    if (result) ops.push({ kind: 'put', value, invoke: attemptStart, response: now });
  }

  async function get(key: string): Promise<void> {
    const invoke = now;
    const request = RaftCmdRequest.fromPartial({
      header: { regionId: 1 },
      requests: [{ cmdType: CmdType.Get, get: { cf: 'default', key: Buffer.from(key) } }],
    });
    const result = await execute(request, now + OP_TIMEOUT_STEPS);
    if (!result) return; // a read with no answer says nothing
    const value = result.response.responses[0]?.get?.value;
    history.ops.get(key)!.push({ kind: 'get', value: value && value.length > 0 ? value.toString() : undefined, invoke, response: now });
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

  async function injectFault(): Promise<void> {
    const roll = rng.float();
    if (roll < 0.06) {
      // Isolating a node (often the leader) makes deposed leaders that still believe they lead.
      cluster.clearFilters();
      cluster.isolate(rng.pick([cluster.leaderStore() ?? 1, 1, 2, 3]));
    } else if (roll < 0.08) {
      cluster.clearFilters();
      cluster.dropRandomly(0.1);
    } else if (roll < 0.11) {
      cluster.clearFilters();
    } else if (roll < 0.125 && cluster.down.size === 0) {
      await cluster.crash(rng.between(1, 3));
    } else if (roll < 0.16 && cluster.down.size > 0) {
      await cluster.restart(defined([...cluster.down][0], '[...cluster.down][0]'));
    }
  }

  const clients = Array.from({ length: CLIENTS }, (_, i) => client(i));
  const tick = async () => {
    now++;
    await cluster.step();
    const wake = waiters;
    waiters = [];
    for (const resolve of wake) resolve();
    // Let the woken operations issue their next commands before time moves on.
    for (let i = 0; i < 5; i++) await Promise.resolve();
  };
  for (let i = 0; i < CHAOS_STEPS; i++) {
    await injectFault();
    await tick();
  }
  // Liveness: heal everything; operations in flight must finish.
  chaos = false;
  cluster.clearFilters();
  for (const id of [...cluster.down]) await cluster.restart(id);
  let done = false;
  void Promise.all(clients).then(() => (done = true));
  for (let i = 0; i < HEAL_STEPS || !done; i++) {
    if (i > HEAL_STEPS + 500) throw new Error(`seed ${seed}: clients did not finish after healing`);
    await tick();
  }
  // A final read of every key joins each history.
  const finals = KEYS.map((key) => get(key));
  let finalsDone = false;
  void Promise.all(finals).then(() => (finalsDone = true));
  while (!finalsDone) await tick();
  for (let i = 0; i < 50; i++) await tick();

  for (const [key, ops] of history.ops) {
    const result = checkRegister(ops);
    if (!result.ok) throw new Error(`seed ${seed}: history of ${key} is not linearizable:\n${JSON.stringify(result.history)}`);
  }
  const acknowledged = [...history.ops.values()].flat().filter((op) => op.kind === 'put' && op.response !== Infinity).length;
  expect(acknowledged, `seed ${seed}: no write was acknowledged`).toBeGreaterThan(0);
  for (const key of KEYS) {
    const values = [1, 2, 3].map((id) => cluster.localValue(id, key));
    expect(new Set(values).size, `seed ${seed}: stores disagree on ${key}: ${values.join(',')}`).toBe(1);
  }
}

describe('raftstore chaos simulation', () => {
  const single = process.env.RAFTSTORE_SIM_SEED;
  const count = Number(process.env.RAFTSTORE_SIM_SEEDS ?? 60);
  const base = single ? Number(single) : Number(process.env.RAFTSTORE_SIM_BASE ?? 1000 + (Math.floor(Date.now() / 86_400_000) % 1000));
  const seeds = single ? [base] : Array.from({ length: count }, (_, i) => base + i);
  console.log(`[raftstore sim] seeds ${seeds[0]}..${seeds.at(-1)} (replay one with RAFTSTORE_SIM_SEED=n)`);

  it.each(seeds)('seed %i stays linearizable and converges', async (seed) => {
    await runSeed(seed);
  });
});
