/**
 * Node configuration: defaults, then a TOML file, then TINYKV_* environment variables, then
 * command-line flags. Every key and default is written out in tinykv.example.toml.
 */
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { parse as parseToml } from 'smol-toml';
import { defined } from '../util/assert.js';
import { ErrorCode, TinyKvError } from '../util/errors.js';
import { DEFAULT_LIMITS, MAX_CONFIGURABLE_KEY_SIZE_BYTES, type Limits } from './limits.js';
import { parseDurationMs, parseSizeBytes } from './units.js';

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
/** json: one JSON object a line (for collectors); pretty: pino-pretty's text, for people. */
export const LOG_FORMATS = ['json', 'pretty'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];
export const ENGINE_KINDS = ['lmdb', 'memory'] as const;
export type EngineKind = (typeof ENGINE_KINDS)[number];

export interface NodeConfig {
  /** host:port the gRPC server listens on; port 0 picks a free port. */
  readonly addr: string;
  /**
   * host:port of the status HTTP server (/metrics, /livez, /readyz, /status, /config); undefined
   * serves none. Port 0 picks a free port.
   */
  readonly statusAddr: string | undefined;
  /** Serve from one local engine without Raft. */
  readonly standalone: boolean;
  /** Scheduler address (cluster mode). */
  readonly scheduler: string;
  /** Wall time of one raft tick. */
  readonly raftBaseTickMs: number;
  /** A follower that hears no leader for this many ticks (randomized up to twice it) campaigns. */
  readonly raftElectionTimeoutTicks: number;
  /** A leader heartbeats every this many ticks. */
  readonly raftHeartbeatTicks: number;
  /**
   * How long a leader serves reads from its lease after a quorum last confirmed it; 0 turns lease
   * reads off (every read takes a ReadIndex round). Undefined: two ticks short of an election timeout.
   */
  readonly raftStoreMaxLeaderLeaseMs: number | undefined;
  /** The leader compacts the raft log once this many entries are applied past its first index. */
  readonly raftLogGcCountLimit: number;
  /**
   * How often the leader checks whether to compact the log; undefined is the default, every 10
   * raft ticks (so it follows raft-base-tick-interval). Rounded to whole ticks.
   */
  readonly raftLogGcTickIntervalMs: number | undefined;
  /** Largest batch of entries in one append message (one larger entry still goes alone). */
  readonly raftMaxSizePerMsgBytes: number;
  /** Append messages a leader may have unacknowledged per follower. */
  readonly raftMaxInflightMsgs: number;
  /** Proposals waiting in one peer; more are refused (a bounded queue). */
  readonly raftMaxPendingProposals: number;
  /** A region whose data (all families, keys and values) grows past this is split. */
  readonly regionMaxSizeBytes: number;
  /** Where a split cuts: about this many bytes stay in the left region. */
  readonly regionSplitSizeBytes: number;
  /** How often a leader has its region's size checked. Rounded to whole raft ticks. */
  readonly splitRegionCheckTickIntervalMs: number;
  /**
   * A follower its leader has not heard from for this long is reported down to the scheduler.
   * Rounded to whole raft ticks.
   */
  readonly maxPeerDownDurationMs: number;
  /** How long a store waits for the scheduler at start. */
  readonly schedulerConnectTimeoutMs: number;
  /** How often a store reports the regions it leads to the scheduler. */
  readonly regionHeartbeatIntervalMs: number;
  /** How often a store reports itself to the scheduler. */
  readonly storeHeartbeatIntervalMs: number;
  /** Raft poller threads hosting region peers; 0 runs them on the main thread. */
  readonly raftPollers: number;
  /** Apply threads applying committed entries (with raft pollers; with none, apply runs on the main thread). */
  readonly applyPollers: number;
  readonly dataDir: string;
  readonly engine: EngineKind;
  /** fsync every commit before acknowledging it. Turning it off risks acknowledged writes on a machine crash. */
  readonly sync: boolean;
  readonly logLevel: LogLevel;
  readonly logFormat: LogFormat;
  /** A request slower than this is logged at warn (method, region, duration). */
  readonly slowLogThresholdMs: number;
  /**
   * Count requests and raftstore work for /metrics (server.metrics, default true). Off, the store
   * still serves its status port, but its request, transaction and raftstore series stay empty:
   * only for measuring what counting costs.
   */
  readonly metrics: boolean;
  /** How long shutdown waits for calls in flight before cancelling them. */
  readonly gracefulShutdownTimeoutMs: number;
  /** Calls one client connection may have open at once (HTTP/2 max concurrent streams). */
  readonly maxConcurrentStreams: number;
  /** Response bytes the server may hold unsent for slow clients before refusing large responses. */
  readonly grpcMemoryQuotaBytes: number;
  /** Let RawPut/RawDelete write the lock and write column families (they hold transaction records). */
  readonly allowRawTxnCfWrites: boolean;
  readonly limits: Limits;
  // Receiving snapshots (see src/transport/snapshot-receiver.ts).
  /** Largest snapshot received. */
  readonly snapMaxSizeBytes: number;
  /** Bytes all snapshot streams being received may buffer together. */
  readonly snapMaxTotalSizeBytes: number;
  /** Snapshot streams received at once; more get RESOURCE_EXHAUSTED. */
  readonly snapConcurrentRecvLimit: number;
  /** A snapshot stream that sends nothing this long is cancelled. */
  readonly snapRecvIdleTimeoutMs: number;
  /** A snapshot stream not done this long after it opened is cancelled. */
  readonly snapRecvTimeoutMs: number;
  /**
   * Bytes kept free on the data directory's filesystem: below that, writes are refused with
   * KV:Storage:NoSpace before the disk is actually full (reads and deletes still work). 0 turns
   * the guard off; undefined is the default, 1GiB but at most 5% of the filesystem's size.
   */
  readonly reserveSpaceBytes: number | undefined;
}

