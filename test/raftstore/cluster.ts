// A whole cluster in one thread: N stores on memory engines, a simulated network with filters,
// and logical time. Everything random comes from one seed, so a run replays exactly. Each store
// runs the threaded store's code (sim-node.ts): a raft poller and an apply thread on in-process
// channels carrying the same encoded frames as between threads.
import { inspect } from 'node:util';
import { DATA_COLUMN_FAMILIES } from '../../src/engine/engine.js';
import { MemoryEngine } from '../../src/engine/memory-engine.js';
import { silentLogger } from '../../src/log/logger.js';
import { ConfChangeType } from '../../src/proto/eraftpb.js';
import type { Peer, Region, RegionEpoch } from '../../src/proto/metapb.js';
import { AdminCmdType, RaftCmdRequest, type RaftCmdResponse } from '../../src/proto/raft_cmdpb.js';
import { RegionLocalState, type RaftMessage } from '../../src/proto/raft_serverpb.js';
import { SeededRandom } from '../../src/raft/index.js';
import { DEFAULT_RAFTSTORE_CONFIG, type RaftstoreConfig } from '../../src/raftstore/config.js';
import { RegionError } from '../../src/raftstore/router/errors.js';
import type { PeerEngines } from '../../src/raftstore/peer/peer-storage.js';
import { RaftKvStorage } from '../../src/storage/raft-kv-storage.js';
import { findPeerOnStore } from '../../src/raftstore/region.js';
import { regionStateKey } from '../../src/raftstore/keys.js';
import { transferLeaderCommand } from '../../src/server/heartbeat-commands.js';
import { SimNode } from './sim-node.js';
import type { MonotonicClock } from '../../src/env/clock.js';
import { assert, defined } from '../../src/util/assert.js';

export type Filter = (message: RaftMessage, fromStore: number, toStore: number) => boolean; // true = drop

export interface SimClusterOptions {
  readonly stores: number;
  readonly seed: number;
  readonly config?: Partial<RaftstoreConfig>;
  /** False: no main-thread lease reads (every read goes to the poller). Default true. */
  readonly localReads?: boolean;
}

export class SimCluster {
  readonly rng: SeededRandom;
  readonly engines = new Map<number, PeerEngines>();
  readonly stores = new Map<number, SimNode>();
  private queue: Array<{ message: RaftMessage; bytes: Uint8Array; from: number; to: number }> = [];
  private filters: Filter[] = [];
  readonly config: RaftstoreConfig;
  readonly region: Region;
  /** Stores that are down (crashed and not restarted). */
  readonly down = new Set<number>();
  /**
   * Stores whose raft poller is stalled (pause): no tick, no message, no command reaches it, while
   * its main thread still serves the reads its lease table allows and the clock moves on.
   */
  readonly paused = new Set<number>();
  /**
   * Logical time in ms, what leader leases are measured on: each step is one base tick. Tests may
   * move it on its own (a clock jump) with `advanceClock`.
   */
  private clockMs = 1_000;
  readonly clock: MonotonicClock = { nowMs: () => this.clockMs };
  /** Per region, the peer seen leading each term (checkOneLeaderPerTerm). */
  private readonly leadersByTerm = new Map<number, Map<number, number>>();

  constructor(readonly options: SimClusterOptions) {
    this.rng = new SeededRandom(options.seed);
    this.config = { ...DEFAULT_RAFTSTORE_CONFIG, raftLogGcTickInterval: 1, ...options.config };
    const ids = Array.from({ length: options.stores }, (_, i) => i + 1);
    this.region = {
      id: 1,
      startKey: Buffer.alloc(0),
      endKey: Buffer.alloc(0),
      regionEpoch: { confVer: 1, version: 1 },
      peers: ids.map((storeId) => ({ id: storeId + 100, storeId })),
    };
    for (const id of ids) this.engines.set(id, { raft: new MemoryEngine(), kv: new MemoryEngine() });
  }

  async start(): Promise<void> {
    for (const id of this.engines.keys()) {
      const store = await this.newStore(id);
      await store.createRegion(this.region);
    }
  }

