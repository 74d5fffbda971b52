/**
 * Raft library benchmark: committed proposals per second and microseconds per
 * proposal for a 3-node cluster in one thread with an in-memory transport and
 * MemoryStorage (no disk), at several proposal batch sizes.
 *
 *   npm run build && node dist/bench/raft-bench.js [--proposals 200000] [--json]
 *
 * The whole cluster (leader and both followers) runs on the measuring thread,
 * so "µs per proposal" is the CPU cost of all three replicas together.
 */
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { MemoryStorage, RawNode, type Message } from '../src/raft/index.js';

export interface RaftBenchResult {
  batch: number;
  proposals: number;
  seconds: number;
  proposalsPerSec: number;
  usPerProposal: number;
}

interface Cluster {
  ids: number[];
  nodes: Map<number, RawNode>;
  storages: Map<number, MemoryStorage>;
  inboxes: Map<number, Message[]>;
  /** Normal entries with data applied by node 1. */
  appliedByLeader: number;
}

function newCluster(): Cluster {
  const ids = [1, 2, 3];
  const c: Cluster = { ids, nodes: new Map(), storages: new Map(), inboxes: new Map(), appliedByLeader: 0 };
  for (const id of ids) {
    const storage = new MemoryStorage();
    c.storages.set(id, storage);
    c.inboxes.set(id, []);
    c.nodes.set(
      id,
      new RawNode({
        id,
        peers: ids,
        electionTick: 10,
        heartbeatTick: 1,
        storage,
        maxInflightMsgs: 256,
        maxSizePerMsgBytes: 1024 * 1024,
      }),
    );
  }
  return c;
}

function handleReady(c: Cluster, id: number): void {
  const node = c.nodes.get(id) as RawNode;
  const storage = c.storages.get(id) as MemoryStorage;
  while (node.hasReady()) {
    const rd = node.ready();
    if (rd.snapshot) storage.applySnapshot(rd.snapshot);
    if (rd.entries.length > 0) storage.append(rd.entries);
    if (rd.hardState) storage.setHardState(rd.hardState);
    for (const m of rd.messages) (c.inboxes.get(m.to) as Message[]).push(m);
    if (id === 1) {
      for (const e of rd.committedEntries) if (e.data.length > 0) c.appliedByLeader++;
    }
    node.advance(rd);
  }
}

/** Delivers every queued message once; returns how many were delivered. */
function deliverAll(c: Cluster): number {
  let delivered = 0;
  for (const id of c.ids) {
    const inbox = c.inboxes.get(id) as Message[];
    if (inbox.length === 0) continue;
    c.inboxes.set(id, []);
    const node = c.nodes.get(id) as RawNode;
    for (const m of inbox) node.step(m);
    delivered += inbox.length;
  }
  return delivered;
}

function settle(c: Cluster): void {
  for (let guard = 0; guard < 1000; guard++) {
    for (const id of c.ids) handleReady(c, id);
    if (deliverAll(c) === 0) return;
  }
  throw new Error('cluster did not settle');
}

/** Proposes `total` payloads in batches of `batch`, pipelined, until the leader applied them all. */
export function runRaftBench(batch: number, total: number, payloadBytes = 128): RaftBenchResult {
  const c = newCluster();
  const leader = c.nodes.get(1) as RawNode;
  leader.campaign();
  settle(c);
  if (leader.status().state !== 'Leader') throw new Error('node 1 did not become leader');
  const payload = Buffer.alloc(payloadBytes, 7);
  let proposed = 0;
  const start = performance.now();
  while (c.appliedByLeader < total) {
    const n = Math.min(batch, total - proposed);
    for (let k = 0; k < n; k++) leader.propose(payload);
    proposed += n;
    for (const id of c.ids) handleReady(c, id);
    deliverAll(c);
    // Compact now and then so memory stays flat, as a real store would.
    if (proposed % 65536 < n) compactAll(c);
  }
  const seconds = (performance.now() - start) / 1000;
  return { batch, proposals: total, seconds, proposalsPerSec: total / seconds, usPerProposal: (seconds * 1e6) / total };
}

function compactAll(c: Cluster): void {
  for (const id of c.ids) {
    const node = c.nodes.get(id) as RawNode;
    const storage = c.storages.get(id) as MemoryStorage;
    const applied = node.status().applied;
    const keep = 4096;
    if (applied - keep > storage.firstIndex()) storage.compact(applied - keep);
  }
}

function machine(): string {
  const cpus = os.cpus();
  return `${cpus[0]?.model ?? 'unknown CPU'}, ${cpus.length} cores, Node ${process.version}`;
}

export function main(argv: string[] = process.argv.slice(2)): RaftBenchResult[] {
  const i = argv.indexOf('--proposals');
  const total = i >= 0 ? Number(argv[i + 1]) : 200_000;
  const json = argv.includes('--json');
  runRaftBench(16, 20_000); // warm-up (JIT)
  const results = [1, 16, 256].map((batch) => runRaftBench(batch, batch === 1 ? Math.min(total, 50_000) : total));
  if (json) {
    console.log(JSON.stringify({ machine: machine(), results }, null, 2));
  } else {
    console.log(`raft bench: 3 nodes in one thread, in-memory transport and storage, 128-byte payloads`);
    console.log(`machine: ${machine()}`);
    console.log('batch  proposals   committed proposals/s   µs/proposal');
    for (const r of results) {
      console.log(
        `${String(r.batch).padStart(5)}  ${String(r.proposals).padStart(9)}   ${r.proposalsPerSec.toFixed(0).padStart(21)}   ${r.usPerProposal.toFixed(2).padStart(11)}`,
      );
    }
  }
  return results;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) main();