/** HTTP/2 streams one client connection may have open (the scheduler's server uses it too). */
export const DEFAULT_MAX_CONCURRENT_STREAMS = 1024;
/** Unsent response bytes a gRPC server may hold (the scheduler's server uses it too). */
export const DEFAULT_GRPC_MEMORY_QUOTA_BYTES = 128 * 1024 * 1024;

export const DEFAULT_CONFIG: NodeConfig = {
  addr: '127.0.0.1:20160',
  statusAddr: undefined,
  standalone: true,
  scheduler: '127.0.0.1:2379',
  raftBaseTickMs: 100,
  raftElectionTimeoutTicks: 10,
  raftHeartbeatTicks: 2,
  raftStoreMaxLeaderLeaseMs: undefined,
  raftLogGcCountLimit: 10_000,
  raftLogGcTickIntervalMs: undefined,
  raftMaxSizePerMsgBytes: 1024 * 1024,
  raftMaxInflightMsgs: 256,
  raftMaxPendingProposals: 10_000,
  // TinyKV's defaults (kv/config).
  regionMaxSizeBytes: 144 * 1024 * 1024,
  regionSplitSizeBytes: 96 * 1024 * 1024,
  splitRegionCheckTickIntervalMs: 10_000,
  // TiKV's default.
  maxPeerDownDurationMs: 10 * 60_000,
  schedulerConnectTimeoutMs: 30_000,
  regionHeartbeatIntervalMs: 500,
  storeHeartbeatIntervalMs: 10_000,
  raftPollers: Math.max(1, availableParallelism() - 1),
  applyPollers: 1,
  dataDir: './data',
  engine: 'lmdb',
  sync: true,
  logLevel: 'info',
  logFormat: 'json',
  // TiKV's default.
  slowLogThresholdMs: 1_000,
  metrics: true,
  gracefulShutdownTimeoutMs: 10_000,
  maxConcurrentStreams: DEFAULT_MAX_CONCURRENT_STREAMS,
  grpcMemoryQuotaBytes: DEFAULT_GRPC_MEMORY_QUOTA_BYTES,
  allowRawTxnCfWrites: false,
  limits: DEFAULT_LIMITS,
  snapMaxSizeBytes: 256 * 1024 * 1024,
  snapMaxTotalSizeBytes: 512 * 1024 * 1024,
  snapConcurrentRecvLimit: 4,
  snapRecvIdleTimeoutMs: 15_000,
  snapRecvTimeoutMs: 10 * 60_000,
  reserveSpaceBytes: undefined,
};

