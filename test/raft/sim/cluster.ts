/**
 * A seeded, single-threaded simulation of a Raft cluster: nodes with durable
 * MemoryStorage and a durable hash-chain state machine, a network that drops,
 * delays, reorders and duplicates messages, partitions, crash-restarts,
 * compaction with snapshots, conf changes, leader transfers and ReadIndex.
 * Everything random comes from one SeededRandom, so a seed replays exactly.
 */
import { ConfChange, ConfChangeType, ConfState, Entry, EntryType, Message, MessageType, Snapshot } from '../../../src/proto/eraftpb.js';
import { ErrSnapshotTemporarilyUnavailable, RaftError } from '../../../src/raft/errors.js';
import { RawNode, type Ready } from '../../../src/raft/raw-node.js';
import { SeededRandom } from '../../../src/raft/rng.js';
import { MemoryStorage, snapshotIndex, type InitialState } from '../../../src/raft/storage.js';
import { Checkers, SafetyViolation } from './checkers.js';
import { chainHash, decodeSnapshotData, encodeSnapshotData, type AppliedState } from './state-machine.js';
import { defined } from '../../../src/raft/assert.js';

export interface FaultProfile {
  dropRate: number;
  duplicateRate: number;
  maxDelayTicks: number;
  crashRate: number;
  partitionRate: number;
  compactRate: number;
  proposeRate: number;
  confChangeRate: number;
  transferRate: number;
  readRate: number;
  snapshotUnavailableRate: number;
  /** Round-trip every message through protobuf encode/decode. */
  wireEncode: boolean;
  preVote: boolean;
  checkQuorum: boolean;
  maxInflightMsgs: number;
  maxSizePerMsgBytes: number;
}

/** MemoryStorage whose snapshot is generated on demand from the applied state (like TinyKV's PeerStorage). */
class SimStorage extends MemoryStorage {
  constructor(
    private readonly owner: SimNode,
    private readonly rng: SeededRandom,
    private readonly unavailableRate: number,
  ) {
    super();
  }

  override initialState(): InitialState {
    const s = super.initialState();
    return { hardState: s.hardState, confState: { nodes: [...this.owner.applied.confState.nodes] } };
  }

  override snapshot(): Snapshot {
    const applied = this.owner.applied;
    const current = super.snapshot();
    if (applied.index > snapshotIndex(current)) {
      if (this.rng.chance(this.unavailableRate)) throw new ErrSnapshotTemporarilyUnavailable();
      return this.createSnapshot(applied.index, applied.confState, encodeSnapshotData(applied));
    }
    return current;
  }
}

export class SimNode {
  node: RawNode | undefined;
  readonly storage: SimStorage;
  applied: AppliedState;
  destroyed = false;
  lastCommit = 0;
  restarts = 0;

  constructor(
    readonly id: number,
    initialPeers: number[],
    rng: SeededRandom,
    unavailableRate: number,
    bootstrapIndex: number,
  ) {
    this.applied = { index: 0, hash: 0, confState: { nodes: [...initialPeers] } };
    this.storage = new SimStorage(this, rng, unavailableRate);
    if (bootstrapIndex > 0 && initialPeers.length > 0) {
      // TinyKV style: founding replicas start from a snapshot at (5, 5), so a
      // replica added later can only catch up through a snapshot that carries
      // the configuration (it never replays a log that lacks the founders).
      this.applied = { index: bootstrapIndex, hash: 0, confState: { nodes: [...initialPeers] } };
      this.storage.applySnapshot({
        data: encodeSnapshotData(this.applied),
        metadata: { index: bootstrapIndex, term: bootstrapIndex, confState: { nodes: [...initialPeers] } },
      });
      this.storage.setHardState({ term: bootstrapIndex, vote: 0, commit: bootstrapIndex });
    }
  }

  get alive(): boolean {
    return this.node !== undefined && !this.destroyed;
  }
}

interface InFlight {
  deliverAt: number;
  msg: Message;
}

interface PendingRead {
  requestedAtCommit: number;
  nodeId: number;
  term: number;
}

export interface SimStats {
  rounds: number;
  delivered: number;
  dropped: number;
  proposals: number;
  committed: number;
  crashes: number;
  snapshotsSent: number;
  confChanges: number;
  transfers: number;
  readsServed: number;
  leadersElected: number;
}

