/**
 * How every thread of a store opens its two LMDB environments. An environment's flags are set by
 * its first opener in the process, so the main thread, the raft pollers, the apply threads and
 * the snapshot and raft-log GC workers all take their options from here.
 *
 * Both commit inline (pollers and apply threads batch their own writes; no lmdb-js thread hop).
 * The raft environment syncs every commit: a log append is durable when it returns. The kv
 * environment defers meta-page syncs: an apply commit need not be durable (the log replays it),
 * and what must be (a received snapshot, a truncated state before log GC) syncs explicitly.
 */
import { join } from 'node:path';
import { LmdbEngine, type LmdbEngineOptions } from '../../engine/lmdb-engine.js';
import type { PeerEngines } from '../peer/peer-storage.js';

export interface StoreEngineOptions {
  readonly raft: LmdbEngineOptions;
  readonly kv: LmdbEngineOptions;
}

export function storeEngineOptions(dataDir: string, sync: boolean): StoreEngineOptions {
  return {
    raft: { path: join(dataDir, 'raft'), noSync: !sync, commitInline: true },
    kv: { path: join(dataDir, 'kv'), noSync: !sync, commitInline: true, lazyMetaSync: true },
  };
}

export function openStoreEngines(options: StoreEngineOptions): PeerEngines {
  return { raft: new LmdbEngine(options.raft), kv: new LmdbEngine(options.kv) };
}
