#!/usr/bin/env node
/** The `tinykv` command line. Exit codes: 0 ok, 1 failure, 2 bad usage or invalid config. */
import { pathToFileURL } from 'node:url';
import { realpathSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import { registerServerCommand } from './server-command.js';
import { registerCtlCommand } from './ctl/ctl-command.js';
import { registerSchedulerCommand } from './scheduler-command.js';
import { registerClusterCommand } from './cluster-command.js';
import { registerBenchCommand } from './bench-command.js';
import { exitCodeFor, formatError, logLevelFromArgs, setErrorDetail } from './error-report.js';

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
  setErrorDetail(logLevelFromArgs(argv, process.env));
  try {
    await buildProgram(print).parseAsync(argv, { from: 'user' });
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (err) {
    // Commander has printed its own message (and the help) already.
    if (!(err instanceof CommanderError)) process.stderr.write(formatError(err) + '\n');
    return exitCodeFor(err);
  }
}

function isMain(): boolean {
  if (!process.argv[1]) return false;
  return import.meta.url === pathToFileURL(realpathSync(process.argv[1])).href;
}

/** After a failure, how long the process may take to wind down before it exits anyway. */
const EXIT_AFTER_FAILURE_MS = 5_000;

if (isMain()) {
  const code = await run(process.argv.slice(2));
  process.exitCode = code;
  // A failed command has stopped what it started; should anything still hold the event loop (a
  // library's timer, a stuck thread), the process must not linger, so a failure ends it for sure.
  if (code !== 0) setTimeout(() => process.exit(code), EXIT_AFTER_FAILURE_MS).unref();
}
