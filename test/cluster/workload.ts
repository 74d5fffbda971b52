// Clients and checkers for TinyKV's 2B/2C scenarios on the threaded in-process cluster:
// - append clients (TinyKV's GenericTest): client c puts "x c j y" under key "<c> %08d(j)" and scans
//   its keys back; every scan and the final state must hold exactly its acknowledged appends, in order;
// - register clients: gets and puts on a few keys, recorded for the linearizability checker, every
//   put attempt without an answer (error or timeout) counted as a write that may have happened.
import { connect, ClientError, type TinyKvClient } from '../../src/client/index.js';
import type { SeededRandom } from '../../src/raft/index.js';
import type { ClusterNode } from '../../src/server/cluster-node.js';
import { checkRegister, type RegisterOp } from '../raftstore/linearizability.js';
import { defined } from '../../src/util/assert.js';

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export type Attempt<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: unknown };

/**
 * Sends Raw API calls to the cluster: to a store that believes it leads (possibly a deposed leader
 * cut off from the others, which must then refuse), else round robin. One gRPC channel per store address.
 */
export class ScenarioClient {
  private readonly channels = new Map<string, TinyKvClient>();
  private turn = 0;

  constructor(
    /** The stores to send to (the running ones; a test may narrow them to one side of a partition). */
    private readonly nodes: () => ClusterNode[],
    private readonly attemptTimeoutMs = 1_000,
  ) {}

  private target(): ClusterNode | undefined {
    const nodes = this.nodes();
    const leaders = nodes.filter((node) => node.store.leaderRegions().length > 0);
    const pool = leaders.length > 0 ? leaders : nodes;
    return pool.length > 0 ? pool[this.turn++ % pool.length] : undefined;
  }

  private async channel(addr: string): Promise<TinyKvClient> {
    let client = this.channels.get(addr);
    if (!client) {
      client = await connect({ node: addr, requestTimeoutMs: this.attemptTimeoutMs, maxRetries: 0 });
      this.channels.set(addr, client);
    }
    return client;
  }

  /** One try; not ok on any client error (region error, timeout, store down): a write's outcome is then unknown. */
  async attempt<T>(op: (client: TinyKvClient) => Promise<T>): Promise<Attempt<T>> {
    const node = this.target();
    if (!node) {
      await sleep(20);
      return { ok: false, error: new Error('no store is up') };
    }
    try {
      return { ok: true, value: await op(await this.channel(node.addr)) };
    } catch (error) {
      if (!(error instanceof ClientError)) throw error;
      return { ok: false, error };
    }
  }

  /** Retries until an attempt succeeds; throws at the deadline (a liveness failure). */
  async must<T>(what: string, op: (client: TinyKvClient) => Promise<T>, deadlineMs = 15_000): Promise<T> {
    const deadline = Date.now() + deadlineMs;
    for (;;) {
      const result = await this.attempt(op);
      if (result.ok) return result.value;
      if (Date.now() > deadline) throw new Error(`${what}: no success in ${deadlineMs} ms (last error: ${String(result.error)})`);
      await sleep(20);
    }
  }

  close(): void {
    // Closing a node-mode client only closes its channels: nothing to wait for.
    for (const client of this.channels.values()) void client.close();
    this.channels.clear();
  }
}

// ---- append clients -------------------------------------------------------------------------

const appendPrefix = (client: number) => `${client} `;
const appendKey = (client: number, j: number) => `${appendPrefix(client)}${String(j).padStart(8, '0')}`;
const appendValue = (client: number, j: number) => `x ${client} ${j} y`;

export interface AppendClientResult {
  readonly client: number;
  /** Appends acknowledged (keys 0..acked-1). */
  readonly acked: number;
  /** Whether append `acked` was being retried when the run stopped (it may or may not have applied). */
  readonly pending: boolean;
  readonly scans: number;
  /** Scans that did not return exactly the acknowledged appends. */
  readonly violations: readonly string[];
}

/** TinyKV's GenericTest client: half puts of the next append (retried until acknowledged), half scans. */
export async function appendClient(
  sc: ScenarioClient,
  client: number,
  rng: SeededRandom,
  stopped: () => boolean,
  /** Counts acknowledged appends as they happen (shared by the clients of a run). */
  progress: { acked: number } = { acked: 0 },
): Promise<AppendClientResult> {
  let acked = 0;
  let last = '';
  let scans = 0;
  const violations: string[] = [];
  while (!stopped()) {
    if (rng.chance(0.5)) {
      const key = appendKey(client, acked);
      const value = appendValue(client, acked);
      // The same put again after an unknown outcome is harmless: one key per append.
      for (;;) {
        if ((await sc.attempt((c) => c.put(key, value))).ok) break;
        if (stopped()) return { client, acked, pending: true, scans, violations };
        await sleep(20);
      }
      last += value;
      acked++;
      progress.acked++;
    } else {
      const result = await sc.attempt((c) => c.scan(appendPrefix(client), undefined, acked + 1));
      if (!result.ok) continue;
      scans++;
      const seen = result.value
        .filter((pair) => pair.key.toString().startsWith(appendPrefix(client)))
        .map((pair) => pair.value.toString())
        .join('');
      if (seen !== last) violations.push(`client ${client} scan after ${acked} appends: got "${seen}", want "${last}"`);
    }
  }
  return { client, acked, pending: false, scans, violations };
}

