/**
 * The simulated replicated state machine: a hash chain over applied entries.
 * Two replicas that applied the same entries in the same order have the same
 * hash at every index, so comparing hashes checks state-machine safety.
 */
import type { ConfState, Entry } from '../../../src/proto/eraftpb.js';
import { defined } from '../../../src/raft/assert.js';

/** Durable applied state of one replica (persisted atomically with each apply, like TinyKV's kvdb). */
export interface AppliedState {
  index: number;
  hash: number;
  confState: ConfState;
}

/** FNV-1a style mix of (prev hash, index, entry type, data). */
export function chainHash(prev: number, entry: Entry): number {
  let h = (prev ^ 0x811c9dc5) >>> 0;
  h = Math.imul(h ^ (entry.index & 0xffff), 16777619);
  h = Math.imul(h ^ (entry.index >>> 16), 16777619);
  h = Math.imul(h ^ entry.entryType, 16777619);
  const d = entry.data;
  for (let k = 0; k < d.length; k++) h = Math.imul(h ^ defined(d[k], 'd[k]'), 16777619);
  return h >>> 0;
}

/** Hash of an entry's payload alone. */
export function dataHash(entry: Entry): number {
  return chainHash(0, { ...entry, index: 0 });
}

export function encodeSnapshotData(state: AppliedState): Buffer {
  return Buffer.from(JSON.stringify({ index: state.index, hash: state.hash }));
}

export function decodeSnapshotData(data: Uint8Array): { index: number; hash: number } {
  return JSON.parse(Buffer.from(data).toString()) as { index: number; hash: number };
}