/** Overrides from flags or code, already typed. */
export type ConfigOverrides = Partial<Omit<NodeConfig, 'limits'>> & { limits?: Partial<Limits> };

export class ConfigError extends TinyKvError {
  constructor(message: string) {
    super(ErrorCode.InvalidConfig, message);
  }
}

type Table = Record<string, unknown>;

const FILE_SCHEMA: Record<string, Record<string, (value: unknown, into: MutableConfig) => void>> = {
  server: {
    addr: (v, c) => (c.addr = expectString('server.addr', v)),
    'status-addr': (v, c) => (c.statusAddr = expectString('server.status-addr', v)),
    standalone: (v, c) => (c.standalone = expectBoolean('server.standalone', v)),
    'graceful-shutdown-timeout': (v, c) => (c.gracefulShutdownTimeoutMs = expectDuration('server.graceful-shutdown-timeout', v)),
    'slow-log-threshold': (v, c) => (c.slowLogThresholdMs = expectDuration('server.slow-log-threshold', v)),
    metrics: (v, c) => (c.metrics = expectBoolean('server.metrics', v)),
    'max-message-size': (v, c) => (c.limits.maxMessageSizeBytes = expectSize('server.max-message-size', v)),
    // Receiving snapshots.
    'snap-max-size': (v, c) => (c.snapMaxSizeBytes = expectSize('server.snap-max-size', v)),
    'snap-max-total-size': (v, c) => (c.snapMaxTotalSizeBytes = expectSize('server.snap-max-total-size', v)),
    'concurrent-recv-snap-limit': (v, c) => (c.snapConcurrentRecvLimit = expectCount('server.concurrent-recv-snap-limit', v)),
    'snap-recv-idle-timeout': (v, c) => (c.snapRecvIdleTimeoutMs = expectDuration('server.snap-recv-idle-timeout', v)),
    'snap-recv-timeout': (v, c) => (c.snapRecvTimeoutMs = expectDuration('server.snap-recv-timeout', v)),
    'max-concurrent-streams': (v, c) => (c.maxConcurrentStreams = expectCount('server.max-concurrent-streams', v)),
    'grpc-memory-quota': (v, c) => (c.grpcMemoryQuotaBytes = expectSize('server.grpc-memory-quota', v)),
    'allow-raw-txn-cf-writes': (v, c) => (c.allowRawTxnCfWrites = expectBoolean('server.allow-raw-txn-cf-writes', v)),
  },
  raftstore: {
    scheduler: (v, c) => (c.scheduler = expectString('raftstore.scheduler', v)),
    'raft-base-tick-interval': (v, c) => (c.raftBaseTickMs = expectDuration('raftstore.raft-base-tick-interval', v)),
    'raft-election-timeout-ticks': (v, c) => (c.raftElectionTimeoutTicks = expectCount('raftstore.raft-election-timeout-ticks', v)),
    'raft-heartbeat-ticks': (v, c) => (c.raftHeartbeatTicks = expectCount('raftstore.raft-heartbeat-ticks', v)),
    'raft-store-max-leader-lease': (v, c) => (c.raftStoreMaxLeaderLeaseMs = expectDuration('raftstore.raft-store-max-leader-lease', v)),
    'raft-log-gc-count-limit': (v, c) => (c.raftLogGcCountLimit = expectCount('raftstore.raft-log-gc-count-limit', v)),
    'raft-log-gc-tick-interval': (v, c) => (c.raftLogGcTickIntervalMs = expectDuration('raftstore.raft-log-gc-tick-interval', v)),
    'raft-max-size-per-msg': (v, c) => (c.raftMaxSizePerMsgBytes = expectSize('raftstore.raft-max-size-per-msg', v)),
    'raft-max-inflight-msgs': (v, c) => (c.raftMaxInflightMsgs = expectCount('raftstore.raft-max-inflight-msgs', v)),
    'raft-max-pending-proposals': (v, c) => (c.raftMaxPendingProposals = expectCount('raftstore.raft-max-pending-proposals', v)),
    'region-max-size': (v, c) => (c.regionMaxSizeBytes = expectSize('raftstore.region-max-size', v)),
    'region-split-size': (v, c) => (c.regionSplitSizeBytes = expectSize('raftstore.region-split-size', v)),
    'split-region-check-tick-interval': (v, c) =>
      (c.splitRegionCheckTickIntervalMs = expectDuration('raftstore.split-region-check-tick-interval', v)),
    'max-peer-down-duration': (v, c) => (c.maxPeerDownDurationMs = expectDuration('raftstore.max-peer-down-duration', v)),
    'scheduler-connect-timeout': (v, c) => (c.schedulerConnectTimeoutMs = expectDuration('raftstore.scheduler-connect-timeout', v)),
    'pd-heartbeat-tick-interval': (v, c) => (c.regionHeartbeatIntervalMs = expectDuration('raftstore.pd-heartbeat-tick-interval', v)),
    'pd-store-heartbeat-tick-interval': (v, c) => (c.storeHeartbeatIntervalMs = expectDuration('raftstore.pd-store-heartbeat-tick-interval', v)),
    'raft-pollers': (v, c) => (c.raftPollers = expectCount('raftstore.raft-pollers', v)),
    'apply-pollers': (v, c) => (c.applyPollers = expectCount('raftstore.apply-pollers', v)),
  },
  storage: {
    'data-dir': (v, c) => (c.dataDir = expectString('storage.data-dir', v)),
    engine: (v, c) => (c.engine = expectOneOf('storage.engine', v, ENGINE_KINDS)),
    sync: (v, c) => (c.sync = expectBoolean('storage.sync', v)),
    'reserve-space': (v, c) => (c.reserveSpaceBytes = expectSize('storage.reserve-space', v)),
  },
  limits: {
    'max-key-size': (v, c) => (c.limits.maxKeySizeBytes = expectSize('limits.max-key-size', v)),
    'max-value-size': (v, c) => (c.limits.maxValueSizeBytes = expectSize('limits.max-value-size', v)),
    'max-scan-limit': (v, c) => (c.limits.maxScanLimit = expectCount('limits.max-scan-limit', v)),
    'max-scan-response-size': (v, c) => (c.limits.maxScanResponseBytes = expectSize('limits.max-scan-response-size', v)),
  },
  log: {
    level: (v, c) => (c.logLevel = expectOneOf('log.level', v, LOG_LEVELS)),
    format: (v, c) => (c.logFormat = expectOneOf('log.format', v, LOG_FORMATS)),
  },
};

