/** Structured logs with pino. Libraries take a logger; the CLI makes one writing JSON to stderr. */
import { pino, type Logger } from 'pino';
import type { LogLevel } from '../config/config.js';

export type { Logger };

export function createLogger(level: LogLevel, name = 'tinykv'): Logger {
  // stderr keeps stdout free for command output (addresses, ctl results, bench reports).
  return pino({ name, level, base: { pid: process.pid } }, pino.destination({ fd: 2, sync: false }));
}

export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
