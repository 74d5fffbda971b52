/**
 * A store in a replicated cluster: registers with the scheduler, hosts region peers (Raft on
 * LMDB), exchanges Raft messages with other stores over gRPC, and serves the TinyKv API through
 * Raft. Ticks come from one timer for all regions.
 */
import { Server } from '@grpc/grpc-js';
import { Piscina } from 'piscina';
import type { Logger } from 'pino';
import type { NodeConfig } from '../config/config.js';
import { StoreState } from '../proto/metapb.js';
import type { RaftMessage } from '../proto/raft_serverpb.js';
import { STORE_IDENT_KEY } from '../raftstore/keys.js';
import type { PeerEngines } from '../raftstore/peer/peer-storage.js';
import { RaftKvStorage } from '../storage/raft-kv-storage.js';
import { guardSpace } from '../storage/space-guarded-storage.js';
import { findPeerOnStore } from '../raftstore/region.js';
import { Store } from '../raftstore/batch/store.js';
import { PollerRouter } from '../raftstore/batch/poller-router.js';
import type { RaftRouter } from '../raftstore/router/router.js';
import type { Storage } from '../storage/storage.js';
import { PooledSnapshotSource } from '../raftstore/snapshot/snapshot-source.js';
import { openStoreEngines, storeEngineOptions } from '../raftstore/batch/store-engines.js';
import { SchedulerClient, type RegionHeartbeatStream } from '../scheduler/client.js';
import { GrpcTransport } from '../transport/grpc-transport.js';
import { batchRaftStreamHandler, rawRaftService, raftStreamHandler, snapshotStreamHandler } from '../transport/raft-service.js';
import { ErrorCode, TinyKvError } from '../util/errors.js';
import { exitOnFatal, onceFatal, type FatalHandler } from '../util/fail-stop.js';
import { workerFileUrl } from '../util/worker-path.js';
import { SnapshotRecvBudget } from '../transport/snapshot-receiver.js';
import { DataDirLock } from '../env/data-dir-lock.js';
import { openCheckedEnvironments } from '../engine/data-files.js';
import { bindServer, boundedServerOptions, boundedService } from '../rpc/server-options.js';
import { CallTracker } from '../rpc/grpc-service.js';
import { tinyKvImplementation } from './tinykv-service.js';
import { SchedulerStoreResolver } from './store-resolver.js';
import { raftstoreConfigOf } from './raftstore-config.js';

const REGION_DISCOVERY_INTERVAL_MS = 200;
/** piscina's error when a pool's queue is at maxQueue (it has no error codes). */
const GC_QUEUE_FULL_MESSAGE = 'Task queue is at limit';

/** Test seams: fault injection on the real store (TiKV's filters). */
export interface ClusterNodeSeams {
  /** Drops an outgoing Raft message when it returns true (partition, isolate, drop). */
  readonly dropMessage?: (message: RaftMessage) => boolean;
  /** Holds an outgoing Raft message back this many ms (0: send now); a slow network reorders messages. */
  readonly delayMessageMs?: (message: RaftMessage) => number;
  /**
   * What an internal failure does (a store thread that died, a raft-log write that failed).
   * Default: a fatal log line and exit code 70 (fail-stop). Tests and embedders that inject
   * faults pass their own, so their process survives.
   */
  readonly onFatal?: FatalHandler;
}

export class ClusterNode {
  private readonly timers: NodeJS.Timeout[] = [];
  private closing: Promise<void> | undefined;

  private constructor(
    readonly addr: string,
    readonly storeId: number,
    readonly store: RaftRouter,
    readonly config: NodeConfig,
    private readonly server: Server,
    private readonly tracker: CallTracker,
    /** The store's engines (read them for diagnostics; writes go through Raft). */
    readonly engines: PeerEngines,
    private readonly scheduler: SchedulerClient,
    private readonly transport: GrpcTransport,
    private readonly lock: DataDirLock,
    private readonly logger: Logger,
  ) {}

