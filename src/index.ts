/**
 * TinyKV-TS: a TinyKV-compatible key-value store for Node.js.
 * The main export starts a node in-process (standalone, or a cluster store with a scheduler);
 * `tinykv/raft` is the Raft library and `tinykv/client` the client (also re-exported here).
 */
export { startServer, type StartServerOptions, type TinyKvServer } from './server/start-server.js';
export type { FatalHandler } from './util/fail-stop.js';
export { TinyKvNode } from './server/node.js';
export { ClusterNode } from './server/cluster-node.js';
export { startScheduler, DEFAULT_SCHEDULER_ADDR, type StartSchedulerOptions, type SchedulerHandle } from './scheduler/scheduler-server.js';
export { loadConfig, DEFAULT_CONFIG, ConfigError, type NodeConfig, type ConfigOverrides } from './config/config.js';
export { DEFAULT_LIMITS, type Limits } from './config/limits.js';
export { TinyKvError, ErrorCode, type ErrorCodeValue } from './util/errors.js';
// The client is `tinykv/client`'s, whole: raw calls, transactions, ClientError.
export * from './client/index.js';