/** Every key a config file may set, as "section.key" (tinykv.example.toml documents each). */
export function configFileKeys(): string[] {
  return Object.entries(FILE_SCHEMA).flatMap(([section, keys]) => Object.keys(keys).map((key) => `${section}.${key}`));
}

const ENV_SCHEMA: Record<string, (value: string, into: MutableConfig) => void> = {
  TINYKV_ADDR: (v, c) => (c.addr = v),
  TINYKV_SCHEDULER: (v, c) => (c.scheduler = v),
  TINYKV_DATA_DIR: (v, c) => (c.dataDir = v),
  TINYKV_LOG_LEVEL: (v, c) => (c.logLevel = expectOneOf('TINYKV_LOG_LEVEL', v, LOG_LEVELS)),
  TINYKV_ENGINE: (v, c) => (c.engine = expectOneOf('TINYKV_ENGINE', v, ENGINE_KINDS)),
  TINYKV_SYNC: (v, c) => (c.sync = expectBoolean('TINYKV_SYNC', v === 'true' ? true : v === 'false' ? false : v)),
  TINYKV_METRICS: (v, c) => (c.metrics = expectBoolean('TINYKV_METRICS', v === 'true' ? true : v === 'false' ? false : v)),
  // For A/B runs over a whole `tinykv cluster` (its store processes inherit the environment).
  TINYKV_LEADER_LEASE: (v, c) => (c.raftStoreMaxLeaderLeaseMs = expectDuration('TINYKV_LEADER_LEASE', v)),
};