  static async start(config: NodeConfig, logger: Logger, seams: ClusterNodeSeams = {}): Promise<ClusterNode> {
    const onFatal = onceFatal(seams.onFatal ?? exitOnFatal(logger), logger);
    const lock = DataDirLock.acquire(config.dataDir);
    const engineOptions = storeEngineOptions(config.dataDir, config.sync);
    let engines: PeerEngines;
    try {
      engines = openCheckedEnvironments(config.dataDir, ['raft', 'kv'], () => openStoreEngines(engineOptions));
    } catch (err) {
      // Damaged or unopenable files: nothing else has started yet, but the directory is free again.
      lock.release();
      throw err;
    }
    let scheduler: SchedulerClient | undefined;
    // Region snapshots are built on their own thread (workers/region-snapshot.ts). Raft pollers have
    // pools of their own, so with pollers this one starts no thread unless it is used.
    const snapshotPool = new Piscina({
      filename: workerFileUrl('region-snapshot'),
      minThreads: config.raftPollers > 0 ? 0 : 1,
      maxThreads: 1,
      maxQueue: 64,
    });
    // Compacted raft-log entries are deleted on their own thread (workers/raftlog-gc.ts).
    const gcPool = new Piscina({ filename: workerFileUrl('raftlog-gc'), minThreads: 1, maxThreads: 1, maxQueue: 1024 });
    const collectRaftLog = async (regionId: number, fromIndex: number, toIndex: number) => {
      try {
        await gcPool.run({ raft: engineOptions.raft, regionId, fromIndex, toIndex });
      } catch (err) {
        // A full GC queue is backpressure, not a fault (a failed delete is, and is fatal): the
        // range stays on disk, wasted space but no harm to the log.
        if (err instanceof Error && err.message === GC_QUEUE_FULL_MESSAGE) {
          logger.warn({ regionId, fromIndex, toIndex }, 'raft-log GC queue full; range left on disk');
          return;
        }
        throw err;
      }
    };
    // What has been started so far, stopped in reverse order when a later step fails.
    let store: RaftRouter | undefined;
    let transport: GrpcTransport | undefined;
    let server: Server | undefined;
    let storage: Storage | undefined;
    try {
      scheduler = await connectScheduler(config.scheduler, config.schedulerConnectTimeoutMs, logger);
      const storeId = await loadOrAllocStoreId(engines, scheduler);
      transport = new GrpcTransport(new SchedulerStoreResolver(scheduler, logger), logger, Date.now, seams.dropMessage, seams.delayMessageMs);
      const raftstoreConfig = raftstoreConfigOf(config);
      if (config.raftPollers > 0) {
        store = await PollerRouter.start({
          storeId,
          engines: engineOptions,
          pollers: config.raftPollers,
          applyThreads: config.applyPollers,
          config: raftstoreConfig,
          kv: engines.kv,
          transport,
          logger,
          logLevel: config.logLevel,
          collectRaftLog,
          onFatal,
        });
      } else {
        const local = new Store({
          storeId,
          engines,
          config: raftstoreConfig,
          transport,
          snapshots: new PooledSnapshotSource(
            engineOptions.kv,
            async (task) => new Uint8Array((await snapshotPool.run(task)) as ArrayBuffer),
            (regionId, err) => logger.warn({ regionId, err }, 'snapshot build failed'),
          ),
          random: Math.random,
          logger: logger.child({ storeId }),
          collectRaftLog,
          onFatal,
        });
        local.loadPeers();
        store = local;
      }
      const router: RaftRouter = store;
      const tracker = new CallTracker();
      const { options } = boundedServerOptions({
        maxReceiveMessageBytes: Math.max(config.limits.maxMessageSizeBytes, 64 * 1024 * 1024),
        maxSendMessageBytes: config.limits.maxMessageSizeBytes,
        maxConcurrentStreams: config.maxConcurrentStreams,
        memoryQuotaBytes: config.grpcMemoryQuotaBytes,
      });
      server = new Server(options);
      // Proposals that add data are refused below storage.reserve-space (reads and deletes pass).
      storage = guardSpace(new RaftKvStorage(router), config);
      server.addService(boundedService(rawRaftService), {
        ...tinyKvImplementation(storage, config, tracker, logger),
        raft: raftStreamHandler((message) => router.onRaftMessageBytes(message)),
        batchRaft: batchRaftStreamHandler((message) => router.onRaftMessageBytes(message)),
        snapshot: snapshotStreamHandler((message) => router.onRaftMessage(message), snapshotRecvBudget(config)),
      });
      const port = await bindServer(server, config.addr);
      const addr = `${config.addr.slice(0, config.addr.lastIndexOf(':'))}:${port}`;
      // The scheduler refuses an address another store has registered; that ends the start too.
      await scheduler.putStore({ id: storeId, address: addr, state: StoreState.Up });
      const node = new ClusterNode(addr, storeId, router, config, server, tracker, engines, scheduler, transport, lock, logger);
      // The pools go after the store has stopped, so its last GC and snapshot tasks finish.
      node.afterStopHooks.push(() => snapshotPool.destroy(), () => gcPool.destroy());
      // Stops the space guard's free-space sampling (the store itself is stopped by the node).
      const guarded = storage;
      node.afterStopHooks.push(() => guarded.stop());
      node.startTimers();
      logger.info({ addr, storeId, regions: store.regions().length, scheduler: config.scheduler }, 'tinykv store serving');
      return node;
    } catch (err) {
      // Undo in reverse order. The poller and apply threads use the engines, so they stop before
      // the engines close (closing LMDB under a running thread aborts the process): the router's
      // stop() resolves only once its threads are gone, terminating any that do not stop in time.
      server?.forceShutdown();
      // The space guard's free-space sampler (a timer); the store below it is stopped next.
      await storage?.stop().catch((stopErr: unknown) => logger.error({ err: stopErr }, 'stopping the space guard after a failed start failed'));
      const stopped = store
        ? await store.stop().then(
            () => true,
            (stopErr: unknown) => {
              // Its engines stay open; the process is left to exit with them.
              logger.error({ err: stopErr }, 'stopping the raftstore after a failed start failed; its engines stay open');
              return false;
            },
          )
        : true;
      transport?.close();
      scheduler?.close();
      if (stopped) {
        await Promise.all([snapshotPool.destroy(), gcPool.destroy()]);
        await Promise.all([engines.raft.close(), engines.kv.close()]);
        lock.release();
      }
      throw err;
    }
  }

