/**
 * The region-snapshot worker (a piscina task): builds a region's snapshot from the kv LMDB
 * environment in its own thread, so pollers never block on a whole-region scan, and moves the
 * msgpack frame back without copying.
 */
import { move } from 'piscina';
import { LmdbEngine } from '../src/engine/lmdb-engine.js';
import { PooledSnapshotSource, type SnapshotTask } from '../src/raftstore/snapshot/snapshot-source.js';

const engines = new Map<string, LmdbEngine>();

export default function buildSnapshot(task: SnapshotTask): unknown {
  let engine = engines.get(task.kv.path);
  if (!engine) {
    // Reads only; lmdb-js shares the environment with the store's threads (same options).
    engine = new LmdbEngine(task.kv);
    engines.set(task.kv.path, engine);
  }
  const frame = PooledSnapshotSource.buildFrame(engine, task.regionId);
  const buffer = frame.buffer.slice(frame.byteOffset, frame.byteOffset + frame.byteLength);
  return move(buffer as ArrayBuffer);
}