/**
 * TinyKV's checkClntAppends, per key: the client's keys must be exactly 0..acked-1 (plus `acked` if
 * that append was pending), each holding its own append. Returns what is wrong, or undefined.
 */
export function checkAppends(result: AppendClientResult, pairs: ReadonlyArray<{ key: Buffer; value: Buffer }>): string | undefined {
  const { client, acked, pending } = result;
  const mine = pairs.filter((pair) => pair.key.toString().startsWith(appendPrefix(client)));
  const allowed = pending ? [acked, acked + 1] : [acked];
  if (!allowed.includes(mine.length)) {
    return `client ${client}: ${mine.length} appends stored, ${acked} acknowledged${pending ? ' (+1 pending)' : ''}: ${mine.map((p) => p.value.toString()).join('|')}`;
  }
  for (let j = 0; j < mine.length; j++) {
    const { key, value } = defined(mine[j], 'mine[j]');
    if (key.toString() !== appendKey(client, j) || value.toString() !== appendValue(client, j)) {
      return `client ${client}: append ${j} is ${key.toString()}=${value.toString()}, want ${appendKey(client, j)}=${appendValue(client, j)}`;
    }
  }
  return undefined;
}

/**
 * Reads every append of a client back (retrying until the cluster answers) and checks them; with
 * `clear`, then deletes them, so the next round starts again from append 0 (as TinyKV's does).
 */
export async function verifyAppends(sc: ScenarioClient, result: AppendClientResult, clear: boolean): Promise<string | undefined> {
  const { client } = result;
  const pairs = await sc.must(`scan client ${client}`, (c) => c.scan(appendPrefix(client), undefined, result.acked + 10));
  const problem = checkAppends(result, pairs);
  if (clear) {
    const mine = pairs.filter((p) => p.key.toString().startsWith(appendPrefix(client)));
    await Promise.all(mine.map((pair) => sc.must(`delete ${pair.key.toString()}`, (c) => c.delete(pair.key))));
  }
  return problem;
}

// ---- register clients (linearizability) -----------------------------------------------------

export class RegisterHistory {
  readonly ops = new Map<string, RegisterOp[]>();
  constructor(readonly keys: readonly string[]) {
    for (const key of keys) this.ops.set(key, []);
  }

  count(kind: 'put' | 'get', answered: boolean): number {
    return [...this.ops.values()].flat().filter((op) => op.kind === kind && (op.response !== Infinity) === answered).length;
  }

  /** Runs the checker on every key; returns the first key whose history is not linearizable. */
  check(): string | undefined {
    for (const [key, ops] of this.ops) {
      const result = checkRegister(ops);
      if (!result.ok) return `history of ${key} is not linearizable:\n${JSON.stringify(result.history)}`;
    }
    return undefined;
  }
}

const now = () => performance.now();

/** Random gets and puts (unique values) on the history's keys, at most `maxOps`. */
export async function registerClient(
  sc: ScenarioClient,
  client: number,
  history: RegisterHistory,
  rng: SeededRandom,
  stopped: () => boolean,
  maxOps = 60,
): Promise<void> {
  for (let n = 0; n < maxOps && !stopped(); n++) {
    const key = rng.pick(history.keys);
    const ops = history.ops.get(key)!;
    const invoke = now();
    if (rng.chance(0.5)) {
      const value = `r${client}-${n}`;
      const result = await sc.attempt((c) => c.put(key, value));
      ops.push({ kind: 'put', value, invoke, response: result.ok ? now() : Infinity });
    } else {
      const result = await sc.attempt((c) => c.get(key));
      // A read with no answer says nothing.
      if (result.ok) ops.push({ kind: 'get', value: result.value?.toString(), invoke, response: now() });
    }
    await sleep(rng.between(5, 40));
  }
}

/** A final read of every key (after healing), joined to the history. */
export async function finalReads(sc: ScenarioClient, history: RegisterHistory): Promise<void> {
  for (const key of history.keys) {
    const start = now();
    for (;;) {
      const invoke = now();
      const result = await sc.attempt((c) => c.get(key));
      if (result.ok) {
        history.ops.get(key)!.push({ kind: 'get', value: result.value?.toString(), invoke, response: now() });
        break;
      }
      if (now() - start > 15_000) throw new Error(`final read of ${key}: no answer`);
      await sleep(20);
    }
  }
}
