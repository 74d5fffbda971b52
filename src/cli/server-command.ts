/** `tinykv server`: run a node until SIGINT/SIGTERM, then shut down gracefully and exit 0. */
import { join } from 'node:path';
import { Command, Option } from 'commander';
import type { Logger } from 'pino';
import {
  loadConfig,
  LOG_FORMATS,
  LOG_LEVELS,
  ENGINE_KINDS,
  type ConfigOverrides,
  type LogFormat,
  type LogLevel,
  type EngineKind,
  type NodeConfig,
} from '../config/config.js';
import { TinyKvNode } from '../server/node.js';
import { ClusterNode } from '../server/cluster-node.js';
import { DEFAULT_SCHEDULER_ADDR, startScheduler, type SchedulerHandle } from '../scheduler/scheduler-server.js';
import { checkAddr, defaultStatusAddr } from './scheduler-command.js';
import { createLogger } from '../log/logger.js';
import { routeGrpcLogs } from '../log/grpc-log.js';
import { UsageError } from './output.js';
import { parseDurationMs, parseSizeBytes } from '../config/units.js';
import { setErrorDetail } from './error-report.js';
import { installProcessFailStop } from '../util/fail-stop.js';

function parseCountOrZero(text: string): number {
  return text === '0' ? 0 : parseCount(text);
}

function parseSize(text: string): number {
  const bytes = parseSizeBytes(text);
  if (bytes === undefined) throw new UsageError(`expected a size such as "512MiB" or a byte count, got "${text}"`);
  return bytes;
}

function parseDuration(text: string): number {
  const ms = parseDurationMs(text);
  if (ms === undefined) throw new UsageError(`expected a duration such as "10m" or "30s", got "${text}"`);
  return ms;
}

function parseCount(text: string): number {
  const value = Number(text);
  if (!Number.isSafeInteger(value) || value < 1) throw new UsageError(`expected a positive integer, got "${text}"`);
  return value;
}

interface ServerFlags {
  maxConcurrentStreams?: number;
  grpcMemoryQuota?: number;
  standalone?: boolean;
  scheduler?: string;
  embeddedScheduler?: string | true;
  schedulerStatusAddr?: string;
  raftLogGcCountLimit?: number;
  regionMaxSize?: number;
  regionSplitSize?: number;
  maxPeerDownDuration?: number;
  raftBaseTickMs?: number;
  raftElectionTimeoutTicks?: number;
  raftHeartbeatTicks?: number;
  raftPollers?: number;
  applyPollers?: number;
  addr?: string;
  statusAddr?: string;
  dataDir?: string;
  config?: string;
  logLevel?: LogLevel;
  logFormat?: LogFormat;
  slowLogThreshold?: number;
  /** False with --no-metrics. */
  metrics?: boolean;
  engine?: EngineKind;
  reserveSpace?: number;
  allowRawTxnCfWrites?: boolean;
}

