/**
 * A standalone TinyKV-TS node: engine + storage + gRPC server, started and stopped as one unit.
 * The CLI's `tinykv server --standalone` and the embedding API (start-server.ts) both run this.
 */
import { join } from 'node:path';
import { Server } from '@grpc/grpc-js';
import { TinyKvService } from '../proto/tinykvpb.js';
import { SchedulerService } from '../proto/schedulerpb.js';
import { loadClusterId, standaloneSchedulerService, startOracle } from '../scheduler/standalone-scheduler.js';
import { systemClock } from '../env/clock.js';
import type { NodeConfig } from '../config/config.js';
import type { Engine } from '../engine/engine.js';
import { LmdbEngine } from '../engine/lmdb-engine.js';
import { openCheckedEnvironments } from '../engine/data-files.js';
import { MemoryEngine } from '../engine/memory-engine.js';
import { StandaloneStorage } from '../storage/standalone-storage.js';
import type { Storage } from '../storage/storage.js';
import { guardSpace } from '../storage/space-guarded-storage.js';
import type { Logger } from '../log/logger.js';
import { CallTracker } from '../rpc/grpc-service.js';
import { tinyKvImplementation } from './tinykv-service.js';
import { DataDirLock } from '../env/data-dir-lock.js';
import { StoreMetrics } from '../metrics/store-metrics.js';
import type { Readiness, StatusServer, StatusSource } from '../metrics/status-server.js';
import { startNodeStatusServer } from './status-endpoint.js';
import { bindServer, boundedServerOptions, boundedService } from '../rpc/server-options.js';

export class TinyKvNode {
  private closing: Promise<void> | undefined;
  private statusServer: StatusServer | undefined;

  private constructor(
    /** The address the server listens on, with the real port when 0 was asked for. */
    readonly addr: string,
    readonly config: NodeConfig,
    private readonly server: Server,
    private readonly storage: Storage,
    private readonly tracker: CallTracker,
    private readonly lock: DataDirLock | undefined,
    private readonly logger: Logger,
    /** This node's metrics registry (served on config.statusAddr's /metrics when set). */
    readonly metrics: StoreMetrics,
  ) {}

  /** The status server's address (with its real port), when config.statusAddr asked for one. */
  get statusAddr(): string | undefined {
    return this.statusServer?.addr;
  }

  /** Serving while not stopping: a standalone node has nothing to join or load. */
  readiness(): Readiness {
    return this.closing ? { ready: false, reason: 'stopping' } : { ready: true };
  }

  private async startStatusServer(): Promise<void> {
    const source: StatusSource = {
      registry: this.metrics.registry,
      storeId: undefined,
      addr: this.addr,
      config: this.config,
      readiness: () => this.readiness(),
      peerRoles: () => new Map(),
    };
    this.statusServer = await startNodeStatusServer(this.config.statusAddr, source, this.logger);
  }

  static async start(config: NodeConfig, logger: Logger): Promise<TinyKvNode> {
    const lock = config.engine === 'lmdb' ? DataDirLock.acquire(config.dataDir) : undefined;
    let engine: Engine | undefined;
    let storage: Storage | undefined;
    let server: Server | undefined;
    try {
      engine = openEngine(config);
      const metrics = new StoreMetrics();
      metrics.observe({ dataDir: config.dataDir, engineDirs: config.engine === 'lmdb' ? ['kv'] : [] });
      storage = guardSpace(new StandaloneStorage(engine, { onCommitSeconds: metrics.engineCommit('kv') }), config);
      await storage.start();
      const clusterId = await loadClusterId(engine, systemClock, Math.random);
      const oracle = await startOracle(engine, systemClock);
      const tracker = new CallTracker();
      const { options } = boundedServerOptions({
        maxReceiveMessageBytes: config.limits.maxMessageSizeBytes,
        maxSendMessageBytes: config.limits.maxMessageSizeBytes,
        maxConcurrentStreams: config.maxConcurrentStreams,
        memoryQuotaBytes: config.grpcMemoryQuotaBytes,
      });
      server = new Server(options);
      let boundAddr = config.addr;
      server.addService(boundedService(TinyKvService), tinyKvImplementation(storage, config, tracker, logger, config.metrics ? metrics : undefined));
      server.addService(
        boundedService(SchedulerService),
        standaloneSchedulerService({ clusterId, oracle, advertiseAddr: () => boundAddr, tracker, logger }),
      );
      const port = await bindServer(server, config.addr);
      boundAddr = `${config.addr.slice(0, config.addr.lastIndexOf(':'))}:${port}`;
      const node = new TinyKvNode(boundAddr, config, server, storage, tracker, lock, logger, metrics);
      await node.startStatusServer();
      logger.info(
        { addr: node.addr, statusAddr: node.statusAddr, dataDir: config.dataDir, engine: config.engine, mode: 'standalone' },
        'tinykv node serving',
      );
      return node;
    } catch (err) {
      // All or nothing: whatever was started is stopped before the error goes up. Stopping the
      // storage stops its space guard and closes the engine; without a storage (the space guard
      // could not read the filesystem) the engine is closed on its own.
      server?.forceShutdown();
      if (storage) await storage.stop().catch(() => {});
      else await engine?.close().catch(() => {});
      lock?.release();
      throw err;
    }
  }

  /** Stops accepting calls, lets calls in flight finish (up to the graceful timeout), then closes storage. Idempotent. */
  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    const timeoutMs = this.config.gracefulShutdownTimeoutMs;
    this.logger.info({ inFlight: this.tracker.count, timeoutMs }, 'shutting down');
    // Unary calls get to finish; streams (a client's Tso stream) never end by themselves, so once
    // the calls are done the server stops without waiting for them.
    let timer: NodeJS.Timeout | undefined;
    const timedOut = await Promise.race([
      this.tracker.drain().then(() => false),
      new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), timeoutMs))),
    ]);
    clearTimeout(timer);
    if (timedOut) this.logger.warn({ inFlight: this.tracker.count }, 'graceful shutdown timed out; cancelling calls');
    this.server.forceShutdown();
    await this.storage.stop();
    this.lock?.release();
    // Last, so /readyz answers "stopping" for as long as the stop takes.
    await this.statusServer?.close();
    this.logger.info('stopped');
  }
}

function openEngine(config: NodeConfig): Engine {
  if (config.engine === 'memory') return new MemoryEngine();
  return openCheckedEnvironments(config.dataDir, ['kv'], () => new LmdbEngine({ path: join(config.dataDir, 'kv'), noSync: !config.sync }));
}
