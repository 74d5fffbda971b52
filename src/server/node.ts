/**
 * A TinyKV-TS node: engine + storage + gRPC server, started and stopped as one unit. The CLI's
 * `tinykv server` and the embedding API both run this.
 */
import { join } from 'node:path';
import { Server, ServerCredentials } from '@grpc/grpc-js';
import { TinyKvService } from '../proto/tinykvpb.js';
import { SchedulerService } from '../proto/schedulerpb.js';
import { loadClusterId, standaloneSchedulerService, startOracle } from '../scheduler/standalone-scheduler.js';
import { systemClock } from '../env/clock.js';
import { loadConfig, type ConfigOverrides, type NodeConfig } from '../config/config.js';
import type { Engine } from '../engine/engine.js';
import { LmdbEngine } from '../engine/lmdb-engine.js';
import { MemoryEngine } from '../engine/memory-engine.js';
import { StandaloneStorage } from '../storage/standalone-storage.js';
import type { Storage } from '../storage/storage.js';
import { createLogger, type Logger } from '../log/logger.js';
import { CallTracker } from './grpc-service.js';
import { tinyKvImplementation } from './tinykv-service.js';
import { DataDirLock } from './data-dir-lock.js';
import { checkedService, withMalformedRequestRejection } from './wire-format.js';

export class TinyKvNode {
  private closing: Promise<void> | undefined;

  private constructor(
    /** The address the server listens on, with the real port when 0 was asked for. */
    readonly addr: string,
    readonly config: NodeConfig,
    private readonly server: Server,
    private readonly storage: Storage,
    private readonly tracker: CallTracker,
    private readonly lock: DataDirLock | undefined,
    private readonly logger: Logger,
  ) {}

  static async start(config: NodeConfig, logger: Logger): Promise<TinyKvNode> {
    const lock = config.engine === 'lmdb' ? DataDirLock.acquire(config.dataDir) : undefined;
    let storage: Storage | undefined;
    try {
      const engine = openEngine(config);
      storage = new StandaloneStorage(engine);
      await storage.start();
      const clusterId = await loadClusterId(engine, systemClock, Math.random);
      const oracle = await startOracle(engine, systemClock);
      const tracker = new CallTracker();
      const server = new Server(
        withMalformedRequestRejection({
          'grpc.max_receive_message_length': config.limits.maxMessageSizeBytes,
          'grpc.max_send_message_length': config.limits.maxMessageSizeBytes,
        }),
      );
      let boundAddr = config.addr;
      server.addService(checkedService(TinyKvService), tinyKvImplementation(storage, config, tracker, logger));
      server.addService(
        checkedService(SchedulerService),
        standaloneSchedulerService({ clusterId, oracle, advertiseAddr: () => boundAddr, tracker, logger }),
      );
      const port = await bind(server, config.addr);
      boundAddr = `${config.addr.slice(0, config.addr.lastIndexOf(':'))}:${port}`;
      const node = new TinyKvNode(boundAddr, config, server, storage, tracker, lock, logger);
      logger.info({ addr: node.addr, dataDir: config.dataDir, engine: config.engine, mode: 'standalone' }, 'tinykv node serving');
      return node;
    } catch (err) {
      await storage?.stop().catch(() => {});
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
    this.logger.info('stopped');
  }
}

function openEngine(config: NodeConfig): Engine {
  if (config.engine === 'memory') return new MemoryEngine();
  return new LmdbEngine({ path: join(config.dataDir, 'kv'), noSync: !config.sync });
}

function bind(server: Server, addr: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.bindAsync(addr, ServerCredentials.createInsecure(), (err, port) => (err ? reject(err) : resolve(port)));
  });
}

export interface StartServerOptions extends ConfigOverrides {
  /** A TOML config file, read before the overrides. */
  readonly configFile?: string;
  /** Defaults to a pino logger at the configured level, writing to stderr. */
  readonly logger?: Logger;
}

/**
 * Starts a node in this process and resolves once it serves gRPC.
 * @example
 *   const node = await startServer({ addr: '127.0.0.1:0', dataDir: './data' });
 *   console.log(node.addr);
 *   await node.close();
 */
export async function startServer(options: StartServerOptions = {}): Promise<TinyKvNode> {
  const { configFile, logger, ...overrides } = options;
  const config = loadConfig({ configFile, overrides });
  return TinyKvNode.start(config, logger ?? createLogger(config.logLevel));
}