export class SimCluster {
  readonly nodes = new Map<number, SimNode>();
  readonly checkers = new Checkers();
  readonly stats: SimStats = {
    rounds: 0,
    delivered: 0,
    dropped: 0,
    proposals: 0,
    committed: 0,
    crashes: 0,
    snapshotsSent: 0,
    confChanges: 0,
    transfers: 0,
    readsServed: 0,
    leadersElected: 0,
  };
  now = 0;
  private inflight: InFlight[] = [];
  /** node id -> partition group; nodes in different groups cannot talk. */
  private groups = new Map<number, number>();
  private nextId: number;
  private proposalSeq = 0;
  private readSeq = 0;
  private readonly reads = new Map<string, PendingRead>();
  readonly trace: string[] = [];
  private readonly traceOn: boolean;
  faultsOn = true;

  /** Index of the founding snapshot (0: start from an empty log at term 0). */
  readonly bootstrapIndex: number;

  constructor(
    readonly rng: SeededRandom,
    readonly size: number,
    readonly profile: FaultProfile,
    trace = false,
  ) {
    this.traceOn = trace;
    this.bootstrapIndex = profile.confChangeRate > 0 || rng.chance(0.3) ? 5 : 0;
    const peers = Array.from({ length: size }, (_, k) => k + 1);
    for (const id of peers) this.createNode(id, peers);
    this.nextId = size + 1;
  }

  private log(line: () => string): void {
    if (this.traceOn) this.trace.push(`[${this.now}] ${line()}`);
  }

  private createNode(id: number, peers: number[]): SimNode {
    const n = new SimNode(id, peers, this.rng.fork(), this.profile.snapshotUnavailableRate, this.bootstrapIndex);
    this.nodes.set(id, n);
    this.start(n);
    return n;
  }

  private start(n: SimNode): void {
    n.node = new RawNode({
      id: n.id,
      electionTick: 10,
      heartbeatTick: 2,
      storage: n.storage,
      applied: n.applied.index,
      random: this.rng.fork().asSource(),
      preVote: this.profile.preVote,
      checkQuorum: this.profile.checkQuorum,
      maxInflightMsgs: this.profile.maxInflightMsgs,
      maxSizePerMsgBytes: this.profile.maxSizePerMsgBytes,
    });
    n.lastCommit = n.node.status().commit;
  }

  // ------------------------------------------------------------- network

  private canTalk(a: number, b: number): boolean {
    return (this.groups.get(a) ?? 0) === (this.groups.get(b) ?? 0);
  }

  private enqueue(msg: Message): void {
    const p = this.profile;
    const faults = this.faultsOn;
    const copies = faults && this.rng.chance(p.duplicateRate) ? 2 : 1;
    for (let c = 0; c < copies; c++) {
      const delay = faults ? this.rng.int(p.maxDelayTicks + 1) : 0;
      const m = p.wireEncode ? Message.decode(Message.encode(msg).finish()) : msg;
      this.inflight.push({ deliverAt: this.now + delay, msg: m });
    }
    if (msg.msgType === MessageType.MsgSnapshot) this.stats.snapshotsSent++;
  }

  /** Delivers every due message (random order), including ones produced meanwhile with no delay. */
  private deliverDue(): void {
    for (let guard = 0; guard < 50; guard++) {
      const due: InFlight[] = [];
      const later: InFlight[] = [];
      for (const f of this.inflight) (f.deliverAt <= this.now ? due : later).push(f);
      if (due.length === 0) return;
      this.inflight = later;
      // Fisher-Yates shuffle: reordering.
      for (let k = due.length - 1; k > 0; k--) {
        const j = this.rng.int(k + 1);
        const t = defined(due[k], 'due[k]');
        due[k] = defined(due[j], 'due[j]');
        due[j] = t;
      }
      for (const f of due) this.deliver(f.msg);
    }
  }

  private deliver(m: Message): void {
    const target = this.nodes.get(m.to);
    const drop = !this.canTalk(m.from, m.to) || (this.faultsOn && this.rng.chance(this.profile.dropRate));
    if (target === undefined || !target.alive || drop) {
      this.stats.dropped++;
      return;
    }
    this.stats.delivered++;
    this.log(() => `deliver ${describe(m)}`);
    try {
      (target.node as RawNode).step(m);
    } catch (err) {
      if (!(err instanceof RaftError) || err.code === 'Raft:Invariant') throw err;
    }
    this.afterStep(target);
  }

