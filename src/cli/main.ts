#!/usr/bin/env node
/** The `tinykv` command line. Exit codes: 0 ok, 1 failure, 2 bad usage or invalid config. */
import { pathToFileURL } from 'node:url';
import { realpathSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import { ConfigError } from '../config/config.js';
import { registerServerCommand } from './server-command.js';
import { registerCtlCommand } from './ctl-command.js';
import { registerSchedulerCommand } from './scheduler-command.js';
import { registerClusterCommand } from './cluster-command.js';
import { BenchError, registerBenchCommand } from './bench-command.js';
import { UsageError } from './output.js';
import { TinyKvClientError } from '../client/raw-client.js';
import { isTinyKvError } from '../util/errors.js';

export function buildProgram(print: (text: string) => void = (t) => process.stdout.write(t + '\n')): Command {
  const program = new Command('tinykv')
    .description('TinyKV-TS: a TinyKV-compatible distributed key-value store')
    .version('0.1.0')
    .exitOverride()
    .showHelpAfterError();
  registerServerCommand(program, print);
  registerCtlCommand(program, print);
  registerSchedulerCommand(program, print);
  registerClusterCommand(program, print);
  registerBenchCommand(program);
  return program;
}

/** Runs the CLI and returns the exit code instead of exiting, so tests can drive it in-process. */
export async function run(argv: string[], print?: (text: string) => void): Promise<number> {
  try {
    await buildProgram(print).parseAsync(argv, { from: 'user' });
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : 2;
    if (err instanceof ConfigError || err instanceof UsageError) {
      process.stderr.write(`error: ${err.message}\n`);
      return 2;
    }
    // A refusal the product raises on purpose (data dir in use, damaged files) is one line, not a stack.
    if (isTinyKvError(err)) {
      process.stderr.write(`error: ${err.message} (${err.code})\n`);
      return 1;
    }
    if (err instanceof TinyKvClientError || err instanceof BenchError) {
      process.stderr.write(`error: ${err.message}\n`);
      return 1;
    }
    process.stderr.write(`error: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
    return 1;
  }
}

function isMain(): boolean {
  if (!process.argv[1]) return false;
  return import.meta.url === pathToFileURL(realpathSync(process.argv[1])).href;
}

if (isMain()) {
  const code = await run(process.argv.slice(2));
  process.exitCode = code;
}
