// PollerRouter options for tests that start real store threads on one store (id 1) with no network.
import type { Engine } from '../../src/engine/engine.js';
import { silentLogger } from '../../src/log/logger.js';
import { DEFAULT_RAFTSTORE_CONFIG } from '../../src/raftstore/config.js';
import type { PollerRouterOptions } from '../../src/raftstore/batch/poller-router.js';
import type { StoreEngineOptions } from '../../src/raftstore/batch/store-engines.js';

/** One poller, one apply thread, silent; an internal failure throws unless `extra.onFatal` says otherwise. */
export function routerOptions(engines: StoreEngineOptions, kv: Engine, extra: Partial<PollerRouterOptions> = {}): PollerRouterOptions {
  return {
    storeId: 1,
    engines,
    pollers: 1,
    applyThreads: 1,
    config: DEFAULT_RAFTSTORE_CONFIG,
    kv,
    transport: { send: () => {}, sendEncoded: () => {} },
    logger: silentLogger(),
    logLevel: 'silent',
    collectRaftLog: async () => {},
    onFatal: (reason, err) => {
      throw new Error(`unexpected fatal: ${reason}: ${String(err)}`);
    },
    ...extra,
  };
}
