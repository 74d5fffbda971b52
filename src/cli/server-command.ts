/** `tinykv server`: run a node until SIGINT/SIGTERM, then shut down gracefully and exit 0. */
import { Command, Option } from 'commander';
import { loadConfig, LOG_LEVELS, ENGINE_KINDS, type ConfigOverrides, type LogLevel, type EngineKind } from '../config/config.js';
import { TinyKvNode } from '../server/node.js';
import { createLogger } from '../log/logger.js';

interface ServerFlags {
  standalone?: boolean;
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
        standalone: flags.standalone,
      };
      const config = loadConfig({ configFile: flags.config, env: process.env, overrides });
      const logger = createLogger(config.logLevel);
      const node = await TinyKvNode.start(config, logger);
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