export function registerServerCommand(program: Command, print: (text: string) => void): void {
  program
    .command('server')
    .description('run a storage node')
    .option('--standalone', 'serve from one local engine without Raft (the default when no scheduler is given)')
    .option('--scheduler <host:port>', 'join the cluster of this scheduler (cluster mode)')
    .option(
      '--embedded-scheduler [host:port]',
      'run a one-store cluster: start a scheduler in this process (default 127.0.0.1:2379, data in <data-dir>/scheduler) and join it',
    )
    .option(
      '--scheduler-status-addr <host:port>',
      "the embedded scheduler's admin API and dashboard (default: its gRPC port + 1, so 127.0.0.1:2380; 'off' for none)",
    )
    .option('--raft-log-gc-count-limit <n>', 'compact the raft log past this many applied entries (default 10000)', parseCount)
    .option('--region-max-size <size>', 'split a region whose data grows past this (default 144MiB)', parseSize)
    .option('--region-split-size <size>', 'a split leaves about this much in the left region (default 96MiB)', parseSize)
    .option('--max-peer-down-duration <duration>', 'report a follower silent this long as down to the scheduler (default 10m)', parseDuration)
    .option('--raft-base-tick-ms <ms>', 'wall time of one raft tick (default 100)', parseCount)
    .option('--raft-election-timeout-ticks <n>', 'ticks without a leader before a follower campaigns (default 10)', parseCount)
    .option('--raft-heartbeat-ticks <n>', "ticks between a leader's heartbeats (default 2)", parseCount)
    .option('--raft-pollers <n>', 'raft poller threads; 0 runs region peers on the main thread (default: cores - 1, at least 1)', parseCountOrZero)
    .option('--apply-pollers <n>', 'apply threads beside the raft pollers (default 1)', parseCount)
    .option('--addr <host:port>', 'gRPC listen address (default 127.0.0.1:20160)')
    .option('--status-addr <host:port>', 'status HTTP server: /metrics, /livez, /readyz, /status, /config (default: none; port 0 picks one)')
    .option('--data-dir <path>', 'data directory (default ./data)')
    .option('--config <file>', 'TOML config file (see tinykv.example.toml)')
    .option('--max-concurrent-streams <n>', 'calls one client connection may have open at once (default 1024)', parseCount)
    .option(
      '--grpc-memory-quota <size>',
      'unsent response bytes held for slow clients before large responses are refused (default 128MiB)',
      parseSize,
    )
    .addOption(new Option('--log-level <level>', 'log level (default info)').choices(LOG_LEVELS))
    .addOption(new Option('--log-format <format>', 'json lines, or pretty text for people (default json)').choices(LOG_FORMATS))
    .option('--no-metrics', 'count nothing for /metrics (to measure what counting costs; config server.metrics)')
    .option('--slow-log-threshold <duration>', 'log requests slower than this at warn (default 1s)', parseDuration)
    .addOption(new Option('--engine <kind>', 'storage engine (default lmdb; memory keeps nothing)').choices(ENGINE_KINDS))
    .option(
      '--reserve-space <size>',
      "free space kept on the data dir's filesystem; writes are refused below it (0: off; default 1GiB, at most 5% of the disk)",
      parseSize,
    )
    .option('--allow-raw-txn-cf-writes', 'let RawPut/RawDelete write the lock and write column families (breaks transactions that meet them)')
    .action((flags: ServerFlags) => runServer(flags, print));
}

/** The flags as config overrides (flags beat the file and the environment). */
function serverOverrides(flags: ServerFlags): ConfigOverrides {
  return {
    addr: flags.addr,
    statusAddr: flags.statusAddr,
    dataDir: flags.dataDir,
    logLevel: flags.logLevel,
    logFormat: flags.logFormat,
    slowLogThresholdMs: flags.slowLogThreshold,
    // Commander sets true when the flag is absent: only --no-metrics overrides the file and environment.
    metrics: flags.metrics === false ? false : undefined,
    engine: flags.engine,
    // --scheduler or --embedded-scheduler means cluster mode unless --standalone says otherwise.
    standalone: flags.standalone ?? (flags.scheduler || flags.embeddedScheduler ? false : undefined),
    scheduler: flags.scheduler,
    raftLogGcCountLimit: flags.raftLogGcCountLimit,
    regionMaxSizeBytes: flags.regionMaxSize,
    regionSplitSizeBytes: flags.regionSplitSize,
    maxPeerDownDurationMs: flags.maxPeerDownDuration,
    raftBaseTickMs: flags.raftBaseTickMs,
    raftElectionTimeoutTicks: flags.raftElectionTimeoutTicks,
    raftHeartbeatTicks: flags.raftHeartbeatTicks,
    raftPollers: flags.raftPollers,
    applyPollers: flags.applyPollers,
    maxConcurrentStreams: flags.maxConcurrentStreams,
    grpcMemoryQuotaBytes: flags.grpcMemoryQuota,
    reserveSpaceBytes: flags.reserveSpace,
    allowRawTxnCfWrites: flags.allowRawTxnCfWrites,
  };
}