  // --------------------------------------------------------- ready loop

  private afterStep(n: SimNode): void {
    const node = n.node;
    if (node === undefined) return;
    if (node.raft.state === 'Leader') this.checkers.onLeader(n.id, node.raft.term, node.raft);
    this.handleReady(n);
  }

  private handleReady(n: SimNode): void {
    let guard = 0;
    while (n.alive && (n.node as RawNode).hasReady()) {
      if (++guard > 100) throw new SafetyViolation(`node ${n.id}: hasReady() never becomes false`);
      const node = n.node as RawNode;
      const rd = node.ready();
      if (rd.softState?.raftState === 'Leader') {
        this.stats.leadersElected++;
        this.log(() => `node ${n.id} becomes leader of term ${node.raft.term}`);
      }
      this.persist(n, rd);
      if (this.faultsOn && this.rng.chance(this.profile.crashRate / 10)) {
        this.crash(n, 'after persist, before send/apply');
        return;
      }
      for (const m of rd.messages) this.enqueue(m);
      this.apply(n, rd);
      if (!n.alive) return;
      node.advance(rd);
    }
  }

  private persist(n: SimNode, rd: Ready): void {
    const raft = (n.node as RawNode).raft;
    if (rd.snapshot !== undefined) {
      n.storage.applySnapshot(rd.snapshot);
      const data = decodeSnapshotData(rd.snapshot.data);
      const index = snapshotIndex(rd.snapshot);
      if (data.index !== index) throw new SafetyViolation(`snapshot data index ${data.index} != metadata ${index}`);
      this.checkers.onSnapshot(n.id, index, data.hash);
      n.applied = {
        index,
        hash: data.hash,
        confState: { nodes: [...(rd.snapshot.metadata?.confState?.nodes ?? [])] },
      };
      this.log(() => `node ${n.id} installs snapshot at ${index}`);
    }
    if (rd.entries.length > 0) {
      this.checkers.onEntries(n.id, rd.entries, (i) => raft.log.termOrUndefined(i));
      n.storage.append(rd.entries);
    }
    if (rd.hardState !== undefined) {
      this.checkers.onHardState(n.id, rd.hardState.term, rd.hardState.commit);
      if (rd.hardState.commit > n.lastCommit) {
        this.checkers.onCommit(n.id, n.lastCommit, rd.hardState.commit, raft);
        n.lastCommit = rd.hardState.commit;
      }
      n.storage.setHardState(rd.hardState);
    }
  }

  private apply(n: SimNode, rd: Ready): void {
    for (const rs of rd.readStates) this.serveRead(n, rs.index, Buffer.from(rs.requestCtx).toString());
    for (const e of rd.committedEntries) {
      if (e.index <= n.applied.index) continue;
      if (e.index !== n.applied.index + 1) {
        throw new SafetyViolation(`node ${n.id} applies ${e.index} after ${n.applied.index}: gap`);
      }
      let confState = n.applied.confState;
      if (e.entryType === EntryType.EntryConfChange) confState = this.applyConfChange(n, e);
      const hash = chainHash(n.applied.hash, e);
      this.checkers.onApply(n.id, e, hash);
      n.applied = { index: e.index, hash, confState };
      this.stats.committed = Math.max(this.stats.committed, e.index);
      if (n.destroyed) return;
    }
  }

  private applyConfChange(n: SimNode, e: Entry): ConfState {
    const cc = ConfChange.decode(e.data);
    const cs = (n.node as RawNode).applyConfChange(cc);
    this.log(() => `node ${n.id} applies ${ConfChangeType[cc.changeType]} ${cc.nodeId} -> [${cs.nodes.join(',')}]`);
    if (cc.changeType === ConfChangeType.RemoveNode && cc.nodeId === n.id) {
      // A removed replica destroys itself, as TinyKV's raftstore does.
      n.destroyed = true;
      n.node = undefined;
    }
    return cs;
  }

