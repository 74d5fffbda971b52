/**
 * The scheduler as a process of its own: engine + SchedulerCore + gRPC server, started and stopped
 * as one unit (`tinykv scheduler` runs this). LMDB lives in `<dataDir>/scheduler`, guarded by the
 * data-dir lock; `engine: 'memory'` (or an Engine instance) keeps everything in memory for tests.
 */
import { join } from 'node:path';
import { Server } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import type { Engine } from '../engine/engine.js';
import { LmdbEngine } from '../engine/lmdb-engine.js';
import { MemoryEngine } from '../engine/memory-engine.js';
import { SchedulerService } from '../proto/schedulerpb.js';
import { CallTracker } from '../rpc/grpc-service.js';
import { DataDirLock } from '../env/data-dir-lock.js';
import { openCheckedEnvironments } from '../engine/data-files.js';
import { bindServer, boundedServerOptions, boundedService } from '../rpc/server-options.js';
import { DEFAULT_GRPC_MEMORY_QUOTA_BYTES, DEFAULT_MAX_CONCURRENT_STREAMS } from '../config/config.js';
import { silentLogger } from '../log/logger.js';
import { defined } from '../util/assert.js';
import { SchedulerCore, type SchedulerCoreOptions } from './core.js';
import { createSchedulerService } from './service.js';
import { invalidArgument } from './errors.js';
import type { SchedulerAdmin } from './admin.js';
import { openScheduling, type Scheduling } from './scheduling.js';
import { systemClock } from '../env/clock.js';
import { systemTimers, type Timers } from '../env/timers.js';
import { DEFAULT_SCHEDULE_CONFIG, type ScheduleConfig } from './schedule/schedule-config.js';
import { startAdminHttpServer, type AdminHttpServer } from './http/admin-server.js';
import { SchedulerMetrics, type SchedulerMetricsSource } from '../metrics/scheduler-metrics.js';
import { schedulerStatusSource } from './status-source.js';

export const DEFAULT_SCHEDULER_ADDR = '127.0.0.1:2379';

export interface StartSchedulerOptions extends Omit<SchedulerCoreOptions, 'maxStoreDownTimeMs' | 'scheduleConfig'> {
  /** host:port to listen on; port 0 picks a free port. Default 127.0.0.1:2379. */
  readonly addr?: string;
  /** Data directory; required for the LMDB engine. */
  readonly dataDir?: string;
  /**
   * 'lmdb' (default), 'memory', or an Engine the caller owns (not closed by `close()`; pass the
   * same MemoryEngine again to simulate a restart).
   */
  readonly engine?: 'lmdb' | 'memory' | Engine;
  /** fsync every commit (default true). */
  readonly sync?: boolean;
  /** How long `close()` waits for calls in flight before cancelling them (default 10 s). */
  readonly gracefulShutdownTimeoutMs?: number;
  readonly maxMessageSizeBytes?: number;
  /** Calls one client connection may have open at once (default 1024). */
  readonly maxConcurrentStreams?: number;
  /** Unsent unary response bytes held for slow clients before large responses are refused (default 128 MiB). */
  readonly grpcMemoryQuotaBytes?: number;
  /** A store silent this long is Down (`--max-store-down-time`); replaces the persisted value when given. */
  readonly maxStoreDownTimeMs?: number;
  /**
   * False: the scheduler balances and repairs nothing by itself (no scheduler, no replica checker);
   * operators added through the admin API are still carried out and offline stores still turn
   * Tombstone. For tests that change membership themselves, as TinyKV's do over a mock scheduler.
   * Default true.
   */
  readonly autoSchedule?: boolean;
  /** Timers of the coordinator's loops (tests inject ManualTimers). */
  readonly timers?: Timers;
  /** host:port of the admin HTTP API (PD's /pd/api/v1 subset, docs/admin-api.md); port 0 picks a free port; none when absent. */
  readonly statusAddr?: string;
  readonly logger?: Logger;
}

export interface SchedulerHandle {
  /** The address the server listens on, with the real port when 0 was asked for. */
  readonly addr: string;
  readonly clusterId: bigint;
  /** The state behind the service (for embedding, operators and tests). */
  readonly core: SchedulerCore;
  /** The pd-ctl-style admin surface (the HTTP API serves it). */
  readonly admin: SchedulerAdmin;
  /** Where the admin HTTP API listens (real port), when it was asked for. */
  readonly statusAddr: string | undefined;
  /** This scheduler's Prometheus metrics (served on the admin HTTP API's `/metrics`). */
  readonly metrics: SchedulerMetrics;
  /** Stops the admin API and scheduling, ends open streams, lets calls in flight finish, then closes the engine. Idempotent. */
  close(): Promise<void>;
}

