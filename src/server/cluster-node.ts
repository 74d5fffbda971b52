/**
 * A store in a replicated cluster: registers with the scheduler, hosts region peers (Raft on
 * LMDB), exchanges Raft messages with other stores over gRPC, and serves the TinyKv API through
 * Raft. Ticks come from one timer for all regions.
 */
import { Server, type ServerOptions } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import type { NodeConfig } from '../config/config.js';
import { StoreState, type Region } from '../proto/metapb.js';
import { INITIAL_EPOCH } from '../scheduler/bootstrap.js';
import type { RaftMessage } from '../proto/raft_serverpb.js';
import { STORE_IDENT_KEY } from '../raftstore/keys.js';
import type { PeerEngines } from '../raftstore/peer/peer-storage.js';
import { RaftKvStorage } from '../storage/raft-kv-storage.js';
import { guardSpace } from '../storage/space-guarded-storage.js';
import { findPeerOnStore } from '../raftstore/region.js';
import type { RaftRouter } from '../raftstore/router/router.js';
import type { Storage } from '../storage/storage.js';
import { openStoreEngines, storeEngineOptions, type StoreEngineOptions } from '../raftstore/batch/store-engines.js';
import { SchedulerClient, type RegionHeartbeatStream } from '../client/scheduler-client.js';
import { GrpcTransport } from '../transport/grpc-transport.js';
import { batchRaftStreamHandler, rawRaftService, raftStreamHandler, snapshotStreamHandler } from '../transport/raft-service.js';
import { ErrorCode, TinyKvError } from '../util/errors.js';
import { exitOnFatal, onceFatal, type FatalHandler } from '../util/fail-stop.js';
import { startRaftstore, StorePools } from './raftstore-startup.js';
import { SnapshotRecvBudget } from '../transport/snapshot-receiver.js';
import { DataDirLock } from '../env/data-dir-lock.js';
import { openCheckedEnvironments } from '../engine/data-files.js';
import { bindServer, boundedServerOptions, boundedService } from '../rpc/server-options.js';
import { CallTracker } from '../rpc/grpc-service.js';
import { tinyKvImplementation } from './tinykv-service.js';
import { SchedulerStoreResolver } from './store-resolver.js';
import { SplitDriver } from './split-driver.js';
import { schedulerCommandHandler } from './heartbeat-commands.js';
import { collectStoreStats, type StoreStatsSource } from './store-stats.js';
import { FlowCounter } from './flow-stats.js';
import { BUSY_PENDING_COMMANDS } from '../raftstore/batch/poller-router.js';
import { ClientError } from '../client/errors.js';
import { StoreMetrics } from '../metrics/store-metrics.js';
import { registerThreadMetrics } from '../metrics/thread-metrics.js';
import type { PeerRole, Readiness, StatusServer, StatusSource } from '../metrics/status-server.js';
import { startNodeStatusServer } from './status-endpoint.js';
import { SchedulerErrorCode } from '../scheduler/errors.js';

const REGION_DISCOVERY_INTERVAL_MS = 200;

interface StoreHeartbeatDeps {
  readonly onFatal: FatalHandler;
  /** Unix seconds the store started at (its heartbeats' start_time). */
  readonly startTimeSec: number;
  /** Snapshot streams received now (receiving_snap_count). */
  readonly snapshotsIn: SnapshotRecvBudget;
  /** What clients wrote and read since the last heartbeat (bytes_written, keys_read, ...). */
  readonly flow: FlowCounter;
}

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

/** How long a proposed Split may take on the leader before the split driver gives it up. */
const SPLIT_PROPOSE_TIMEOUT_MS = 30_000;