  private serveRead(n: SimNode, index: number, ctx: string): void {
    const r = this.reads.get(ctx);
    if (r === undefined) throw new SafetyViolation(`unknown read ${ctx} served by ${n.id}`);
    this.reads.delete(ctx);
    if (index < r.requestedAtCommit) {
      throw new SafetyViolation(`linearizability: read ${ctx} got index ${index} < commit ${r.requestedAtCommit} when requested`);
    }
    this.stats.readsServed++;
  }

  // ------------------------------------------------------------- actions

  private crash(n: SimNode, why: string): void {
    this.log(() => `crash node ${n.id} (${why})`);
    n.node = undefined;
    this.stats.crashes++;
  }

  restart(n: SimNode): void {
    if (n.destroyed || n.node !== undefined) return;
    n.restarts++;
    this.start(n);
    this.log(() => `restart node ${n.id} (commit ${n.lastCommit}, applied ${n.applied.index})`);
    this.afterStep(n);
  }

  leaders(): SimNode[] {
    return [...this.nodes.values()].filter((n) => n.alive && n.node?.raft.state === 'Leader');
  }

  /** The leader with the highest term, if any. */
  leader(): SimNode | undefined {
    let best: SimNode | undefined;
    for (const n of this.leaders()) {
      if (best === undefined || (n.node as RawNode).raft.term > (best.node as RawNode).raft.term) best = n;
    }
    return best;
  }

  private live(): SimNode[] {
    return [...this.nodes.values()].filter((n) => n.alive);
  }

  propose(n: SimNode, data?: string): boolean {
    const payload = Buffer.from(data ?? `p${++this.proposalSeq}`);
    try {
      (n.node as RawNode).propose(payload);
      this.stats.proposals++;
      return true;
    } catch (err) {
      if (err instanceof RaftError && err.code === 'Raft:ProposalDropped') return false;
      throw err;
    } finally {
      this.afterStep(n);
    }
  }

  private proposeConfChange(n: SimNode): void {
    const raft = (n.node as RawNode).raft;
    const members = [...raft.tracker.ids()];
    const canAdd = members.length < this.size + 2;
    const canRemove = members.length > 3;
    let cc: ConfChange;
    if (canAdd && (!canRemove || this.rng.chance(0.5))) {
      const id = this.nextId++;
      this.createNode(id, []);
      cc = ConfChange.create({ changeType: ConfChangeType.AddNode, nodeId: id });
    } else if (canRemove) {
      cc = ConfChange.create({ changeType: ConfChangeType.RemoveNode, nodeId: this.rng.pick(members) });
    } else {
      return;
    }
    try {
      (n.node as RawNode).proposeConfChange(cc);
      this.stats.confChanges++;
      this.log(() => `node ${n.id} proposes ${ConfChangeType[cc.changeType]} ${cc.nodeId}`);
    } catch (err) {
      if (!(err instanceof RaftError && err.code === 'Raft:ProposalDropped')) throw err;
    }
    this.afterStep(n);
  }

  private requestRead(n: SimNode): void {
    const ctx = `r${++this.readSeq}`;
    try {
      (n.node as RawNode).readIndex(Buffer.from(ctx));
      this.reads.set(ctx, { requestedAtCommit: this.checkers.maxCommitted, nodeId: n.id, term: n.node!.raft.term });
    } catch (err) {
      if (!(err instanceof RaftError && err.code === 'Raft:ProposalDropped')) throw err;
    }
    this.afterStep(n);
  }

  private repartition(): void {
    const ids = [...this.nodes.keys()];
    this.groups.clear();
    const kind = this.rng.int(3);
    if (kind === 0) {
      this.log(() => 'heal partitions');
      return;
    }
    if (kind === 1) {
      const victim = this.rng.pick(ids);
      this.groups.set(victim, 1);
      this.log(() => `isolate node ${victim}`);
      return;
    }
    for (const id of ids) this.groups.set(id, this.rng.int(2));
    this.log(() => `partition ${ids.map((id) => `${id}:${this.groups.get(id)}`).join(' ')}`);
  }

  private compact(n: SimNode): void {
    const first = n.storage.firstIndex();
    const applied = n.applied.index;
    if (applied < first) return;
    const index = this.rng.between(first, applied);
    if (this.rng.chance(0.5)) {
      try {
        n.storage.createSnapshot(applied, n.applied.confState, encodeSnapshotData(n.applied));
      } catch {
        /* already have a newer snapshot */
      }
    }
    n.storage.compact(index);
    this.log(() => `node ${n.id} compacts to ${index}`);
  }

