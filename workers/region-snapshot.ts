/**
 * The region-snapshot worker (a piscina task): builds a region's snapshot from the kv LMDB
 * environment in its own thread, so pollers never block on a whole-region scan, and moves the
 * msgpack frame back without copying.
 */
import { move } from 'piscina';
import { LmdbEngine } from '../src/engine/lmdb-engine.js';
import { PooledSnapshotSource } from '../src/raftstore/snapshot-source.js';

const engines = new Map<string, LmdbEngine>();

export default function buildSnapshot(task: { kvPath: string; regionId: number }): unknown {
  let engine = engines.get(task.kvPath);
  if (!engine) {
    // Reads only; lmdb-js shares the environment with the store's thread.
    engine = new LmdbEngine({ path: task.kvPath });
    engines.set(task.kvPath, engine);
  }
  const frame = PooledSnapshotSource.buildFrame(engine, task.regionId);
  const buffer = frame.buffer.slice(frame.byteOffset, frame.byteOffset + frame.byteLength);
  return move(buffer as ArrayBuffer);
}