  private startTimers(): void {
    this.timers.push(setInterval(() => this.store.tick(), this.config.raftBaseTickMs));
    if (this.store.regions().length === 0) this.discoverRegions();
    const heartbeats = this.scheduler.openRegionHeartbeat(() => {});
    this.timers.push(setInterval(() => this.sendRegionHeartbeats(heartbeats), this.config.regionHeartbeatIntervalMs));
    this.timers.push(
      setInterval(() => {
        this.scheduler
          .storeHeartbeat({ storeId: BigInt(this.storeId), regionCount: this.store.regions().length })
          .catch((err: unknown) => this.logger.debug({ err }, 'store heartbeat failed'));
      }, this.config.storeHeartbeatIntervalMs),
    );
    this.closeHooks.push(() => heartbeats.close());
  }

  private readonly closeHooks: Array<() => void> = [];
  private readonly afterStopHooks: Array<() => Promise<void>> = [];

  /**
   * A new store learns the regions bootstrap placed on it from the scheduler: at once (the
   * scheduler may have bootstrapped them when this store registered), then every interval until
   * it has some.
   */
  private discoverRegions(): void {
    let inFlight = false;
    let found = false;
    const discover = () => {
      // One discovery at a time: creating many regions can outlast the interval.
      if (inFlight || found) return;
      inFlight = true;
      this.scheduler
        .scanRegions(Buffer.alloc(0))
        .then(async (regions) => {
          const mine = regions.map((r) => r.region).filter((region) => findPeerOnStore(region, this.storeId));
          for (const region of mine) await this.store.createRegion(region);
          if (mine.length > 0) {
            found = true;
            clearInterval(timer);
            this.logger.info({ regions: mine.map((r) => r.id) }, 'regions created from bootstrap');
          }
        })
        .catch((err: unknown) => this.logger.debug({ err }, 'region discovery failed'))
        .finally(() => (inFlight = false));
    };
    const timer = setInterval(discover, REGION_DISCOVERY_INTERVAL_MS);
    this.timers.push(timer);
    discover();
  }