  /** One simulated tick: ticks, deliveries and random events. */
  round(): void {
    this.now++;
    this.stats.rounds++;
    const p = this.profile;
    for (const n of this.nodes.values()) {
      if (!n.alive) continue;
      // Small clock skew: a node occasionally misses a tick.
      if (this.faultsOn && this.rng.chance(0.02)) continue;
      (n.node as RawNode).tick();
      this.afterStep(n);
    }
    this.deliverDue();
    if (!this.faultsOn) return;
    this.randomEvents(p);
  }

  private randomEvents(p: FaultProfile): void {
    const leader = this.leader();
    if (leader !== undefined && this.rng.chance(p.proposeRate)) {
      const k = this.rng.chance(0.2) ? this.rng.between(2, 8) : 1;
      for (let i = 0; i < k && leader.alive; i++) this.propose(leader);
    }
    const live = this.live();
    if (live.length > 0 && this.rng.chance(p.proposeRate / 10)) this.propose(this.rng.pick(live));
    if (leader?.alive && this.rng.chance(p.readRate)) this.requestRead(leader);
    if (leader?.alive && this.rng.chance(p.confChangeRate)) this.proposeConfChange(leader);
    if (leader?.alive && this.rng.chance(p.transferRate)) {
      const target = this.rng.pick([...(leader.node as RawNode).raft.tracker.ids()]);
      this.stats.transfers++;
      this.log(() => `transfer leadership ${leader.id} -> ${target}`);
      (leader.node as RawNode).transferLeader(target);
      this.afterStep(leader);
    }
    if (this.rng.chance(p.partitionRate)) this.repartition();
    if (live.length > 0 && this.rng.chance(p.compactRate)) this.compact(this.rng.pick(live));
    if (this.rng.chance(p.crashRate)) {
      const candidates = [...this.nodes.values()].filter((n) => !n.destroyed);
      const n = this.rng.pick(candidates);
      if (n.alive) this.crash(n, 'random');
      else this.restart(n);
    }
    for (const n of this.nodes.values()) {
      if (!n.destroyed && n.node === undefined && this.rng.chance(0.05)) this.restart(n);
    }
  }

  /** Heals the network, restarts crashed nodes, stops nodes outside the leader's configuration. */
  heal(): void {
    this.faultsOn = false;
    this.groups.clear();
    for (const n of this.nodes.values()) this.restart(n);
  }

  /** Stops replicas that are not in `members` (as TinyKV's stale-peer GC would). */
  retire(members: readonly number[]): void {
    for (const n of this.nodes.values()) {
      if (!members.includes(n.id) && !n.destroyed) {
        this.log(() => `retire node ${n.id}`);
        n.destroyed = true;
        n.node = undefined;
      }
    }
  }

  pendingReads(): number {
    return this.reads.size;
  }
}

export function describe(m: Message): string {
  const t = MessageType[m.msgType] ?? String(m.msgType);
  let s = `${m.from}->${m.to} ${t} term=${m.term}`;
  if (m.msgType === MessageType.MsgAppend) {
    s += ` prev=${m.index}/${m.logTerm} commit=${m.commit} entries=[${m.entries.map((e) => `${e.index}/${e.term}`).join(',')}]`;
  } else if (m.msgType === MessageType.MsgAppendResponse) {
    s += ` index=${m.index}${m.reject ? ` reject hint=${m.commit}/${m.logTerm}` : ''}`;
  } else if (m.msgType === MessageType.MsgRequestVote) {
    s += ` last=${m.index}/${m.logTerm} kind=${m.commit}`;
  } else if (m.msgType === MessageType.MsgRequestVoteResponse) {
    s += `${m.reject ? ' reject' : ' grant'} kind=${m.commit}`;
  } else if (m.msgType === MessageType.MsgHeartbeat || m.msgType === MessageType.MsgHeartbeatResponse) {
    s += ` commit=${m.commit} seq=${m.index}`;
  } else if (m.msgType === MessageType.MsgSnapshot) {
    s += ` snap=${m.snapshot?.metadata?.index}/${m.snapshot?.metadata?.term}`;
  }
  return s;
}