type MutableLimits = { -readonly [K in keyof Limits]: Limits[K] };
type MutableConfig = { -readonly [K in keyof Omit<NodeConfig, 'limits'>]: NodeConfig[K] } & { limits: MutableLimits };

export interface LoadConfigOptions {
  readonly configFile?: string;
  readonly env?: NodeJS.ProcessEnv;
  readonly overrides?: ConfigOverrides;
}

/** Builds and validates the configuration; throws ConfigError on anything invalid. */
export function loadConfig(options: LoadConfigOptions = {}): NodeConfig {
  const config: MutableConfig = { ...DEFAULT_CONFIG, limits: { ...DEFAULT_CONFIG.limits } };
  if (options.configFile) applyFile(config, options.configFile);
  for (const [name, apply] of Object.entries(ENV_SCHEMA)) {
    const value = options.env?.[name];
    if (value !== undefined && value !== '') apply(value, config);
  }
  const { limits, ...rest } = options.overrides ?? {};
  for (const [key, value] of Object.entries(rest)) if (value !== undefined) (config as Table)[key] = value;
  for (const [key, value] of Object.entries(limits ?? {})) if (value !== undefined) (config.limits as unknown as Table)[key] = value;
  validate(config);
  return config;
}

function applyFile(config: MutableConfig, path: string): void {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(`cannot read config file ${path}: ${(err as Error).message}`);
  }
  let parsed: Table;
  try {
    parsed = parseToml(text);
  } catch (err) {
    throw new ConfigError(`config file ${path} is not valid TOML: ${(err as Error).message}`);
  }
  for (const [section, body] of Object.entries(parsed)) {
    const schema = FILE_SCHEMA[section];
    if (!schema) throw new ConfigError(`${path}: unknown section [${section}]`);
    if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new ConfigError(`${path}: [${section}] must be a table`);
    for (const [key, value] of Object.entries(body as Table)) {
      const apply = schema[key];
      if (!apply) throw new ConfigError(`${path}: unknown key ${section}.${key}`);
      apply(value, config);
    }
  }
}

function validate(config: NodeConfig): void {
  parseAddress(config.addr);
  if (config.statusAddr !== undefined) parseAddress(config.statusAddr);
  if (config.dataDir.trim() === '' && config.engine === 'lmdb') throw new ConfigError('storage.data-dir must not be empty');
  if (!config.standalone) {
    parseAddress(config.scheduler);
    if (config.engine !== 'lmdb') throw new ConfigError('cluster mode needs storage.engine = "lmdb"');
  }
  validateRaft(config);
  validateRaftstore(config);
  validateSnapshotRecv(config);
  if (config.slowLogThresholdMs < 1 || config.slowLogThresholdMs > 3_600_000) throw new ConfigError('server.slow-log-threshold must be 1ms..1h');
  const { limits } = config;
  if (config.maxConcurrentStreams < 1 || config.maxConcurrentStreams > 65_536) {
    throw new ConfigError('server.max-concurrent-streams must be 1..65536');
  }
  // One response of the largest size must fit, or every such response would be refused.
  if (config.grpcMemoryQuotaBytes < limits.maxMessageSizeBytes) {
    throw new ConfigError('server.grpc-memory-quota must be at least server.max-message-size');
  }
  if (limits.maxKeySizeBytes < 1 || limits.maxKeySizeBytes > MAX_CONFIGURABLE_KEY_SIZE_BYTES) {
    throw new ConfigError(`limits.max-key-size must be 1..${MAX_CONFIGURABLE_KEY_SIZE_BYTES} bytes`);
  }
  if (limits.maxValueSizeBytes < 1 || limits.maxValueSizeBytes > 64 * 1024 * 1024) {
    throw new ConfigError('limits.max-value-size must be 1 byte..64MiB');
  }
  if (limits.maxScanLimit < 1 || limits.maxScanLimit > 1_000_000) throw new ConfigError('limits.max-scan-limit must be 1..1000000');
  if (limits.maxMessageSizeBytes < limits.maxValueSizeBytes + limits.maxKeySizeBytes + 1024) {
    throw new ConfigError('server.max-message-size must exceed max-value-size + max-key-size + 1KiB');
  }
  if (limits.maxScanResponseBytes < 1 || limits.maxScanResponseBytes > limits.maxMessageSizeBytes / 2) {
    throw new ConfigError('limits.max-scan-response-size must be at most half of server.max-message-size');
  }
}

