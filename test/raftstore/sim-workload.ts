// The client side of the chaos simulations (sim.test.ts, sim-membership.test.ts): clients that
// read and write a few keys of region 1 through whichever store believes it leads, a history of
// what they saw for the linearizability checker, and logical time (`tick`) that wakes them.
import { CmdType, RaftCmdRequest } from '../../src/proto/raft_cmdpb.js';
import type { SeededRandom } from '../../src/raft/index.js';
import type { CommandResult } from '../../src/raftstore/router/command-callback.js';
import type { SimCluster } from './cluster.js';
import { checkRegister, type RegisterOp } from './linearizability.js';

export interface SimWorkloadOptions {
  readonly keys: readonly string[];
  readonly clients: number;
  /** Steps a client spends on one operation (all its attempts) before giving up on it. */
  readonly opTimeoutSteps: number;
  /** A check run after every step of the cluster (before the clients wake). */
  readonly afterStep?: () => void;
}

/** Steps one attempt waits for its answer before trying again. */
const ATTEMPT_TIMEOUT_STEPS = 20;

export class SimWorkload {
  /** Logical time: the number of ticks so far. */
  now = 0;
  /** Per key, every operation a client issued with what it saw. */
  readonly history: Map<string, RegisterOp[]>;
  private chaos = true;
  private waiters: Array<() => void> = [];
  private readonly clients: Array<Promise<void>>;

  /** Starts the clients at once (each forks `rng`, in client order). */
  constructor(
    private readonly cluster: SimCluster,
    private readonly rng: SeededRandom,
    private readonly options: SimWorkloadOptions,
  ) {
    this.history = new Map(options.keys.map((k) => [k, []]));
    this.clients = Array.from({ length: options.clients }, (_, i) => this.client(i));
  }

  /** One unit of logical time for the cluster, then the clients it woke issue their next commands. */
  async tick(): Promise<void> {
    this.now++;
    await this.cluster.step();
    this.options.afterStep?.();
    const wake = this.waiters;
    this.waiters = [];
    for (const resolve of wake) resolve();
    // Let the woken operations issue their next commands before time moves on.
    for (let i = 0; i < 5; i++) await Promise.resolve();
  }

  /** Clients stop after the operation they are in. */
  endChaos(): void {
    this.chaos = false;
  }

  /**
   * After `endChaos`, on a healed cluster: the clients' last operations must finish within
   * `healSteps` more ticks (+500); then a final read of every key joins each history, and 50 more
   * ticks let everything settle. `beforeTick` runs before every tick of the first phase.
   */
  async finish(seed: number, healSteps: number, beforeTick: () => Promise<void> = async () => {}): Promise<void> {
    let done = false;
    void Promise.all(this.clients).then(() => (done = true));
    for (let i = 0; i < healSteps || !done; i++) {
      if (i > healSteps + 500) throw new Error(`seed ${seed}: clients did not finish after healing`);
      await beforeTick();
      await this.tick();
    }
    const finals = this.options.keys.map((key) => this.get(key));
    let finalsDone = false;
    void Promise.all(finals).then(() => (finalsDone = true));
    while (!finalsDone) await this.tick();
    for (let i = 0; i < 50; i++) await this.tick();
  }

  /** Throws unless every key's history is linearizable and at least one write was acknowledged. */
  check(seed: number): void {
    for (const [key, ops] of this.history) {
      const result = checkRegister(ops);
      if (!result.ok) throw new Error(`seed ${seed}: history of ${key} is not linearizable:\n${JSON.stringify(result.history)}`);
    }
    const acknowledged = [...this.history.values()].flat().filter((op) => op.kind === 'put' && op.response !== Infinity).length;
    if (acknowledged === 0) throw new Error(`seed ${seed}: no write was acknowledged`);
  }

  /** The value of `key` the last acknowledged read saw (the final read, after `finish`). */
  lastRead(key: string): string | undefined {
    const reads = (this.history.get(key) ?? []).filter((op) => op.kind === 'get');
    return reads.at(-1)?.value;
  }

  private nextStep(): Promise<void> {
    return new Promise<void>((resolve) => this.waiters.push(resolve));
  }

  /**
   * Sends one command to whichever store leads; resolves with its result, or undefined when none
   * came in time. `onUnknown(attemptStart)` is told of every attempt whose outcome stays unknown
   * (no answer before the next try, or an error): such an attempt may still take effect later, so a
   * retried put is recorded as several writes, as a client without deduplication really issues them.
   */
  private async execute(
    request: RaftCmdRequest,
    deadline: number,
    onUnknown: (attemptStart: number) => void = () => {},
  ): Promise<CommandResult | undefined> {
    while (this.now < deadline) {
      // Any store that believes it leads may get the call, including a deposed leader cut off
      // from the others (or one removed from the region that has not learned it yet): it must
      // not answer a read or acknowledge a write it cannot commit.
      const leaders = [...this.cluster.stores.keys()].filter((id) => this.cluster.stores.get(id)?.peer(1)?.isLeader());
      if (leaders.length === 0) {
        await this.nextStep();
        continue;
      }
      let result: CommandResult | undefined;
      const attemptStart = this.now;
      this.cluster.stores.get(this.rng.pick(leaders))?.propose(request, (r) => (result = r));
      const attemptDeadline = Math.min(deadline, this.now + ATTEMPT_TIMEOUT_STEPS);
      while (result === undefined && this.now < attemptDeadline) await this.nextStep();
      if (result === undefined) {
        onUnknown(attemptStart);
        continue;
      }
      if (!result.response.header?.error) return result;
      // An error does not prove the command did nothing: a crashing store fails the proposals it
      // had already replicated, and those may still commit under the next leader.
      onUnknown(attemptStart);
      await this.nextStep();
    }
    return undefined;
  }

  private async put(key: string, value: string): Promise<void> {
    const ops = this.opsOf(key);
    const request = RaftCmdRequest.fromPartial({
      header: { regionId: 1 },
      requests: [{ cmdType: CmdType.Put, put: { cf: 'default', key: Buffer.from(key), value: Buffer.from(value) } }],
    });
    let attemptStart = this.now;
    const result = await this.execute(request, this.now + this.options.opTimeoutSteps, (start) => {
      ops.push({ kind: 'put', value, invoke: start, response: Infinity });
      attemptStart = this.now;
    });
    // The answered attempt is one write; attempts before it with no answer may also apply.
    if (result) ops.push({ kind: 'put', value, invoke: attemptStart, response: this.now });
  }

  private async get(key: string): Promise<void> {
    const invoke = this.now;
    const request = RaftCmdRequest.fromPartial({
      header: { regionId: 1 },
      requests: [{ cmdType: CmdType.Get, get: { cf: 'default', key: Buffer.from(key) } }],
    });
    const result = await this.execute(request, this.now + this.options.opTimeoutSteps);
    if (!result) return; // a read with no answer says nothing
    const value = result.response.responses[0]?.get?.value;
    this.opsOf(key).push({ kind: 'get', value: value && value.length > 0 ? value.toString() : undefined, invoke, response: this.now });
  }

  private async client(id: number): Promise<void> {
    const local = this.rng.fork();
    for (let n = 0; this.chaos; n++) {
      const key = local.pick(this.options.keys);
      if (local.chance(0.5)) await this.put(key, `c${id}-${n}`);
      else await this.get(key);
      for (let pause = local.int(3); pause > 0 && this.chaos; pause--) await this.nextStep();
    }
  }

  private opsOf(key: string): RegisterOp[] {
    const ops = this.history.get(key);
    if (!ops) throw new Error(`no history for key ${key}`);
    return ops;
  }
}
