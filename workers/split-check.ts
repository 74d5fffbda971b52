/**
 * The split-check worker (a piscina task): scans a region of the kv LMDB environment in its own
 * thread and answers its size and split key (src/raftstore/split/split-checker.ts), cutting at
 * the transaction layer's user-key boundaries (src/txn/split-boundary.ts).
 */
import { LmdbEngine } from '../src/engine/lmdb-engine.js';
import { userKeyBoundary } from '../src/txn/split-boundary.js';
import { runSplitCheckTask, type SplitCheckAnswer, type SplitCheckTask } from '../src/raftstore/split/split-checker.js';

const engines = new Map<string, LmdbEngine>();

export default function checkRegionSplit(task: SplitCheckTask): SplitCheckAnswer {
  let engine = engines.get(task.kv.path);
  if (!engine) {
    // Reads only; lmdb-js shares the environment with the store's threads (same options).
    engine = new LmdbEngine(task.kv);
    engines.set(task.kv.path, engine);
  }
  return runSplitCheckTask(engine, task, userKeyBoundary);
}