  private async newStore(id: number): Promise<SimNode> {
    const store = new SimNode({
      storeId: id,
      engines: this.engines.get(id)!,
      config: this.config,
      random: this.rng.fork().asSource(),
      logger: silentLogger(),
      send: (message, bytes, to) => this.queue.push({ message, bytes, from: id, to }),
      clock: this.clock,
      localReads: this.options.localReads,
    });
    this.stores.set(id, store);
    await store.start();
    return store;
  }

  addFilter(filter: Filter): void {
    this.filters.push(filter);
  }

  clearFilters(): void {
    this.filters = [];
  }

  /** Cuts every link between the two groups. */
  partition(a: number[], b: number[]): void {
    const inA = new Set(a);
    const inB = new Set(b);
    this.addFilter((_m, from, to) => (inA.has(from) && inB.has(to)) || (inB.has(from) && inA.has(to)));
  }

  isolate(id: number): void {
    this.addFilter((_m, from, to) => from === id || to === id);
  }

  dropRandomly(probability: number): void {
    this.addFilter(() => this.rng.chance(probability));
  }

  /** Crash: the store stops at once; what its engines hold survives. */
  async crash(id: number): Promise<void> {
    this.paused.delete(id);
    const store = this.stores.get(id)!;
    this.stores.delete(id);
    this.down.add(id);
    await store.stop();
  }

  /** Adds an empty store (no regions): it gets peers only from Raft messages. */
  async addStore(id: number): Promise<SimNode> {
    assert(!this.engines.has(id), `store ${id} exists`);
    this.engines.set(id, { raft: new MemoryEngine(), kv: new MemoryEngine() });
    return this.newStore(id);
  }

  /** Sends ChangePeer AddNode of peer `peerId` on store `storeId` to the region's leader (retrying region errors). */
  async addPeer(regionId: number, storeId: number, peerId: number, maxSteps = 300): Promise<RaftCmdResponse> {
    return this.changePeer(regionId, ConfChangeType.AddNode, { id: peerId, storeId }, maxSteps);
  }

  /** Sends ChangePeer RemoveNode to the region's leader (retrying region errors). */
  async removePeer(regionId: number, storeId: number, peerId: number, maxSteps = 300): Promise<RaftCmdResponse> {
    return this.changePeer(regionId, ConfChangeType.RemoveNode, { id: peerId, storeId }, maxSteps);
  }

  /**
   * Proposes ChangePeer to the current leader until it is answered without a region error; with
   * the leader's current epoch unless `epoch` is given (a scheduler re-sending with an old one).
   */
  async changePeer(regionId: number, changeType: ConfChangeType, peer: Peer, maxSteps = 300, epoch?: RegionEpoch): Promise<RaftCmdResponse> {
    for (let attempt = 0; attempt < maxSteps;) {
      let answer: RaftCmdResponse | undefined;
      if (!this.proposeChangePeer(regionId, changeType, peer, (response) => (answer = response), epoch)) {
        await this.step();
        attempt++;
        continue;
      }
      while (answer === undefined && attempt < maxSteps) {
        await this.step();
        attempt++;
      }
      if (answer && !answer.header?.error) return answer;
    }
    throw new Error(`conf change did not complete in ${maxSteps} steps (seed ${this.options.seed})`);
  }

  /**
   * Proposes ChangePeer once to the store that leads the region now (with its epoch unless `epoch`
   * is given) without waiting: `onAnswer` gets the response, region errors included. Returns false
   * when no store leads.
   */
  proposeChangePeer(
    regionId: number,
    changeType: ConfChangeType,
    peer: Peer,
    onAnswer: (response: RaftCmdResponse) => void,
    epoch?: RegionEpoch,
  ): boolean {
    const leader = this.leaderStore(regionId);
    const leaderPeer = leader === undefined ? undefined : this.stores.get(leader)?.peer(regionId);
    if (leader === undefined || !leaderPeer) return false;
    const request = RaftCmdRequest.fromPartial({
      header: { regionId, peer: leaderPeer.meta, regionEpoch: epoch ?? leaderPeer.region.regionEpoch },
      adminRequest: { cmdType: AdminCmdType.ChangePeer, changePeer: { changeType, peer } },
    });
    defined(this.stores.get(leader), 'leader store').propose(request, (result) => onAnswer(result.response));
    return true;
  }