/**
 * Starts a scheduler and resolves once it serves gRPC.
 * @example
 *   const scheduler = await startScheduler({ addr: '127.0.0.1:0', dataDir: './pd', initialStores: 3 });
 *   console.log(scheduler.addr, scheduler.clusterId);
 *   await scheduler.close();
 */
export async function startScheduler(options: StartSchedulerOptions = {}): Promise<SchedulerHandle> {
  const logger = options.logger ?? silentLogger();
  const addr = options.addr ?? DEFAULT_SCHEDULER_ADDR;
  const engineOption = options.engine ?? 'lmdb';
  if (engineOption === 'lmdb' && !options.dataDir) throw invalidArgument('the LMDB engine needs a data directory');
  const lock = engineOption === 'lmdb' ? DataDirLock.acquire(defined(options.dataDir, 'LMDB data directory')) : undefined;
  const ownsEngine = typeof engineOption === 'string';
  let engine: Engine | undefined;
  let stopScheduling: (() => Promise<void>) | undefined;
  try {
    engine = openEngine(engineOption, options);
    // The core's store-liveness logs read the live schedule config, which opens after the core.
    let storeDownTimeMs: () => number = () => options.maxStoreDownTimeMs ?? DEFAULT_SCHEDULE_CONFIG.maxStoreDownTimeMs;
    let scheduleConfig: () => ScheduleConfig = () => DEFAULT_SCHEDULE_CONFIG;
    // Scrapes read the cluster through the admin, which opens after the core.
    let scrape: SchedulerMetricsSource = { storeStates: () => [], regionCount: () => 0 };
    const metrics = new SchedulerMetrics({ storeStates: () => scrape.storeStates(), regionCount: () => scrape.regionCount() });
    const core = await SchedulerCore.open(engine, {
      ...options,
      logger,
      maxStoreDownTimeMs: () => storeDownTimeMs(),
      scheduleConfig: () => scheduleConfig(),
      onOperatorFinished: (op) => metrics.operatorFinished(op.kindNames(), op.status),
    });
    let boundAddr = addr;
    const scheduling = await openScheduling({
      core,
      engine,
      clock: options.clock ?? systemClock,
      timers: options.timers ?? systemTimers,
      random: options.random ?? Math.random,
      logger,
      maxStoreDownTimeMs: options.maxStoreDownTimeMs,
      advertiseAddr: () => boundAddr,
      autoSchedule: options.autoSchedule,
    });
    storeDownTimeMs = () => scheduling.configStore.config().maxStoreDownTimeMs;
    scheduleConfig = () => scheduling.configStore.config();
    stopScheduling = () => scheduling.coordinator.close();
    scrape = { storeStates: () => scheduling.admin.stores().map((s) => s.stateName), regionCount: () => core.state.regionCount };
    const tracker = new CallTracker();
    const maxMessageSizeBytes = options.maxMessageSizeBytes ?? 16 * 1024 * 1024;
    const { options: serverOptions } = boundedServerOptions({
      maxReceiveMessageBytes: maxMessageSizeBytes,
      maxSendMessageBytes: maxMessageSizeBytes,
      maxConcurrentStreams: options.maxConcurrentStreams ?? DEFAULT_MAX_CONCURRENT_STREAMS,
      memoryQuotaBytes: Math.max(options.grpcMemoryQuotaBytes ?? DEFAULT_GRPC_MEMORY_QUOTA_BYTES, maxMessageSizeBytes),
    });
    const server = new Server(serverOptions);
    const service = createSchedulerService({ core, tracker, logger, advertiseAddr: () => boundAddr, metrics });
    server.addService(boundedService(SchedulerService), service.implementation);
    const port = await bindServer(server, addr);
    boundAddr = `${addr.slice(0, addr.lastIndexOf(':'))}:${port}`;
    logger.info({ addr: boundAddr, dataDir: options.dataDir, clusterId: String(core.clusterId) }, 'tinykv scheduler serving');
    let adminHttp: AdminHttpServer | undefined;
    let stopping = false;
    try {
      adminHttp = await startHttp(options, { scheduling, core, metrics, boundAddr, logger, isStopping: () => stopping });
    } catch (err) {
      server.forceShutdown();
      throw err;
    }

    const ownedEngine = engine;
    let closing: Promise<void> | undefined;
    const shutdown = async () => {
      stopping = true;
      // The admin API first, so no admin call starts while the rest stops; then scheduling, so no
      // round adds an operator or writes config.
      await adminHttp?.close();
      await scheduling.coordinator.close();
      await stopServing({
        server,
        tracker,
        closeStreams: () => service.closeStreams(),
        timeoutMs: options.gracefulShutdownTimeoutMs ?? 10_000,
        logger,
      });
      if (ownsEngine) await ownedEngine.close();
      lock?.release();
      logger.info('scheduler stopped');
    };
    return {
      addr: boundAddr,
      clusterId: core.clusterId,
      core,
      admin: scheduling.admin,
      statusAddr: adminHttp?.addr,
      metrics,
      close: () => (closing ??= shutdown()),
    };
  } catch (err) {
    await stopScheduling?.();
    if (ownsEngine) await engine?.close().catch(() => {});
    lock?.release();
    throw err;
  }
}

