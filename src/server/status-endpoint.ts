/** A node's status server (src/metrics/status-server.ts), started from its config, a bind failure named as gRPC's are. */
import type { Logger } from 'pino';
import { startStatusServer, type StatusServer, type StatusSource } from '../metrics/status-server.js';
import { listenError } from '../rpc/listen-error.js';

/** Starts it on `statusAddr`; undefined (the default) starts none. */
export async function startNodeStatusServer(statusAddr: string | undefined, source: StatusSource, logger: Logger): Promise<StatusServer | undefined> {
  if (statusAddr === undefined) return undefined;
  try {
    return await startStatusServer({ addr: statusAddr, source, logger });
  } catch (err) {
    throw listenError(statusAddr, err as Error);
  }
}
