/**
 * How the CLI reports a failure: one line on stderr ("error: ..."), the stack only when the log
 * level is debug or trace, and the exit code (2 for usage and configuration, 1 otherwise).
 */
import { CommanderError } from 'commander';
import { ConfigError, type LogLevel } from '../config/config.js';
import { TinyKvError } from '../util/errors.js';
import { UsageError } from './output.js';

let showStacks = false;

/** Commands call this once they know their log level (flags, config file or environment). */
export function setErrorDetail(level: LogLevel | undefined): void {
  showStacks = level === 'debug' || level === 'trace';
}

/** The log level asked for on the command line or in TINYKV_LOG_LEVEL, before any command runs. */
export function logLevelFromArgs(argv: readonly string[], env: NodeJS.ProcessEnv): LogLevel | undefined {
  for (const [i, arg] of argv.entries()) {
    if (arg === '--log-level') return argv[i + 1] as LogLevel | undefined;
    if (arg.startsWith('--log-level=')) return arg.slice('--log-level='.length) as LogLevel;
  }
  return env.TINYKV_LOG_LEVEL as LogLevel | undefined;
}

export function exitCodeFor(err: unknown): number {
  if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : 2;
  if (err instanceof ConfigError || err instanceof UsageError) return 2;
  return 1;
}

export function formatError(err: unknown): string {
  if (!(err instanceof Error)) return `error: ${String(err)}`;
  const code = namesItsCode(err) && !err.message.includes(err.code) ? ` (${err.code})` : '';
  let text = `error: ${err.message}${code}`;
  if (!showStacks) return text;
  if (err.stack) text += `\n${err.stack}`;
  for (let cause = err.cause; cause instanceof Error; cause = cause.cause) text += `\ncaused by: ${cause.stack ?? cause.message}`;
  return text;
}

/**
 * Errors the node raises as a bare TinyKvError name their code. Subclasses print their message
 * alone: a ConfigError's or UsageError's code says nothing the message does not, and errors relayed
 * from a server or a library (client, scheduler client, Raft) speak in their own terms.
 */
function namesItsCode(err: Error): err is TinyKvError {
  return err instanceof TinyKvError && Object.getPrototypeOf(err) === TinyKvError.prototype;
}
