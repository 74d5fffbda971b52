/**
 * The raft-log GC worker (a piscina task): deletes a region's compacted log entries from the raft
 * LMDB environment on its own thread, after the truncated state they fall below is durable
 * (src/raftstore/operation/compact-log.ts hands it the range).
 */
import { LmdbEngine, type LmdbEngineOptions } from '../src/engine/lmdb-engine.js';
import { raftLogGcOp } from '../src/raftstore/operation/compact-log.js';

export interface RaftLogGcTask {
  /** The raft environment, opened as the store's threads open it. */
  readonly raft: LmdbEngineOptions;
  readonly regionId: number;
  /** Delete entries with index in [fromIndex, toIndex). */
  readonly fromIndex: number;
  readonly toIndex: number;
}

const engines = new Map<string, LmdbEngine>();

export default async function collectRaftLog(task: RaftLogGcTask): Promise<number> {
  let engine = engines.get(task.raft.path);
  if (!engine) {
    engine = new LmdbEngine(task.raft);
    engines.set(task.raft.path, engine);
  }
  if (task.fromIndex >= task.toIndex) return 0;
  await engine.write([raftLogGcOp(task.regionId, task.fromIndex, task.toIndex)]);
  return task.toIndex - task.fromIndex;
}