/** The admin HTTP API with the status endpoints and the dashboard, when `statusAddr` asks for it. */
async function startHttp(
  options: StartSchedulerOptions,
  deps: {
    scheduling: Scheduling;
    core: SchedulerCore;
    metrics: SchedulerMetrics;
    boundAddr: string;
    logger: Logger;
    isStopping: () => boolean;
  },
): Promise<AdminHttpServer | undefined> {
  if (options.statusAddr === undefined) return undefined;
  const { scheduling, core } = deps;
  // The scheduler's clock: pause deadlines were set by it, so "paused" must be judged by it too.
  const clock = options.clock ?? systemClock;
  let listening: AdminHttpServer | undefined;
  const status = schedulerStatusSource({
    admin: scheduling.admin,
    metrics: deps.metrics,
    clock,
    startMs: clock.nowMs(),
    clusterId: core.clusterId,
    addr: deps.boundAddr,
    statusAddr: () => listening?.addr,
    readiness: () => ({ bootstrapped: core.isBootstrapped, serving: !deps.isStopping() }),
    flags: startFlags(options, deps.boundAddr),
  });
  listening = await startAdminHttpServer({ addr: options.statusAddr, admin: scheduling.admin, logger: deps.logger, clock, status });
  return listening;
}

/** The options a scheduler started with, for `/config` (plain values; undefined ones drop out of the JSON). */
function startFlags(options: StartSchedulerOptions, boundAddr: string): Record<string, unknown> {
  const engine = options.engine ?? 'lmdb';
  return {
    addr: boundAddr,
    status_addr: options.statusAddr,
    data_dir: options.dataDir,
    engine: typeof engine === 'string' ? engine : 'embedded',
    sync: options.sync ?? true,
    initial_stores: options.initialStores ?? 1,
    initial_regions: options.initialRegions,
    split_keys: options.splitKeys?.length,
    max_replicas: options.maxReplicas,
    auto_schedule: options.autoSchedule ?? true,
    max_store_down_time_ms: options.maxStoreDownTimeMs,
    graceful_shutdown_timeout_ms: options.gracefulShutdownTimeoutMs ?? 10_000,
    max_message_size_bytes: options.maxMessageSizeBytes,
    max_concurrent_streams: options.maxConcurrentStreams,
    grpc_memory_quota_bytes: options.grpcMemoryQuotaBytes,
  };
}

/** Ends open streams, lets calls in flight finish for up to `timeoutMs`, then cancels the rest. */
async function stopServing(args: {
  server: Server;
  tracker: CallTracker;
  closeStreams: () => void;
  timeoutMs: number;
  logger: Logger;
}): Promise<void> {
  const { server, tracker, timeoutMs, logger } = args;
  logger.info({ inFlight: tracker.count, timeoutMs }, 'scheduler shutting down');
  args.closeStreams();
  const graceful = Promise.all([tracker.drain(), new Promise<void>((resolve) => server.tryShutdown(() => resolve()))]);
  let timer: NodeJS.Timeout | undefined;
  const timedOut = await Promise.race([
    graceful.then(() => false),
    new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), timeoutMs))),
  ]);
  clearTimeout(timer);
  if (timedOut) {
    logger.warn({ inFlight: tracker.count }, 'graceful shutdown timed out; cancelling calls');
    server.forceShutdown();
  }
}

function openEngine(option: 'lmdb' | 'memory' | Engine, options: StartSchedulerOptions): Engine {
  if (option === 'memory') return new MemoryEngine();
  if (option === 'lmdb') {
    const dataDir = defined(options.dataDir, 'LMDB data directory');
    return openCheckedEnvironments(
      dataDir,
      ['scheduler'],
      () => new LmdbEngine({ path: join(dataDir, 'scheduler'), noSync: options.sync === false }),
    );
  }
  return option;
}