async function runServer(flags: ServerFlags, print: (text: string) => void): Promise<void> {
  const overrides = serverOverrides(flags);
  if (flags.embeddedScheduler && flags.scheduler) throw new UsageError('give --scheduler or --embedded-scheduler, not both');
  if (flags.schedulerStatusAddr !== undefined && !flags.embeddedScheduler) throw new UsageError('--scheduler-status-addr needs --embedded-scheduler');
  let config = loadConfig({ configFile: flags.config, env: process.env, overrides });
  setErrorDetail(config.logLevel);
  const root = createLogger(config.logLevel, 'tinykv', { format: config.logFormat });
  routeGrpcLogs(root);
  // Lines name their component; the process-wide ones (fail-stop, signals) are the store's.
  const logger = root.child({ component: 'store' });
  installProcessFailStop(logger);
  let scheduler: SchedulerHandle | undefined;
  // Start is all or nothing: a failure at any step stops what the earlier steps started (each
  // start() undoes its own part) and the error goes up to main, which prints one line.
  try {
    if (flags.embeddedScheduler && !config.standalone) {
      scheduler = await startEmbeddedScheduler(flags.embeddedScheduler, flags.schedulerStatusAddr, config, root.child({ component: 'scheduler' }));
      config = loadConfig({ configFile: flags.config, env: process.env, overrides: { ...overrides, scheduler: scheduler.addr } });
      print(`embedded scheduler at ${scheduler.addr}`);
      if (scheduler.statusAddr) {
        print(`embedded scheduler admin API on http://${scheduler.statusAddr}/pd/api/v1`);
        print(`embedded scheduler dashboard on http://${scheduler.statusAddr}/dashboard`);
      }
    }
    const node = config.standalone ? await TinyKvNode.start(config, logger) : await ClusterNode.start(config, logger);
    // Before the listening line: `tinykv cluster` reads both once it sees that one.
    if (node.statusAddr) print(`tinykv status server on http://${node.statusAddr}`);
    // A cluster store names its id: `tinykv cluster` labels its stores by it.
    print(node instanceof ClusterNode ? `tinykv store ${node.storeId} listening on ${node.addr}` : `tinykv listening on ${node.addr}`);
    await waitForSignal(async (signal) => {
      logger.info({ signal }, 'signal received');
      await node.close();
      await scheduler?.close();
      logger.flush();
    });
  } catch (err) {
    await scheduler?.close().catch((closeErr: unknown) => logger.error({ err: closeErr }, 'closing the embedded scheduler failed'));
    logger.flush();
    throw err;
  }
}

/**
 * A one-store cluster's scheduler, in this process, keeping its data in <data-dir>/scheduler, with
 * its admin API and dashboard on the next port unless `statusFlag` says where (or 'off').
 */
function startEmbeddedScheduler(flag: string | true, statusFlag: string | undefined, config: NodeConfig, logger: Logger): Promise<SchedulerHandle> {
  const addr = flag === true ? DEFAULT_SCHEDULER_ADDR : flag;
  const statusAddr = statusFlag === 'off' ? undefined : (statusFlag ?? defaultStatusAddr(addr));
  if (statusAddr !== undefined) checkAddr(statusAddr, '--scheduler-status-addr');
  return startScheduler({
    addr,
    statusAddr,
    dataDir: join(config.dataDir, 'scheduler'),
    initialStores: 1,
    sync: config.sync,
    maxConcurrentStreams: config.maxConcurrentStreams,
    grpcMemoryQuotaBytes: config.grpcMemoryQuotaBytes,
    logger,
  });
}

/** Resolves after the first SIGINT/SIGTERM has been handled; a second signal exits at once. */
function waitForSignal(onSignal: (signal: NodeJS.Signals) => Promise<void>): Promise<void> {
  return new Promise((resolve, reject) => {
    let handling = false;
    const handler = (signal: NodeJS.Signals) => {
      if (handling) process.exit(130);
      handling = true;
      onSignal(signal).then(resolve, reject);
    };
    process.on('SIGINT', handler);
    process.on('SIGTERM', handler);
  });
}