export class ClusterNode {
  private readonly timers: NodeJS.Timeout[] = [];
  private closing: Promise<void> | undefined;
  private statusServer: StatusServer | undefined;

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
    /** Decides and carries out this store's region splits. */
    readonly splits: SplitDriver,
    /** What the store heartbeats report from, and what a tombstone answer does. */
    private readonly heartbeatDeps: StoreHeartbeatDeps,
    /** This store's metrics registry (served on config.statusAddr's /metrics when set). */
    readonly metrics: StoreMetrics,
  ) {}

  /** The status server's address (with its real port), when config.statusAddr asked for one. */
  get statusAddr(): string | undefined {
    return this.statusServer?.addr;
  }

  /**
   * Serving: registered with the scheduler (true once start() resolved), hosting regions, and not
   * stopping. A new store is not ready until it has learned its first region.
   */
  readiness(): Readiness {
    if (this.closing) return { ready: false, reason: 'stopping' };
    if (this.store.regions().length === 0) return { ready: false, reason: 'no regions loaded yet' };
    return { ready: true };
  }

  /** Region id -> the role of this store's peer (leader, else follower). */
  peerRoles(): Map<number, PeerRole> {
    const led = new Set(this.store.leaderRegions().map(({ region }) => region.id));
    return new Map(this.store.regions().map((region) => [region.id, led.has(region.id) ? 'leader' : 'follower']));
  }

  /**
   * The last start steps, on a whole node: its status server, then its timers. A status server
   * that cannot listen fails the start, and closing the node undoes every part started before.
   */
  private async serve(): Promise<this> {
    await this.startStatusServer().catch(async (err: unknown) => {
      await this.close();
      throw err;
    });
    this.startTimers();
    const { addr, statusAddr, storeId } = this;
    this.logger.info({ addr, statusAddr, storeId, regions: this.store.regions().length, scheduler: this.config.scheduler }, 'tinykv store serving');
    return this;
  }

  private async startStatusServer(): Promise<void> {
    this.metrics.observe({
      dataDir: this.config.dataDir,
      engineDirs: STORE_ENGINE_DIRS,
      regionRoles: () => {
        const leader = this.store.leaderRegions().length;
        return { leader, follower: this.store.regions().length - leader };
      },
      localReads: () => this.store.localReads,
    });
    // The raftstore's metrics are counted on its poller and apply threads; a scrape sums them here.
    registerThreadMetrics(this.metrics.registry, () => this.store.metricsSnapshots?.() ?? Promise.resolve([]));
    const source: StatusSource = {
      registry: this.metrics.registry,
      storeId: this.storeId,
      addr: this.addr,
      config: this.config,
      readiness: () => this.readiness(),
      peerRoles: () => this.peerRoles(),
    };
    const statusServer = (this.statusServer = await startNodeStatusServer(this.config.statusAddr, source, this.logger));
    if (statusServer) this.afterStopHooks.push(() => statusServer.close());
  }

  static async start(config: NodeConfig, logger: Logger, seams: ClusterNodeSeams = {}): Promise<ClusterNode> {
    const onFatal = onceFatal(seams.onFatal ?? exitOnFatal(logger), logger);
    const startTimeSec = Math.floor(Date.now() / 1000);
    const { lock, engines, engineOptions } = openDataDir(config);
    const pools = new StorePools(config, engineOptions, logger);
    // What has been started so far, stopped in reverse order when a later step fails.
    const started: StartedParts = { lock, engines, pools };
    let node: ClusterNode;
    try {
      const scheduler = (started.scheduler = await connectScheduler(config.scheduler, config.schedulerConnectTimeoutMs, logger));
      const storeId = await loadOrAllocStoreId(engines, scheduler);
      // Every line from here on names the store (several stores may share a process and its log).
      const log = logger.child({ storeId });
      const resolver = new SchedulerStoreResolver(scheduler, log);
      const transport = (started.transport = new GrpcTransport(resolver, log, Date.now, seams.dropMessage, seams.delayMessageMs));
      const router = (started.store = await startRaftstore({ config, storeId, engines, engineOptions, transport, pools, logger: log, onFatal }));
      const tracker = new CallTracker();
      const metrics = new StoreMetrics({ engineCommitsOnThreads: true });
      const server = (started.server = new Server(grpcServerOptions(config)));
      // Proposals that add data are refused below storage.reserve-space (reads and deletes pass).
      const splits = new SplitDriver({
        router,
        checker: pools.splitChecker,
        thresholds: { maxSizeBytes: config.regionMaxSizeBytes, splitSizeBytes: config.regionSplitSizeBytes },
        askSplit: (region) => scheduler.askSplit(region),
        checkDiffBytes: Math.max(1, Math.floor(config.regionSplitSizeBytes / 16)),
        proposeTimeoutMs: SPLIT_PROPOSE_TIMEOUT_MS,
        logger: log,
      });
      const onWrite = (regionId: number, sizeBytes: number) => splits.onWrite(regionId, sizeBytes);
      const storage = (started.storage = guardSpace(new RaftKvStorage(router, undefined, { onWrite }), config));
      const snapshotsIn = snapshotRecvBudget(config);
      const flow = new FlowCounter();
      addStoreServices(server, { storage, router, config, tracker, logger: log, snapshotsIn, metrics, flow });
      const port = await bindServer(server, config.addr);
      const addr = `${config.addr.slice(0, config.addr.lastIndexOf(':'))}:${port}`;
      // The scheduler refuses an address another store has registered; that ends the start too.
      await scheduler.putStore({ id: storeId, address: addr, state: StoreState.Up }).catch((err: unknown) => {
        if (isTombstoneRefusal(err)) onFatal(tombstoneReason(storeId, config.dataDir), err);
        throw err;
      });
      node = new ClusterNode(
        addr,
        storeId,
        router,
        config,
        server,
        tracker,
        engines,
        scheduler,
        transport,
        lock,
        log,
        splits,
        {
          onFatal,
          startTimeSec,
          snapshotsIn,
          flow,
        },
        metrics,
      );
      // The pools go after the store has stopped, so its last GC and snapshot tasks finish; the
      // space guard's free-space sampling stops then too (the store itself is stopped by the node).
      node.afterStopHooks.push(
        () => pools.destroy(),
        () => storage.stop(),
      );
    } catch (err) {
      await undoStart(started, logger);
      throw err;
    }
    // Outside the try: from here a failure is undone by closing the node (serve does).
    return node.serve();
  }

  private startTimers(): void {
    this.timers.push(setInterval(() => this.store.tick(), this.config.raftBaseTickMs));
    if (this.store.regions().length === 0) this.discoverRegions();
    const heartbeats = this.scheduler.openRegionHeartbeat(schedulerCommandHandler(this.store, this.splits, this.logger));
    this.timers.push(setInterval(() => this.sendRegionHeartbeats(heartbeats), this.config.regionHeartbeatIntervalMs));
    this.splits.onSplit = () => {
      this.sendRegionHeartbeats(heartbeats);
      // The new region's peer here campaigns at once: report it as soon as it leads, which the
      // scheduler needs to fill the new region's range (until then clients retry their lookups).
      const electionMs = this.config.raftBaseTickMs * this.config.raftElectionTimeoutTicks;
      const later = setTimeout(() => this.sendRegionHeartbeats(heartbeats), electionMs);
      later.unref();
    };
    this.timers.push(setInterval(() => void this.splits.tick(), this.config.splitRegionCheckTickIntervalMs));
    this.startStoreHeartbeats();
    this.closeHooks.push(() => heartbeats.close());
  }

  /**
   * StoreHeartbeat every interval with the store's stats (store-stats.ts), one at a time. A
   * scheduler that answers STORE_TOMBSTONE has removed this store for good: it stops (fail-stop).
   */
  private startStoreHeartbeats(): void {
    const { onFatal, startTimeSec, snapshotsIn, flow } = this.heartbeatDeps;
    const source: StoreStatsSource = {
      storeId: this.storeId,
      dataDir: this.config.dataDir,
      engineDirs: STORE_ENGINE_DIRS,
      startTimeSec,
      regionCount: () => this.store.regions().length,
      busy: () => (this.store.pendingCommands ?? 0) >= BUSY_PENDING_COMMANDS,
      snapshotStreams: () => ({ sending: this.transport.sendingSnapshotCount, receiving: snapshotsIn.activeStreams }),
      flow: () => flow.take(),
    };
    let intervalStartSec = startTimeSec;
    let inFlight = false;
    const beat = async (): Promise<void> => {
      const nowSec = Math.floor(Date.now() / 1000);
      const stats = await collectStoreStats(source, intervalStartSec, nowSec);
      await this.scheduler.storeHeartbeat(stats);
      intervalStartSec = nowSec;
    };
    const timer = setInterval(() => {
      if (inFlight) return;
      inFlight = true;
      beat()
        .catch((err: unknown) => {
          if (isTombstoneRefusal(err)) onFatal(tombstoneReason(this.storeId, this.config.dataDir), err);
          else this.logger.debug({ err }, 'store heartbeat failed');
        })
        .finally(() => (inFlight = false));
    }, this.config.storeHeartbeatIntervalMs);
    this.timers.push(timer);
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
      // A store that got a region another way (a Raft message, then a snapshot) needs no discovery.
      if (!found && this.store.regions().length > 0) {
        found = true;
        clearInterval(timer);
      }
      if (inFlight || found) return;
      inFlight = true;
      this.scheduler
        .scanRegions(Buffer.alloc(0))
        .then(async (regions) => {
          // Only regions as bootstrap made them (initial epoch) start from an empty initial state: a
          // region that split or changed membership since has data this store must get by snapshot,
          // from its leader's messages (the peer is created then).
          const mine = regions.map((r) => r.region).filter((region) => findPeerOnStore(region, this.storeId) && isBootstrapEpoch(region));
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

  /**
   * One heartbeat per region led here, with its pending and down peers and, once a split check
   * measured it, its size and key count (else the scheduler keeps the last ones).
   */
  private sendRegionHeartbeats(stream: RegionHeartbeatStream): void {
    for (const { region, leader, pendingPeers, downPeers } of this.store.leaderRegions()) {
      const size = this.splits.approximateSize(region.id);
      stream.send({ region, leader, pendingPeers, downPeers, approximateSizeBytes: size?.sizeBytes, approximateKeys: size?.keys });
    }
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
    await Promise.race([this.tracker.drain(), new Promise<void>((resolve) => (timer = setTimeout(resolve, this.config.gracefulShutdownTimeoutMs)))]);
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

/** The LMDB environments of a store, under its data dir (raftstore/batch/store-engines.ts). */
const STORE_ENGINE_DIRS: readonly string[] = ['raft', 'kv'];

/** The scheduler has made this store a tombstone (it answers STORE_TOMBSTONE for its id). */
function isTombstoneRefusal(err: unknown): boolean {
  return err instanceof ClientError && err.serverCode === SchedulerErrorCode.StoreTombstone;
}

function tombstoneReason(storeId: number, dataDir: string): string {
  return (
    `store ${storeId} was removed from the cluster (the scheduler reports it a tombstone); ` +
    `to rejoin as a new store, wipe the data dir ${dataDir} and start again`
  );
}

function isBootstrapEpoch(region: Region): boolean {
  const epoch = region.regionEpoch;
  return epoch?.confVer === INITIAL_EPOCH.confVer && epoch.version === INITIAL_EPOCH.version;
}

/** The data directory locked and its engines open and checked; the lock is let go if they cannot open. */
function openDataDir(config: NodeConfig): { lock: DataDirLock; engines: PeerEngines; engineOptions: StoreEngineOptions } {
  const lock = DataDirLock.acquire(config.dataDir);
  const engineOptions = storeEngineOptions(config.dataDir, config.sync);
  try {
    const engines = openCheckedEnvironments(config.dataDir, ['raft', 'kv'], () => openStoreEngines(engineOptions));
    return { lock, engines, engineOptions };
  } catch (err) {
    // Damaged or unopenable files: nothing else has started yet, but the directory is free again.
    lock.release();
    throw err;
  }
}

/** What a start has brought up so far (the first three always). */
interface StartedParts {
  readonly lock: DataDirLock;
  readonly engines: PeerEngines;
  readonly pools: StorePools;
  scheduler?: SchedulerClient;
  transport?: GrpcTransport;
  store?: RaftRouter;
  server?: Server;
  storage?: Storage;
}

/**
 * Undoes a failed start in reverse order. The poller and apply threads use the engines, so they
 * stop before the engines close (closing LMDB under a running thread aborts the process): the
 * router's stop() resolves only once its threads are gone, terminating any that do not stop in time.
 */
async function undoStart(started: StartedParts, logger: Logger): Promise<void> {
  const { store, storage, engines } = started;
  started.server?.forceShutdown();
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
  started.transport?.close();
  started.scheduler?.close();
  if (stopped) {
    await started.pools.destroy();
    await Promise.all([engines.raft.close(), engines.kv.close()]);
    started.lock.release();
  }
}

/** A store's gRPC server bounds: it receives Raft messages and snapshot chunks of up to 64MiB. */
function grpcServerOptions(config: NodeConfig): ServerOptions {
  return boundedServerOptions({
    maxReceiveMessageBytes: Math.max(config.limits.maxMessageSizeBytes, 64 * 1024 * 1024),
    maxSendMessageBytes: config.limits.maxMessageSizeBytes,
    maxConcurrentStreams: config.maxConcurrentStreams,
    memoryQuotaBytes: config.grpcMemoryQuotaBytes,
  }).options;
}

interface StoreServices {
  readonly storage: Storage;
  readonly router: RaftRouter;
  readonly config: NodeConfig;
  readonly tracker: CallTracker;
  readonly logger: Logger;
  readonly snapshotsIn: SnapshotRecvBudget;
  readonly metrics: StoreMetrics;
  readonly flow: FlowCounter;
}

/** The TinyKv service through Raft, and the Raft, BatchRaft and Snapshot streams from other stores. */
function addStoreServices(server: Server, { storage, router, config, tracker, logger, snapshotsIn, metrics, flow }: StoreServices): void {
  server.addService(boundedService(rawRaftService), {
    ...tinyKvImplementation(storage, config, tracker, logger, config.metrics ? metrics : undefined, flow),
    raft: raftStreamHandler((message) => router.onRaftMessageBytes(message)),
    batchRaft: batchRaftStreamHandler((message) => router.onRaftMessageBytes(message)),
    snapshot: snapshotStreamHandler((message) => router.onRaftMessage(message), snapshotsIn, logger),
  });
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
      return await SchedulerClient.connect(addr, { timeoutMs: 2_000, maxRetries: 1, logger });
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
