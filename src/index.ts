/**
 * TinyKV-TS: a TinyKV-compatible key-value store for Node.js.
 * The main export starts a node in-process; `tinykv/raft` is the Raft library.
 */
export { startServer, TinyKvNode, type StartServerOptions } from './server/node.js';
export { loadConfig, DEFAULT_CONFIG, ConfigError, type NodeConfig, type ConfigOverrides } from './config/config.js';
export { DEFAULT_LIMITS, type Limits } from './server/limits.js';
export { TinyKvError, ErrorCode, type ErrorCodeValue } from './util/errors.js';
export { createRawClient, type RawClient } from './client/raw-client.js';
