/**
 * grpc-js writes its own diagnostics to stderr as plain text ("E No address added ..."). A process
 * of ours logs JSON lines, so they go through its pino logger instead.
 */
import { setLogger } from '@grpc/grpc-js';
import type { Logger } from 'pino';

/** grpc-js messages that repeat an error its API also hands back to us (and we report ourselves). */
const REPORTED_ELSEWHERE = [/^No address added out of total/];

export function routeGrpcLogs(logger: Logger): void {
  const child = logger.child({ module: 'grpc' });
  const text = (message: unknown, rest: unknown[]) => [message, ...rest].map(String).join(' ');
  setLogger({
    error: (message?: unknown, ...rest: unknown[]) => {
      const line = text(message, rest);
      if (REPORTED_ELSEWHERE.some((pattern) => pattern.test(line))) child.debug(line);
      else child.warn(line);
    },
    info: (message?: unknown, ...rest: unknown[]) => child.info(text(message, rest)),
    debug: (message?: unknown, ...rest: unknown[]) => child.debug(text(message, rest)),
  });
}