  /** Starts the store again on what its engines hold. */
  async restart(id: number): Promise<void> {
    this.down.delete(id);
    await this.newStore(id);
  }

  /** One unit of logical time: deliver what is in flight (in a seeded order), tick everyone, settle. */
  async step(): Promise<void> {
    const batch = this.queue;
    this.queue = [];
    for (let i = batch.length - 1; i > 0; i--) {
      const j = this.rng.int(i + 1);
      [batch[i], batch[j]] = [defined(batch[j], 'batch[j]'), defined(batch[i], 'batch[i]')];
    }
    for (const item of batch) {
      const { message, bytes, from, to } = item;
      if (this.filters.some((f) => f(message, from, to))) continue;
      // A stalled poller reads its channel later: the message waits, as in a socket buffer.
      if (this.paused.has(to)) {
        this.queue.push(item);
        continue;
      }
      // As off the wire: the bytes the sending poller encoded.
      this.stores.get(to)?.onRaftMessageBytes(bytes);
    }
    this.clockMs += this.config.raftBaseTickMs;
    for (const [id, store] of this.stores) if (!this.paused.has(id)) store.tick();
    await this.settle();
  }

  /** Stalls a store's raft poller (a long GC pause, a stuck disk) until `resume`. */
  pause(id: number): void {
    this.paused.add(id);
  }

  resume(id: number): void {
    this.paused.delete(id);
  }

  /** Moves logical time on without ticking anyone (a pause of every thread, seen from the clock). */
  advanceClock(ms: number): void {
    this.clockMs += ms;
  }

  /** Lets every store finish what it has (a store settles until its channels are quiet). */
  async settle(): Promise<void> {
    for (const [id, store] of this.stores) if (!this.paused.has(id)) await store.settle();
  }

  async run(steps: number): Promise<void> {
    for (let i = 0; i < steps; i++) await this.step();
  }

  leaderStore(regionId = 1): number | undefined {
    // A peer whose removal applied may still think it leads until it is destroyed.
    for (const [id, store] of this.stores) {
      const peer = store.peer(regionId);
      if (peer?.isLeader() && !peer.isRemoved()) return id;
    }
    return undefined;
  }

  async waitLeader(maxSteps = 200): Promise<number> {
    for (let i = 0; i < maxSteps; i++) {
      const leader = this.leaderStore();
      if (leader !== undefined) return leader;
      await this.step();
    }
    throw new Error(`no leader after ${maxSteps} steps (seed ${this.options.seed})`);
  }

  /**
   * Moves the leadership of a region to the peer on `storeId` by a TransferLeader admin command to
   * the current leader, asked again every `retrySteps` (as a scheduler re-sends until it sees the
   * move). Throws when the peer does not lead within `maxSteps`.
   */
  async transferLeader(regionId: number, storeId: number, maxSteps = 300, retrySteps = 30): Promise<void> {
    for (let i = 0; i < maxSteps; i++) {
      const leader = this.leaderStore(regionId);
      if (leader === storeId) return;
      if (leader !== undefined && i % retrySteps === 0 && !this.proposeTransferLeader(regionId, storeId)) {
        throw new Error(`region ${regionId} has no peer on store ${storeId} (seed ${this.options.seed})`);
      }
      await this.step();
    }
    throw new Error(`region ${regionId}: store ${storeId} does not lead after ${maxSteps} steps (seed ${this.options.seed})`);
  }

  /**
   * Asks the store that leads the region now, once and without waiting, to hand leadership to
   * the region's peer on `storeId`. Returns false when no store leads or the region (as the
   * leader knows it) has no peer there.
   */
  proposeTransferLeader(regionId: number, storeId: number): boolean {
    const leader = this.leaderStore(regionId);
    const leading = leader === undefined ? undefined : this.stores.get(leader)?.peer(regionId);
    const target = leading ? findPeerOnStore(leading.region, storeId) : undefined;
    if (!leading || !target) return false;
    defined(this.stores.get(leader ?? 0), 'leader store').propose(transferLeaderCommand(leading.region, leading.meta, target), () => {});
    return true;
  }

