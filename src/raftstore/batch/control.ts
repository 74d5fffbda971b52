/**
 * The control plane of a store's threads (raft pollers and apply threads): status, metric
 * snapshots, configuration changes and orderly shutdown, as calls over comlink on a MessagePort of
 * its own per thread. The data plane (commands, Raft messages, committed entries) stays on
 * transferred msgpack frames (protocol.ts): comlink's structured-clone messages are for the rare
 * calls here, not for every command.
 */
import { expose, wrap, type Remote } from 'comlink';
import nodeEndpoint from 'comlink/dist/esm/node-adapter.mjs';
import type { MessagePort } from 'node:worker_threads';
import type { Logger } from 'pino';
import { LOG_LEVELS, type LogLevel } from '../../config/config.js';
import { assert } from '../../util/assert.js';
import type { ThreadMetricsSnapshot } from '../../metrics/thread-recorder.js';

/** A region a poller hosts, as its status reports it. */
export interface RegionStatus {
  readonly regionId: number;
  readonly peerId: number;
  readonly leader: boolean;
}

export interface ThreadStatus {
  /** "raft poller" or "apply thread". */
  readonly kind: 'raft poller' | 'apply thread';
  /** A poller: the regions it hosts; an apply thread: the regions it has applied for. */
  readonly regions: readonly RegionStatus[] | readonly number[];
  /** Work handed over and not finished: a poller's answers and restores awaited from apply threads; an apply thread's queued tasks. */
  readonly pending: number;
}

/** Counters a thread keeps, by name (a poller: dropped Raft messages per reason). */
export type ThreadMetrics = Record<string, number>;

/** What every raft poller and apply thread answers on its control port. */
export interface ThreadControl {
  status(): ThreadStatus;
  metrics(): ThreadMetrics;
  /** The thread's raftstore metrics (src/metrics/thread-recorder.ts), summed by the main thread's registry. */
  metricsSnapshot(): ThreadMetricsSnapshot;
  /** Changes the thread's log level; an unknown level is refused. */
  setLogLevel(level: LogLevel): void;
  /** Finishes the thread's work and closes its engines; resolves once done. */
  stop(): Promise<void>;
}

/** A thread's side: answers control calls on `port`. */
export function exposeControl(control: ThreadControl, port: MessagePort): void {
  expose(control, nodeEndpoint(port));
}

/**
 * The main thread's side of a thread's control port. The port does not keep the process alive;
 * `close` releases it once the thread is gone (a call to a gone thread would never settle).
 */
export function connectControl(port: MessagePort): { readonly remote: Remote<ThreadControl>; close(): void } {
  const remote = wrap<ThreadControl>(nodeEndpoint(port));
  port.unref();
  return { remote, close: () => port.close() };
}

/** Sets a thread's log level, refusing what is not a pino level we use. */
export function setLoggerLevel(logger: Logger, level: LogLevel): void {
  assert((LOG_LEVELS as readonly string[]).includes(level), `unknown log level ${String(level)}`);
  logger.level = level;
}

/** Counters under a common prefix, for a metrics snapshot. */
export function prefixed(prefix: string, counts: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(counts).map(([name, count]) => [prefix + name, count]));
}