  private sendRegionHeartbeats(stream: RegionHeartbeatStream): void {
    for (const { region, leader } of this.store.leaderRegions()) stream.send({ region, leader });
  }

  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    for (const timer of this.timers) clearInterval(timer);
    for (const hook of this.closeHooks) hook();
    // Client calls get to finish; the Raft streams from other stores never end by themselves, so
    // once the calls are done the server is shut down without waiting for those streams.
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      this.tracker.drain(),
      new Promise<void>((resolve) => (timer = setTimeout(resolve, this.config.gracefulShutdownTimeoutMs))),
    ]);
    clearTimeout(timer);
    this.server.forceShutdown();
    await this.store.stop();
    await Promise.all(this.afterStopHooks.map((hook) => hook()));
    this.transport.close();
    this.scheduler.close();
    await Promise.all([this.engines.raft.close(), this.engines.kv.close()]);
    this.lock.release();
    this.logger.info('stopped');
  }
}

function snapshotRecvBudget(config: NodeConfig): SnapshotRecvBudget {
  return new SnapshotRecvBudget({
    maxSizeBytes: config.snapMaxSizeBytes,
    maxTotalSizeBytes: config.snapMaxTotalSizeBytes,
    maxConcurrent: config.snapConcurrentRecvLimit,
    idleTimeoutMs: config.snapRecvIdleTimeoutMs,
    timeoutMs: config.snapRecvTimeoutMs,
  });
}


async function connectScheduler(addr: string, timeoutMs: number, logger: Logger): Promise<SchedulerClient> {
  const deadline = Date.now() + timeoutMs;
  for (let attempt = 0; ; attempt++) {
    try {
      return await SchedulerClient.connect(addr, { timeoutMs: 2_000, maxRetries: 1 });
    } catch (err) {
      if (Date.now() > deadline) throw new TinyKvError(ErrorCode.InvalidConfig, `cannot reach the scheduler at ${addr}: ${(err as Error).message}`);
      if (attempt % 10 === 0) logger.info({ addr }, 'waiting for the scheduler');
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }
}

/** The store id is allocated once by the scheduler and kept with the cluster id it belongs to. */
async function loadOrAllocStoreId(engines: PeerEngines, scheduler: SchedulerClient): Promise<number> {
  const ident = engines.kv.get('meta', STORE_IDENT_KEY);
  if (ident) {
    const clusterId = ident.readBigUInt64BE(0);
    if (clusterId !== scheduler.clusterId) {
      throw new TinyKvError(ErrorCode.InvalidConfig, `data directory belongs to cluster ${clusterId}, scheduler serves ${scheduler.clusterId}`);
    }
    return Number(ident.readBigUInt64BE(8));
  }
  const storeId = await scheduler.allocId();
  const bytes = Buffer.alloc(16);
  bytes.writeBigUInt64BE(scheduler.clusterId, 0);
  bytes.writeBigUInt64BE(BigInt(storeId), 8);
  await engines.kv.write([{ type: 'put', cf: 'meta', key: STORE_IDENT_KEY, value: bytes }]);
  return storeId;
}
