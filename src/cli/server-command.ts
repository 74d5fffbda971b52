/** `tinykv server`: run a node until SIGINT/SIGTERM, then shut down gracefully and exit 0. */
import { join } from 'node:path';
import { Command, Option } from 'commander';
import { loadConfig, LOG_LEVELS, ENGINE_KINDS, type ConfigOverrides, type LogLevel, type EngineKind } from '../config/config.js';
import { TinyKvNode } from '../server/node.js';
import { ClusterNode } from '../server/cluster-node.js';
import { startScheduler, type SchedulerHandle } from '../scheduler/scheduler-server.js';
import { createLogger } from '../log/logger.js';
import { UsageError } from './output.js';

function parseCountOrZero(text: string): number {
  return text === '0' ? 0 : parseCount(text);
}

function parseCount(text: string): number {
  const value = Number(text);
  if (!Number.isSafeInteger(value) || value < 1) throw new UsageError(`expected a positive integer, got "${text}"`);
  return value;
}

interface ServerFlags {
  standalone?: boolean;
  scheduler?: string;
  embeddedScheduler?: string | true;
  raftLogGcCountLimit?: number;
  raftBaseTickMs?: number;
  raftPollers?: number;
  applyPollers?: number;
  addr?: string;
  dataDir?: string;
  config?: string;
  logLevel?: LogLevel;
  engine?: EngineKind;
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
    .option('--raft-log-gc-count-limit <n>', 'compact the raft log past this many applied entries (default 10000)', parseCount)
    .option('--raft-base-tick-ms <ms>', 'wall time of one raft tick (default 100)', parseCount)
    .option('--raft-pollers <n>', 'raft poller threads; 0 runs region peers on the main thread (default: cores - 1, at least 1)', parseCountOrZero)
    .option('--apply-pollers <n>', 'apply threads beside the raft pollers (default 1)', parseCount)
    .option('--addr <host:port>', 'gRPC listen address (default 127.0.0.1:20160)')
    .option('--data-dir <path>', 'data directory (default ./data)')
    .option('--config <file>', 'TOML config file (see tinykv.example.toml)')
    .addOption(new Option('--log-level <level>', 'log level (default info)').choices(LOG_LEVELS))
    .addOption(new Option('--engine <kind>', 'storage engine (default lmdb; memory keeps nothing)').choices(ENGINE_KINDS))
    .option('--allow-raw-txn-cf-writes', 'let RawPut/RawDelete write the lock and write column families (breaks transactions that meet them)')
    .action(async (flags: ServerFlags) => {
      const overrides: ConfigOverrides = {
        addr: flags.addr,
        dataDir: flags.dataDir,
        logLevel: flags.logLevel,
        engine: flags.engine,
        // --scheduler or --embedded-scheduler means cluster mode unless --standalone says otherwise.
        standalone: flags.standalone ?? (flags.scheduler || flags.embeddedScheduler ? false : undefined),
        scheduler: flags.scheduler,
        raftLogGcCountLimit: flags.raftLogGcCountLimit,
        raftBaseTickMs: flags.raftBaseTickMs,
        raftPollers: flags.raftPollers,
        applyPollers: flags.applyPollers,
        allowRawTxnCfWrites: flags.allowRawTxnCfWrites,
      };
      if (flags.embeddedScheduler && flags.scheduler) throw new UsageError('give --scheduler or --embedded-scheduler, not both');
      let config = loadConfig({ configFile: flags.config, env: process.env, overrides });
      const logger = createLogger(config.logLevel);
      let scheduler: SchedulerHandle | undefined;
      if (flags.embeddedScheduler && !config.standalone) {
        const addr = flags.embeddedScheduler === true ? '127.0.0.1:2379' : flags.embeddedScheduler;
        scheduler = await startScheduler({ addr, dataDir: join(config.dataDir, 'scheduler'), initialStores: 1, sync: config.sync, logger });
        config = loadConfig({ configFile: flags.config, env: process.env, overrides: { ...overrides, scheduler: scheduler.addr } });
        print(`embedded scheduler at ${scheduler.addr}`);
      }
      try {
        const node = config.standalone ? await TinyKvNode.start(config, logger) : await ClusterNode.start(config, logger);
        print(`tinykv listening on ${node.addr}`);
        await waitForSignal(async (signal) => {
          logger.info({ signal }, 'signal received');
          await node.close();
          await scheduler?.close();
          logger.flush();
        });
      } catch (err) {
        await scheduler?.close();
        throw err;
      }
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
