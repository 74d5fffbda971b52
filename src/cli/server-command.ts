/** `tinykv server`: run a node until SIGINT/SIGTERM, then shut down gracefully and exit 0. */
import { Command, Option } from 'commander';
import { loadConfig, LOG_LEVELS, ENGINE_KINDS, type ConfigOverrides, type LogLevel, type EngineKind } from '../config/config.js';
import { TinyKvNode } from '../server/node.js';
import { ClusterNode } from '../server/cluster-node.js';
import { UsageError } from './output.js';

function parseCountOrZero(text: string): number {
  return text === '0' ? 0 : parseCount(text);
}

function parseCount(text: string): number {
  const value = Number(text);
  if (!Number.isSafeInteger(value) || value < 1) throw new UsageError(`expected a positive integer, got "${text}"`);
  return value;
}
import { createLogger } from '../log/logger.js';

interface ServerFlags {
  standalone?: boolean;
  scheduler?: string;
  raftLogGcCountLimit?: number;
  raftBaseTickMs?: number;
  raftPollers?: number;
  addr?: string;
  dataDir?: string;
  config?: string;
  logLevel?: LogLevel;
  engine?: EngineKind;
}

export function registerServerCommand(program: Command, print: (text: string) => void): void {
  program
    .command('server')
    .description('run a storage node')
    .option('--standalone', 'serve from one local engine without Raft (the only mode until the replicated store lands)')
    .option('--scheduler <host:port>', 'join the cluster of this scheduler (cluster mode)')
    .option('--raft-log-gc-count-limit <n>', 'compact the raft log past this many applied entries (default 10000)', parseCount)
    .option('--raft-base-tick-ms <ms>', 'wall time of one raft tick (default 100)', parseCount)
    .option('--raft-pollers <n>', 'raft poller threads; 0 runs region peers on the main thread (default: cores - 1, at least 1)', parseCountOrZero)
    .option('--addr <host:port>', 'gRPC listen address (default 127.0.0.1:20160)')
    .option('--data-dir <path>', 'data directory (default ./data)')
    .option('--config <file>', 'TOML config file (see tinykv.example.toml)')
    .addOption(new Option('--log-level <level>', 'log level (default info)').choices(LOG_LEVELS))
    .addOption(new Option('--engine <kind>', 'storage engine (default lmdb; memory keeps nothing)').choices(ENGINE_KINDS))
    .action(async (flags: ServerFlags) => {
      const overrides: ConfigOverrides = {
        addr: flags.addr,
        dataDir: flags.dataDir,
        logLevel: flags.logLevel,
        engine: flags.engine,
        // --scheduler means cluster mode unless --standalone says otherwise.
        standalone: flags.standalone ?? (flags.scheduler ? false : undefined),
        scheduler: flags.scheduler,
        raftLogGcCountLimit: flags.raftLogGcCountLimit,
        raftBaseTickMs: flags.raftBaseTickMs,
        raftPollers: flags.raftPollers,
      };
      const config = loadConfig({ configFile: flags.config, env: process.env, overrides });
      const logger = createLogger(config.logLevel);
      const node = config.standalone ? await TinyKvNode.start(config, logger) : await ClusterNode.start(config, logger);
      print(`tinykv listening on ${node.addr}`);
      await waitForSignal(async (signal) => {
        logger.info({ signal }, 'signal received');
        await node.close();
        logger.flush();
      });
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
