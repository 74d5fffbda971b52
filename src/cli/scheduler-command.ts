/**
 * `tinykv scheduler`: run the scheduler (TinyScheduler, a trimmed PD) until SIGINT/SIGTERM, then
 * shut down gracefully and exit 0. Invalid flags exit 2 (commander errors, ConfigError, UsageError).
 *
 *   tinykv scheduler --addr 127.0.0.1:2379 --data-dir D [--initial-stores N] [--initial-regions K]
 *                    [--split-keys a,b,c [--split-key-encoding utf8|hex|base64]] [--max-store-down-time 30m] [--log-level L] [--log-format json|pretty]
 *                    [--status-addr host:port (the admin HTTP API; default: the gRPC port + 1)]
 */
import { Command, InvalidArgumentError, Option } from 'commander';
import type { Logger } from 'pino';
import { ConfigError, ENGINE_KINDS, LOG_FORMATS, LOG_LEVELS, type EngineKind, type LogFormat, type LogLevel } from '../config/config.js';
import { createLogger } from '../log/logger.js';
import { parseDurationMs, parseSizeBytes } from '../config/units.js';
import { MIN_MAX_STORE_DOWN_TIME_MS } from '../scheduler/schedule/config-store.js';
import { routeGrpcLogs } from '../log/grpc-log.js';
import { setErrorDetail } from './error-report.js';
import { BYTE_ENCODINGS, decodeArg, type ByteEncoding } from './output.js';
import { DEFAULT_SCHEDULER_ADDR, startScheduler, type SchedulerHandle } from '../scheduler/scheduler-server.js';
import { MAX_INITIAL_REGIONS, MAX_INITIAL_STORES, resolveSplitKeys } from '../scheduler/bootstrap.js';
import { isSchedulerError } from '../scheduler/errors.js';
import { installProcessFailStop, type FatalHandler } from '../util/fail-stop.js';

export const DEFAULT_SCHEDULER_DATA_DIR = './scheduler-data';

interface SchedulerFlags {
  addr: string;
  statusAddr?: string;
  dataDir: string;
  initialStores: number;
  initialRegions?: number;
  splitKeys?: string;
  splitKeyEncoding: ByteEncoding;
  logLevel: LogLevel;
  logFormat: LogFormat;
  engine: EngineKind;
  maxConcurrentStreams?: number;
  grpcMemoryQuota?: number;
  maxStoreDownTime?: number;
}

/** Seams for running the command in-process (tests): a logger, and a promise that stops it like a signal. */
export interface SchedulerCommandHooks {
  readonly logger?: Logger;
  readonly shutdownSignal?: Promise<unknown>;
  readonly onListening?: (scheduler: SchedulerHandle) => void;
  /** What an unhandled rejection or uncaught exception does while the command runs (default: exit 70). */
  readonly onFatal?: FatalHandler;
}

/** The admin API's default address: the gRPC host with the next port (0 stays 0: any free port). */
export function defaultStatusAddr(addr: string): string {
  const colon = addr.lastIndexOf(':');
  const port = Number(addr.slice(colon + 1));
  if (port >= 65_535) throw new ConfigError(`--addr uses port ${port}, so give --status-addr for the admin API`);
  return `${addr.slice(0, colon)}:${port === 0 ? 0 : port + 1}`;
}

function intIn(flag: string, min: number, max: number) {
  return (value: string): number => {
    const n = /^\d+$/.test(value) ? Number(value) : Number.NaN;
    if (!Number.isSafeInteger(n) || n < min || n > max) {
      throw new InvalidArgumentError(`${flag} must be an integer in ${min}..${max}, got "${value}"`);
    }
    return n;
  };
}

function sizeArg(flag: string) {
  return (value: string): number => {
    const bytes = parseSizeBytes(value);
    if (bytes === undefined || bytes < 1) throw new InvalidArgumentError(`${flag} must be a size such as 128MiB, got "${value}"`);
    return bytes;
  };
}

function durationArg(flag: string, minMs: number) {
  return (value: string): number => {
    const ms = parseDurationMs(value);
    if (ms === undefined || ms < minMs)
      throw new InvalidArgumentError(`${flag} must be a duration of at least ${minMs} ms such as 30m or 90s, got "${value}"`);
    return ms;
  };
}

export function checkAddr(addr: string, flag = '--addr'): void {
  const colon = addr.lastIndexOf(':');
  const port = Number(addr.slice(colon + 1));
  if (colon <= 0 || !/^\d+$/.test(addr.slice(colon + 1)) || port > 65_535) {
    throw new ConfigError(`${flag} must be host:port, got "${addr}"`);
  }
}

/** The initial split keys from the flags; ConfigError when they are inconsistent. */
export function splitKeysFromFlags(flags: Pick<SchedulerFlags, 'initialRegions' | 'splitKeys' | 'splitKeyEncoding'>): Buffer[] {
  const explicit = flags.splitKeys?.split(',').map((k) => decodeArg(k, flags.splitKeyEncoding));
  try {
    return resolveSplitKeys({ initialRegions: flags.initialRegions, splitKeys: explicit });
  } catch (err) {
    if (isSchedulerError(err)) throw new ConfigError(err.message);
    throw err;
  }
}