/** The Raft group's timing and flow control (etcd's raft.Config checks, plus bounds against typos). */
function validateRaft(config: NodeConfig): void {
  if (config.raftBaseTickMs < 1 || config.raftBaseTickMs > 10_000) throw new ConfigError('raftstore.raft-base-tick-interval must be 1ms..10s');
  if (config.raftHeartbeatTicks < 1 || config.raftHeartbeatTicks > 1_000) throw new ConfigError('raftstore.raft-heartbeat-ticks must be 1..1000');
  // A follower must hear several heartbeats within one election timeout, or it campaigns against a live leader.
  if (config.raftElectionTimeoutTicks <= config.raftHeartbeatTicks || config.raftElectionTimeoutTicks > 10_000) {
    throw new ConfigError('raftstore.raft-election-timeout-ticks must be above raftstore.raft-heartbeat-ticks and at most 10000');
  }
  // A follower that heard the leader may vote again (election ticks - 1) ticks later: a lease as long
  // as that would let two leaders serve reads at once.
  const leaseLimitMs = (config.raftElectionTimeoutTicks - 1) * config.raftBaseTickMs;
  const leaseMs = config.raftStoreMaxLeaderLeaseMs;
  if (leaseMs !== undefined && (leaseMs < 0 || leaseMs >= leaseLimitMs)) {
    throw new ConfigError(
      `raftstore.raft-store-max-leader-lease must be 0 (off) or under (raft-election-timeout-ticks - 1) x raft-base-tick-interval = ${leaseLimitMs}ms`,
    );
  }
  if (config.raftMaxSizePerMsgBytes < 1 || config.raftMaxSizePerMsgBytes > 64 * 1024 * 1024) {
    throw new ConfigError('raftstore.raft-max-size-per-msg must be 1 byte..64MiB');
  }
  if (config.raftMaxInflightMsgs < 1 || config.raftMaxInflightMsgs > 16_384)
    throw new ConfigError('raftstore.raft-max-inflight-msgs must be 1..16384');
}

/** The store around the Raft groups: threads, log GC, proposal queue, scheduler timing. */
function validateRaftstore(config: NodeConfig): void {
  if (config.raftLogGcCountLimit < 1) throw new ConfigError('raftstore.raft-log-gc-count-limit must be at least 1');
  const gcIntervalMs = config.raftLogGcTickIntervalMs;
  if (gcIntervalMs !== undefined && (gcIntervalMs < config.raftBaseTickMs || gcIntervalMs > 3_600_000)) {
    throw new ConfigError('raftstore.raft-log-gc-tick-interval must be raftstore.raft-base-tick-interval..1h');
  }
  if (config.raftMaxPendingProposals < 1 || config.raftMaxPendingProposals > 1_000_000) {
    throw new ConfigError('raftstore.raft-max-pending-proposals must be 1..1000000');
  }
  validateSplit(config);
  // Down means silent for longer than an election timeout; the upper bound only catches typos.
  if (config.maxPeerDownDurationMs < config.raftBaseTickMs || config.maxPeerDownDurationMs > 7 * 24 * 3_600_000) {
    throw new ConfigError('raftstore.max-peer-down-duration must be raftstore.raft-base-tick-interval..168h');
  }
  if (config.raftPollers < 0 || config.raftPollers > 64) throw new ConfigError('raftstore.raft-pollers must be 0..64');
  if (config.applyPollers < 1 || config.applyPollers > 64) throw new ConfigError('raftstore.apply-pollers must be 1..64');
  if (config.schedulerConnectTimeoutMs < 1_000) throw new ConfigError('raftstore.scheduler-connect-timeout must be at least 1s');
  for (const [key, ms] of [
    ['pd-heartbeat-tick-interval', config.regionHeartbeatIntervalMs],
    ['pd-store-heartbeat-tick-interval', config.storeHeartbeatIntervalMs],
  ] as const) {
    if (ms < 10 || ms > 3_600_000) throw new ConfigError(`raftstore.${key} must be 10ms..1h`);
  }
}