  /**
   * Runs a storage operation against the current leader while time moves on, retrying region
   * errors (NotLeader and friends) like a client would. Throws after `maxSteps`.
   */
  async withLeader<T>(op: (storage: RaftKvStorage) => Promise<T>, maxSteps = 300): Promise<T> {
    for (let attempt = 0; attempt < maxSteps;) {
      const leader = this.leaderStore();
      if (leader === undefined) {
        await this.step();
        attempt++;
        continue;
      }
      const storage = new RaftKvStorage(this.stores.get(leader)!, 60_000);
      let settled = false;
      let outcome: { value?: T; error?: unknown } = {};
      void op(storage).then(
        (value) => ((settled = true), (outcome = { value })),
        (error) => ((settled = true), (outcome = { error })),
      );
      while (!settled && attempt < maxSteps) {
        await this.step();
        attempt++;
      }
      if (!settled) break;
      if (outcome.error === undefined) return outcome.value as T;
      if (!(outcome.error instanceof RegionError)) throw outcome.error instanceof Error ? outcome.error : new Error(inspect(outcome.error));
    }
    throw new Error(`operation did not complete in ${maxSteps} steps (seed ${this.options.seed})`);
  }

  async put(key: string, value: string): Promise<void> {
    await this.withLeader((s) => s.write(undefined, [{ type: 'put', cf: 'default', key: Buffer.from(key), value: Buffer.from(value) }]));
  }

  async get(key: string): Promise<string | undefined> {
    return this.withLeader(async (s) => {
      const reader = await s.reader(undefined, Buffer.from(key));
      try {
        return reader.getCF('default', Buffer.from(key))?.toString();
      } finally {
        reader.close();
      }
    });
  }

  /**
   * Raft safety, checked on what the stores show now: no two peers of the region lead in one term.
   * Every leader seen is remembered, so call it after every step.
   */
  checkOneLeaderPerTerm(regionId = 1): void {
    let terms = this.leadersByTerm.get(regionId);
    if (!terms) this.leadersByTerm.set(regionId, (terms = new Map()));
    for (const [storeId, store] of this.stores) {
      const peer = store.peer(regionId);
      if (!peer?.isLeader()) continue;
      const known = terms.get(peer.term());
      if (known === undefined) terms.set(peer.term(), peer.meta.id);
      else if (known !== peer.meta.id) {
        throw new Error(
          `region ${regionId}: peers ${known} and ${peer.meta.id} (store ${storeId}) both lead term ${peer.term()} (seed ${this.options.seed})`,
        );
      }
    }
  }

  /** Every data key and value a store's kv engine holds, family by family, as hex (one region spans all keys). */
  dataOf(storeId: number): string[] {
    const kv = defined(this.engines.get(storeId), `engines of store ${storeId}`).kv;
    const snapshot = kv.snapshot();
    try {
      return DATA_COLUMN_FAMILIES.flatMap((cf) =>
        [...snapshot.scan(cf)].map(({ key, value }) => `${cf}:${key.toString('hex')}=${value.toString('hex')}`),
      );
    } finally {
      snapshot.close();
    }
  }

  /** The RegionLocalState a store's kv engine holds for the region, if any. */
  regionStateOf(storeId: number, regionId = 1): RegionLocalState | undefined {
    const bytes = defined(this.engines.get(storeId), `engines of store ${storeId}`).kv.get('meta', regionStateKey(regionId));
    return bytes ? RegionLocalState.decode(bytes) : undefined;
  }

  /** The value a store's kv engine holds right now (no Raft), for convergence checks. */
  localValue(storeId: number, key: string): string | undefined {
    return this.engines.get(storeId)!.kv.get('default', Buffer.from(key))?.toString();
  }
}

export function seedFromEnv(fallback: number): number {
  const fromEnv = process.env.RAFTSTORE_SEED;
  return fromEnv ? Number(fromEnv) : fallback;
}
