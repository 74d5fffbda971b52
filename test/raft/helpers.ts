/**
 * Test harness for scenario tests: build Raft instances directly (internal
 * API), wire them in a synchronous network with faults, and print readable
 * message traces.
 */
import { Entry, EntryType, Message, MessageType } from '../../src/proto/eraftpb.js';
import { RaftError } from '../../src/raft/errors.js';
import { newMessage, Raft, type RaftConfig } from '../../src/raft/raft.js';
import { SeededRandom } from '../../src/raft/rng.js';
import { MemoryStorage } from '../../src/raft/storage.js';

export { describe as describeMessage } from './sim/cluster.js';

export function newTestRaft(
  id: number,
  peers: number[],
  electionTick = 10,
  heartbeatTick = 1,
  storage: MemoryStorage = new MemoryStorage(),
  extra: Partial<RaftConfig> = {},
): Raft {
  return new Raft({ id, peers, electionTick, heartbeatTick, storage, ...extra });
}

/** Builds a message with defaults; `fields` override. */
export function msg(fields: Partial<Message> & { msgType: MessageType }): Message {
  return { ...newMessage(fields.msgType, 0, 0, 0), ...fields };
}

/** Entries with the given terms at indexes from `start`. */
export function entsWithTerms(terms: number[], start = 1): Entry[] {
  return terms.map((term, k) => ({ entryType: EntryType.EntryNormal, term, index: start + k, data: Buffer.alloc(0) }));
}

export function entry(index: number, term: number, data = ''): Entry {
  return { entryType: EntryType.EntryNormal, term, index, data: Buffer.from(data) };
}

/** Persists unstable entries into `storage`, applies committed entries, returns them (TinyKV's nextEnts). */
export function nextEnts(r: Raft, storage: MemoryStorage): Entry[] {
  const unstable = r.log.unstableEntries();
  storage.append(unstable);
  const last = unstable[unstable.length - 1];
  if (last !== undefined) r.log.stableTo(last.index, last.term);
  const ents = r.log.nextCommittedEntries();
  r.log.appliedTo(r.log.committed);
  return ents;
}

/** The entries of r's log from its first index (for comparing logs). */
export function logEntries(r: Raft): Entry[] {
  const first = r.log.firstIndex();
  return r.log.slice(first, r.log.lastIndex() + 1);
}

export function logSummary(r: Raft): string {
  return `committed=${r.log.committed} [${logEntries(r)
    .map((e) => `${e.index}/${e.term}`)
    .join(' ')}]`;
}

type Peer = Raft | null;

/**
 * Synchronous network: `send` delivers messages and everything they cause,
 * until quiet. `null` peers are black holes. MsgHup must never be on the wire.
 */
export class Network {
  readonly peers = new Map<number, Peer>();
  readonly storages = new Map<number, MemoryStorage>();
  private readonly drops = new Map<string, number>();
  private readonly ignored = new Set<MessageType>();
  private readonly rng = new SeededRandom(42);
  readonly trace: string[] = [];
  tracing = false;

  /** `undefined` entries become fresh Rafts with ids 1..n, election 10, heartbeat 1. */
  constructor(peers: (Raft | null | undefined)[], extra: Partial<RaftConfig> = {}) {
    const ids = peers.map((_, k) => k + 1);
    peers.forEach((p, k) => {
      const id = k + 1;
      if (p === undefined) {
        const storage = new MemoryStorage();
        this.storages.set(id, storage);
        this.peers.set(id, newTestRaft(id, ids, 10, 1, storage, extra));
      } else if (p === null) {
        this.peers.set(id, null);
      } else {
        this.storages.set(id, p.log.storage as MemoryStorage);
        this.peers.set(id, p);
      }
    });
  }

  raft(id: number): Raft {
    const p = this.peers.get(id);
    if (!p) throw new Error(`peer ${id} is not a Raft`);
    return p;
  }

  send(...msgs: Message[]): void {
    const queue = [...msgs];
    let guard = 0;
    while (queue.length > 0) {
      if (++guard > 100_000) throw new Error('network did not quiesce');
      const m = queue.shift() as Message;
      const p = this.peers.get(m.to);
      if (!p) continue;
      if (this.tracing) this.trace.push(describeShort(m));
      try {
        p.step(m);
      } catch (err) {
        if (!(err instanceof RaftError && err.code === 'Raft:ProposalDropped')) throw err;
      }
      queue.push(...this.filter(p.readMessages()));
    }
  }

  /** Delivers the local message `type` to node `id` (campaign, beat, propose). */
  local(id: number, type: MessageType, entries: Entry[] = []): void {
    const m = newMessage(type, id, id, 0);
    m.entries = entries;
    this.send(m);
  }

  campaign(id: number): void {
    this.local(id, MessageType.MsgHup);
  }

  propose(id: number, data = 'somedata'): void {
    this.local(id, MessageType.MsgPropose, [{ entryType: EntryType.EntryNormal, term: 0, index: 0, data: Buffer.from(data) }]);
  }

  private filter(msgs: Message[]): Message[] {
    return msgs.filter((m) => {
      if (m.msgType === MessageType.MsgHup) throw new Error('MsgHup must never be sent');
      if (this.ignored.has(m.msgType)) return false;
      const p = this.drops.get(`${m.from}-${m.to}`) ?? 0;
      return !(p > 0 && this.rng.chance(p));
    });
  }

  drop(from: number, to: number, probability: number): void {
    this.drops.set(`${from}-${to}`, probability);
  }

  cut(a: number, b: number): void {
    this.drop(a, b, 2);
    this.drop(b, a, 2);
  }

  isolate(id: number): void {
    for (const other of this.peers.keys()) if (other !== id) this.cut(id, other);
  }

  ignore(t: MessageType): void {
    this.ignored.add(t);
  }

  recover(): void {
    this.drops.clear();
    this.ignored.clear();
  }
}

function describeShort(m: Message): string {
  const t = MessageType[m.msgType]?.replace(/^Msg/, '') ?? String(m.msgType);
  const parts = [`${m.from}->${m.to} ${t} t${m.term}`];
  if (m.msgType === MessageType.MsgAppend) {
    parts.push(`prev=${m.index}/${m.logTerm}`, `commit=${m.commit}`, `[${m.entries.map((e) => `${e.index}/${e.term}`).join(' ')}]`);
  } else if (m.msgType === MessageType.MsgAppendResponse) {
    parts.push(`index=${m.index}`);
    if (m.reject) parts.push(`reject hint=${m.commit}/${m.logTerm}`);
  } else if (m.msgType === MessageType.MsgRequestVote) {
    parts.push(`last=${m.index}/${m.logTerm}`);
    if (m.commit === 1) parts.push('pre');
    if (m.commit === 2) parts.push('transfer');
  } else if (m.msgType === MessageType.MsgRequestVoteResponse) {
    parts.push(m.reject ? 'reject' : 'grant');
    if (m.commit === 1) parts.push('pre');
  } else if (m.msgType === MessageType.MsgHeartbeat) {
    parts.push(`commit=${m.commit}`);
  }
  return parts.join(' ');
}

export const EMPTY = Buffer.alloc(0);
export { EntryType, MessageType };
