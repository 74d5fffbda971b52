/**
 * Starting a store's raftstore: its piscina pools (region snapshots, raft-log GC) and its peers,
 * on raft poller threads or, with `raft-pollers = 0`, on the main thread.
 */
import { Piscina } from 'piscina';
import type { Logger } from 'pino';
import type { NodeConfig } from '../config/config.js';
import { PollerRouter } from '../raftstore/batch/poller-router.js';
import { Store } from '../raftstore/batch/store.js';
import type { StoreEngineOptions } from '../raftstore/batch/store-engines.js';
import type { PeerEngines } from '../raftstore/peer/peer-storage.js';
import type { RaftRouter } from '../raftstore/router/router.js';
import { PooledSnapshotSource } from '../raftstore/snapshot/snapshot-source.js';
import type { EncodedTransport } from '../raftstore/transport.js';
import type { FatalHandler } from '../util/fail-stop.js';
import { workerFileUrl } from '../util/worker-path.js';
import { LMDB_WORKER_POOL_OPTIONS } from '../engine/worker-pool-options.js';
import { pooledSplitChecker, type SplitChecker } from '../raftstore/split/split-checker.js';
import { RaftstoreMetrics } from '../metrics/thread-recorder.js';
import { raftstoreConfigOf } from './raftstore-config.js';

/** piscina's error when a pool's queue is at maxQueue (it has no error codes). */
const GC_QUEUE_FULL_MESSAGE = 'Task queue is at limit';

/** How long stopping waits for a snapshot build or raft-log GC in flight. */
const POOL_CLOSE_TIMEOUT_MS = 5_000;

/** The store's piscina pools, outliving the raftstore so its last GC and snapshot tasks finish. */
export class StorePools {
  /** Region snapshots, built on their own thread (workers/region-snapshot.ts). */
  private readonly snapshotPool: Piscina;
  /** Compacted raft-log entries, deleted on their own thread (workers/raftlog-gc.ts). */
  private readonly gcPool: Piscina;
  /** Region sizes and split keys, scanned on their own thread (workers/split-check.ts). */
  readonly splitChecker: SplitChecker;
  private readonly closeSplitChecker: () => Promise<void>;

  constructor(
    config: NodeConfig,
    private readonly engineOptions: StoreEngineOptions,
    private readonly logger: Logger,
  ) {
    // Raft pollers have pools of their own, so with pollers this one starts no thread unless it is used.
    this.snapshotPool = new Piscina({
      filename: workerFileUrl('region-snapshot'),
      minThreads: config.raftPollers > 0 ? 0 : 1,
      maxThreads: 1,
      maxQueue: 64,
      closeTimeout: POOL_CLOSE_TIMEOUT_MS,
      ...LMDB_WORKER_POOL_OPTIONS,
    });
    this.gcPool = new Piscina({
      filename: workerFileUrl('raftlog-gc'),
      minThreads: 1,
      maxThreads: 1,
      maxQueue: 1024,
      closeTimeout: POOL_CLOSE_TIMEOUT_MS,
      ...LMDB_WORKER_POOL_OPTIONS,
    });
    const split = pooledSplitChecker(engineOptions.kv, { maxSizeBytes: config.regionMaxSizeBytes, splitSizeBytes: config.regionSplitSizeBytes });
    this.splitChecker = split.checker;
    this.closeSplitChecker = split.close;
  }

  readonly collectRaftLog = async (regionId: number, fromIndex: number, toIndex: number): Promise<void> => {
    try {
      await this.gcPool.run({ raft: this.engineOptions.raft, regionId, fromIndex, toIndex });
    } catch (err) {
      // A full GC queue is backpressure, not a fault (a failed delete is, and is fatal): the
      // range stays on disk, wasted space but no harm to the log.
      if (err instanceof Error && err.message === GC_QUEUE_FULL_MESSAGE) {
        this.logger.warn({ regionId, fromIndex, toIndex }, 'raft-log GC queue full; range left on disk');
        return;
      }
      throw err;
    }
  };

  /** Snapshots for peers on the main thread, built on the snapshot pool's thread. */
  snapshotSource(): PooledSnapshotSource {
    return new PooledSnapshotSource(
      this.engineOptions.kv,
      async (task) => new Uint8Array((await this.snapshotPool.run(task)) as ArrayBuffer),
      (regionId, err) => this.logger.warn({ regionId, err }, 'snapshot build failed'),
    );
  }

  /**
   * Lets tasks in flight finish (at most POOL_CLOSE_TIMEOUT_MS) rather than terminating their
   * threads mid-task: lmdb-js can abort the whole process when a thread is torn down inside LMDB.
   */
  async destroy(): Promise<void> {
    await Promise.all([this.snapshotPool.close(), this.gcPool.close(), this.closeSplitChecker()]);
  }
}

export interface RaftstoreStart {
  readonly config: NodeConfig;
  readonly storeId: number;
  readonly engines: PeerEngines;
  readonly engineOptions: StoreEngineOptions;
  readonly transport: EncodedTransport;
  readonly pools: StorePools;
  readonly logger: Logger;
  readonly onFatal: FatalHandler;
}

/** Starts the store's peers: on raft poller threads, or on this thread when there are none. */
export async function startRaftstore(start: RaftstoreStart): Promise<RaftRouter> {
  const { config, storeId, engines, transport, pools, logger, onFatal } = start;
  const raftstoreConfig = raftstoreConfigOf(config);
  if (config.raftPollers > 0) {
    return PollerRouter.start({
      storeId,
      engines: start.engineOptions,
      pollers: config.raftPollers,
      applyThreads: config.applyPollers,
      config: raftstoreConfig,
      kv: engines.kv,
      transport,
      logger,
      logLevel: config.logLevel,
      logFormat: config.logFormat,
      metricsEnabled: config.metrics,
      collectRaftLog: pools.collectRaftLog,
      onFatal,
    });
  }
  const local = new Store({
    storeId,
    engines,
    config: raftstoreConfig,
    transport,
    snapshots: pools.snapshotSource(),
    random: Math.random,
    // The logger names the store already (ClusterNode.start).
    logger,
    metrics: new RaftstoreMetrics({ enabled: config.metrics }),
    collectRaftLog: pools.collectRaftLog,
    onFatal,
  });
  local.loadPeers();
  return local;
}
