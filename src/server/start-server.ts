/**
 * The embedding API: start a node in this process, standalone or as a store of a cluster, the way
 * `tinykv server` does from the same configuration.
 */
import { loadConfig, type ConfigOverrides } from '../config/config.js';
import { createLogger, type Logger } from '../log/logger.js';
import { ClusterNode } from './cluster-node.js';
import { TinyKvNode } from './node.js';
import type { FatalHandler } from '../util/fail-stop.js';

export interface StartServerOptions extends ConfigOverrides {
  /** A TOML config file, read before the overrides. */
  readonly configFile?: string;
  /** Defaults to a pino logger at the configured level, writing to stderr. */
  readonly logger?: Logger;
  /**
   * What an internal failure of a cluster store does (a store thread that died, a raft-log write
   * that failed). Default: a fatal log line and `process.exit(70)`, as `tinykv server` does; an
   * embedding service that would rather stop the store and carry on passes its own.
   */
  readonly onFatal?: FatalHandler;
}

/** A running node of either kind: `addr`, `config` and an idempotent, graceful `close()`. */
export type TinyKvServer = TinyKvNode | ClusterNode;

/**
 * Starts a node in this process and resolves once it serves gRPC. `standalone: false` with a
 * `scheduler` address starts a cluster store (Raft, regions from the scheduler); otherwise the
 * node is standalone (unless the config file says `standalone = false`). A start that fails
 * rejects after stopping whatever it had started.
 * @example
 *   const node = await startServer({ addr: '127.0.0.1:0', dataDir: './data' });
 *   console.log(node.addr);
 *   await node.close();
 * @example
 *   const store = await startServer({ standalone: false, scheduler: '127.0.0.1:2379', addr: '127.0.0.1:0', dataDir: './store' });
 *   console.log(store.storeId);
 */
export function startServer(options: StartServerOptions & { readonly standalone: false }): Promise<ClusterNode>;
export function startServer(options?: StartServerOptions & { readonly standalone?: true; readonly configFile?: undefined }): Promise<TinyKvNode>;
export function startServer(options?: StartServerOptions): Promise<TinyKvServer>;
export async function startServer(options: StartServerOptions = {}): Promise<TinyKvServer> {
  const { configFile, logger, onFatal, ...overrides } = options;
  const config = loadConfig({ configFile, overrides });
  const log = logger ?? createLogger(config.logLevel, 'tinykv', { format: config.logFormat, component: 'store' });
  return config.standalone ? TinyKvNode.start(config, log) : ClusterNode.start(config, log, { onFatal });
}
