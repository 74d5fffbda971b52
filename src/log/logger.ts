/**
 * Structured logs with pino. Libraries take a logger; the CLI makes one writing to stderr: JSON
 * lines by default (for collectors), or pino-pretty's one-line text for people (`--log-format pretty`).
 */
import { pino, type DestinationStream, type Logger } from 'pino';
import pinoPretty from 'pino-pretty';
import type { LogFormat, LogLevel } from '../config/config.js';

export type { Logger };

export interface LoggerOptions {
  readonly format?: LogFormat;
  /**
   * Which part of the process writes (store, scheduler, poller-N, apply-N): every line carries it.
   * Set it once per logger tree: a child setting `component` again would write the key twice.
   */
  readonly component?: string;
  /** Where lines go instead of stderr (tests). */
  readonly destination?: DestinationStream;
}

export function createLogger(level: LogLevel, name = 'tinykv', options: LoggerOptions = {}): Logger {
  const base = { pid: process.pid, ...(options.component === undefined ? {} : { component: options.component }) };
  return pino({ name, level, base }, options.format === 'pretty' ? prettyStream(options.destination) : jsonStream(options.destination));
}

function jsonStream(destination: DestinationStream | undefined): DestinationStream {
  // stderr keeps stdout free for command output (addresses, ctl results, bench reports).
  return destination ?? pino.destination({ fd: 2, sync: false });
}

function prettyStream(destination: DestinationStream | undefined): DestinationStream {
  return pinoPretty({
    destination: destination ?? 2,
    // Colours only for a terminal: a file or a pipe gets plain text.
    colorize: destination === undefined && process.stderr.isTTY,
    translateTime: 'SYS:HH:MM:ss.l',
    ignore: 'pid,hostname',
    // One line per record: fields follow the message on the same line, as `key=value`.
    singleLine: true,
  });
}

export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