/** Region split thresholds: the left part of a split must be a non-empty part of a region at its limit. */
function validateSplit(config: NodeConfig): void {
  if (config.regionMaxSizeBytes < 1) throw new ConfigError('raftstore.region-max-size must be at least 1 byte');
  if (config.regionSplitSizeBytes < 1 || config.regionSplitSizeBytes > config.regionMaxSizeBytes) {
    throw new ConfigError('raftstore.region-split-size must be 1 byte..raftstore.region-max-size');
  }
  const checkMs = config.splitRegionCheckTickIntervalMs;
  if (checkMs < config.raftBaseTickMs || checkMs > 3_600_000) {
    throw new ConfigError('raftstore.split-region-check-tick-interval must be raftstore.raft-base-tick-interval..1h');
  }
}

function validateSnapshotRecv(config: NodeConfig): void {
  if (config.snapMaxTotalSizeBytes < 1024 * 1024) throw new ConfigError('server.snap-max-total-size must be at least 1MiB');
  if (config.snapMaxSizeBytes < 1024 * 1024 || config.snapMaxSizeBytes > config.snapMaxTotalSizeBytes) {
    throw new ConfigError('server.snap-max-size must be 1MiB..server.snap-max-total-size');
  }
  if (config.snapConcurrentRecvLimit < 1 || config.snapConcurrentRecvLimit > 1024) {
    throw new ConfigError('server.concurrent-recv-snap-limit must be 1..1024');
  }
  if (config.snapRecvIdleTimeoutMs < 100) throw new ConfigError('server.snap-recv-idle-timeout must be at least 100ms');
  if (config.snapRecvTimeoutMs < config.snapRecvIdleTimeoutMs) {
    throw new ConfigError('server.snap-recv-timeout must be at least server.snap-recv-idle-timeout');
  }
}

/** Splits "host:port" (IPv6 as "[::1]:port"); throws ConfigError when malformed. */
export function parseAddress(addr: string): { host: string; port: number } {
  const match = /^(\[[0-9a-fA-F:.]+\]|[^:\s]+):(\d{1,5})$/.exec(addr);
  const port = match ? Number(match[2]) : NaN;
  if (!match || port > 65535) throw new ConfigError(`invalid address "${addr}" (expected host:port)`);
  return { host: defined(match[1], 'host of a matched address'), port };
}

function expectString(name: string, value: unknown): string {
  if (typeof value !== 'string') throw new ConfigError(`${name} must be a string`);
  return value;
}

function expectBoolean(name: string, value: unknown): boolean {
  if (typeof value !== 'boolean') throw new ConfigError(`${name} must be true or false`);
  return value;
}

function expectOneOf<T extends string>(name: string, value: unknown, allowed: readonly T[]): T {
  if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value)) {
    throw new ConfigError(`${name} must be one of ${allowed.join(', ')} (got ${JSON.stringify(value)})`);
  }
  return value as T;
}

function expectSize(name: string, value: unknown): number {
  const bytes = parseSizeBytes(value);
  if (bytes === undefined) throw new ConfigError(`${name} must be a size such as "1MiB" or a byte count (got ${JSON.stringify(value)})`);
  return bytes;
}

function expectDuration(name: string, value: unknown): number {
  const ms = parseDurationMs(value);
  if (ms === undefined) throw new ConfigError(`${name} must be a duration such as "10s" or "500ms" (got ${JSON.stringify(value)})`);
  return ms;
}

function expectCount(name: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value)) throw new ConfigError(`${name} must be an integer`);
  return value;
}