export function registerSchedulerCommand(program: Command, print: (text: string) => void, hooks: SchedulerCommandHooks = {}): void {
  program
    .command('scheduler')
    .description('run the scheduler (TinyScheduler: cluster ids, TSO, ids, stores, regions, bootstrap)')
    .option('--addr <host:port>', 'gRPC listen address', DEFAULT_SCHEDULER_ADDR)
    .option('--status-addr <host:port>', 'admin HTTP API (pd-ctl style, /pd/api/v1) listen address (default: the --addr port + 1)')
    .option('--data-dir <path>', 'data directory', DEFAULT_SCHEDULER_DATA_DIR)
    .addOption(
      new Option('--initial-stores <n>', 'bootstrap once this many stores have registered (0: wait for a Bootstrap RPC)')
        .argParser(intIn('--initial-stores', 0, MAX_INITIAL_STORES))
        .default(1),
    )
    .addOption(
      new Option('--initial-regions <k>', 'regions to create at bootstrap (default 1, or one more than --split-keys)').argParser(
        intIn('--initial-regions', 1, MAX_INITIAL_REGIONS),
      ),
    )
    .option('--split-keys <keys>', 'comma-separated split points of the initial regions (default: evenly over the byte range)')
    .addOption(new Option('--split-key-encoding <encoding>', 'how --split-keys are written').choices(BYTE_ENCODINGS).default('utf8'))
    .addOption(new Option('--log-level <level>', 'log level').choices(LOG_LEVELS).default('info'))
    .addOption(new Option('--log-format <format>', 'json lines, or pretty text for people').choices(LOG_FORMATS).default('json'))
    .addOption(new Option('--engine <kind>', 'storage engine (memory keeps nothing)').choices(ENGINE_KINDS).default('lmdb'))
    .option(
      '--max-concurrent-streams <n>',
      'calls one client connection may have open at once (default 1024)',
      intIn('--max-concurrent-streams', 1, 65_536),
    )
    .option(
      '--grpc-memory-quota <size>',
      'unsent response bytes held for slow clients before large responses are refused (default 128MiB)',
      sizeArg('--grpc-memory-quota'),
    )
    .option(
      '--max-store-down-time <duration>',
      'a store silent this long is Down and its replicas are replaced elsewhere (default 30m, or what was set before; persisted)',
      durationArg('--max-store-down-time', MIN_MAX_STORE_DOWN_TIME_MS),
    )
    .action(async (flags: SchedulerFlags) => {
      checkAddr(flags.addr);
      const statusAddr = flags.statusAddr ?? defaultStatusAddr(flags.addr);
      checkAddr(statusAddr, '--status-addr');
      const splitKeys = splitKeysFromFlags(flags);
      setErrorDetail(flags.logLevel);
      const logger = hooks.logger ?? createLogger(flags.logLevel, 'tinykv-scheduler', { format: flags.logFormat, component: 'scheduler' });
      routeGrpcLogs(logger);
      // Same fail-stop as `tinykv server`: a bug ends the process with one fatal line and exit 70.
      const removeFailStop = installProcessFailStop(logger, hooks.onFatal);
      try {
        const scheduler = await startScheduler({
          addr: flags.addr,
          dataDir: flags.dataDir,
          engine: flags.engine,
          initialStores: flags.initialStores,
          splitKeys,
          maxConcurrentStreams: flags.maxConcurrentStreams,
          grpcMemoryQuotaBytes: flags.grpcMemoryQuota,
          maxStoreDownTimeMs: flags.maxStoreDownTime,
          statusAddr,
          logger,
        });
        print(`tinykv scheduler listening on ${scheduler.addr}`);
        if (scheduler.statusAddr) {
          print(`tinykv scheduler admin API on http://${scheduler.statusAddr}/pd/api/v1`);
          print(`tinykv scheduler dashboard on http://${scheduler.statusAddr}/dashboard`);
        }
        hooks.onListening?.(scheduler);
        const reason = await waitForShutdown(hooks.shutdownSignal);
        logger.info({ reason }, 'stopping');
        await scheduler.close();
        logger.flush();
      } finally {
        removeFailStop();
      }
    });
}

/** Resolves on the first SIGINT/SIGTERM (a second one exits at once) or when `signal` settles. */
function waitForShutdown(signal: Promise<unknown> | undefined): Promise<string> {
  return new Promise((resolve) => {
    let handling = false;
    const handler = (name: NodeJS.Signals) => {
      if (handling) process.exit(130);
      handling = true;
      resolve(name);
    };
    process.on('SIGINT', handler);
    process.on('SIGTERM', handler);
    signal?.then(
      () => {
        process.off('SIGINT', handler);
        process.off('SIGTERM', handler);
        resolve('shutdown requested');
      },
      () => resolve('shutdown requested'),
    );
  });
}
