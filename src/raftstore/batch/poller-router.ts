/**
 * The batch system's main-thread side: region peers live on raft poller threads
 * (workers/raft-poller.ts), each hosting the regions whose shardOfRegion(id, pollers) is its index, and
 * committed entries are applied on apply threads (workers/apply.ts). This router forwards Raft
 * messages, commands and ticks to the pollers as batched frames, and relays what comes back (Raft
 * messages for the transport, region reports; command results, mostly from the apply threads).
 *
 * Reads: an apply thread answers a Snap once ReadIndex confirmed it and the region's applied
 * index reached the read index; the main thread then opens its own read transaction on the shared kv environment,
 * which already contains everything the poller applied.
 */
import type { LogFormat, LogLevel } from '../../config/config.js';
import { MessageChannel, Worker, type MessagePort } from 'node:worker_threads';
import type { Logger } from 'pino';
import type { Engine } from '../../engine/engine.js';
import { Region } from '../../proto/metapb.js';
import { RaftCmdRequest, RaftCmdResponse } from '../../proto/raft_cmdpb.js';
import { PeerState, RaftMessage, RegionLocalState } from '../../proto/raft_serverpb.js';
import { assert, defined } from '../../util/assert.js';
import { ErrorCode, TinyKvError, type ErrorCodeValue } from '../../util/errors.js';
import type { FatalHandler } from '../../util/fail-stop.js';
import { workerFileUrl } from '../../util/worker-path.js';
import type { RaftstoreConfig } from '../config.js';
import { errorResponse } from '../operation/command.js';
import { regionNotFound } from '../router/errors.js';
import { decode, FrameBatcher, frames, receiveFrames, type ApplyToMain, type FromPoller, type ToPoller } from './protocol.js';
import { connectControl, prefixed, type ThreadControl, type ThreadMetrics, type ThreadStatus } from './control.js';
import type { Remote } from 'comlink';
import type { CommandCallback, CommandResult } from '../router/command-callback.js';
import { regionStateKey } from '../keys.js';
import { keyInRegion } from '../region.js';
import type { EncodedTransport } from '../transport.js';
import { peekRegionId } from '../raft-wire.js';
import { NOTHING_TO_CANCEL, type CancelCommand, type LeaderRegion, type RaftRouter } from '../router/router.js';
import { DroppedMessageCounts } from './message-check.js';
import { RateLimitedLog } from '../../util/rate-limited-log.js';
import type { StoreEngineOptions } from './store-engines.js';
import { leaderRegionOf, regionViews, type RegionView } from './region-views.js';
import { systemClock, type Clock } from '../../env/clock.js';
import type { ThreadMetricsSnapshot } from '../../metrics/thread-recorder.js';
import type { ThreadSnapshot } from '../../metrics/thread-metrics.js';
import { shardOfRegion } from './region-shard.js';
import { LeaseTable } from './lease-table.js';
import { LocalReader } from './local-reader.js';
import { monotonicClock } from '../../env/clock.js';

/** Commands waiting for an answer from a poller; more are refused. */
const MAX_PENDING_COMMANDS = 100_000;
/**
 * Past this many commands in flight the store calls itself busy in its heartbeats (StoreStats
 * is_busy), so the scheduler moves no replicas onto it or off it: a fifth of the bound where it
 * starts refusing commands, far above what even hundreds of concurrent callers keep in flight.
 */
export const BUSY_PENDING_COMMANDS = MAX_PENDING_COMMANDS / 5;
/**
 * How long stop() waits for a thread to finish its work and acknowledge, before terminating it.
 * A poller wedged in a long synchronous loop must not hang the node's shutdown.
 */
export const STOP_THREAD_TIMEOUT_MS = 10_000;
/**
 * How long a metrics pull waits for a thread: one wedged in a long synchronous loop is left out of
 * the scrape (its last counts stay) instead of hanging it.
 */
const METRICS_PULL_TIMEOUT_MS = 2_000;
/** How long an aborted start waits for the other threads to finish their initialisation before terminating them. */
const START_ABORT_SETTLE_MS = 3_000;

function sleepMs(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}

/** A raft poller or apply thread as the main thread sees it. */
interface StoreThread {
  /** For logs and errors: "raft poller 0", "apply thread 1". */
  readonly name: string;
  /** For metric labels: "poller-0", "apply-1". */
  readonly label: string;
  readonly worker: Worker;
  /** Resolves when the thread has ended, for whatever reason. */
  readonly exited: Promise<void>;
  /** The thread's control plane (status, metrics, log level, stop). */
  readonly control: Remote<ThreadControl>;
  /** Releases the control port once the thread is gone. */
  readonly closeControl: () => void;
}

interface Poller extends StoreThread {
  readonly index: number;
  readonly out: FrameBatcher<ToPoller>;
  regions: RegionView[];
}

export interface PollerRouterOptions {
  readonly storeId: number;
  /** How every thread opens the store's environments. */
  readonly engines: StoreEngineOptions;
  readonly pollers: number;
  /** Apply threads (workers/apply.ts); shardOfRegion picks one. */
  readonly applyThreads: number;
  readonly config: RaftstoreConfig;
  readonly kv: Engine;
  readonly transport: EncodedTransport;
  readonly logger: Logger;
  readonly logLevel: LogLevel;
  /** How the threads write their logs (default json). */
  readonly logFormat?: LogFormat;
  /** False turns the threads' metrics off (server.metrics); default true. */
  readonly metricsEnabled?: boolean;
  /** Runs a raft-log GC task (on the raft-log GC thread). */
  readonly collectRaftLog: (regionId: number, fromIndex: number, toIndex: number) => Promise<void>;
  /**
   * A thread that failed or exited unasked, or a raft-log GC that failed: the store cannot go on
   * (fail-stop, src/util/fail-stop.ts). Called once; the router stops routing.
   */
  readonly onFatal: FatalHandler;
  /** How long stop() gives each thread before terminating it; default STOP_THREAD_TIMEOUT_MS. */
  readonly stopTimeoutMs?: number;
  /** When down followers were first reported (their down seconds); default the system clock. */
  readonly clock?: Clock;
  /**
   * False: every read goes to its poller (ReadIndex, or the poller's lease), none is served on the
   * main thread from a leader's lease (local-reader.ts). Default true.
   */
  readonly localReads?: boolean;
  /** Test seam: other entry files for the threads (file URLs); default workers/raft-poller and workers/apply. */
  readonly workerUrls?: { readonly poller?: string; readonly apply?: string };
}

export class PollerRouter implements RaftRouter {
  readonly storeId: number;
  private readonly pollers: Poller[] = [];
  private readonly applyWorkers: StoreThread[] = [];
  private readonly pending = new Map<number, CommandCallback>();
  private readonly acks = new Map<number, () => void>();
  private nextId = 1;
  private stopped = false;
  private stopping: Promise<void> | undefined;
  /**
   * Commands cancelled by their caller (timed out), and answers that came for a command no longer
   * pending (cancelled, or failed at stop): dropped.
   */
  readonly commandCounts = { cancelled: 0, lateAnswers: 0 };
  /** Messages dropped here, before any poller (only undecodable ones; the pollers' stores count the rest). */
  readonly droppedMessages = new DroppedMessageCounts();
  private readonly dropWarnings = new RateLimitedLog(10_000);
  private failed = false;
  private running = false;
  /** Until start() resolves: a thread that fails or exits rejects the start through this. */
  private failStart: ((err: TinyKvError) => void) | undefined;

  private readonly clock: Clock;
  /** One lease table per poller (lease-table.ts), written by it, read here. */
  private readonly leaseTables: LeaseTable[];
  /** Serves reads from leaders' leases on this thread; undefined when local reads are off. */
  readonly localReader: LocalReader | undefined;

  private constructor(private readonly options: PollerRouterOptions) {
    this.storeId = options.storeId;
    this.clock = options.clock ?? systemClock;
    this.leaseTables = Array.from({ length: options.pollers }, () => LeaseTable.create());
    this.localReader = options.localReads === false ? undefined : new LocalReader(options.storeId, options.kv, this.leaseTables, monotonicClock);
  }

  /**
   * Starts the threads and resolves once every one of them has finished its initialisation
   * (opened the engines, loaded its peers) and said so with a 'ready' frame. A thread that fails
   * or exits before that rejects the start with its error, after the threads already started
   * have been terminated: a node never serves with a dead poller.
   */
  static async start(options: PollerRouterOptions): Promise<PollerRouter> {
    assert(options.pollers >= 1, 'at least one raft poller');
    assert(options.applyThreads >= 1, 'at least one apply thread');
    const router = new PollerRouter(options);
    // Every poller talks to every apply thread over a port of its own.
    const channels = Array.from({ length: options.pollers }, () => Array.from({ length: options.applyThreads }, () => new MessageChannel()));
    const ready: Array<Promise<void>> = [];
    // Any thread failing before all are ready, including one that was already ready, fails the start.
    const failed = new Promise<never>((_, reject) => (router.failStart = reject));
    for (let index = 0; index < options.applyThreads; index++) {
      ready.push(
        router.startApplyThread(
          index,
          channels.map((row) => defined(row[index], 'channel to an apply thread').port2),
        ),
      );
    }
    for (let index = 0; index < options.pollers; index++) {
      ready.push(
        router.startPoller(
          index,
          defined(channels[index], 'channels of a poller').map((channel) => channel.port1),
        ),
      );
    }
    try {
      await Promise.race([Promise.all(ready), failed]);
    } catch (err) {
      // A thread that failed to come up fails the start; the ones that did come up must not
      // outlive it (terminate() resolves once a thread is gone, so the caller may close the engines).
      router.stopped = true;
      router.failStart = undefined;
      const threads = [...router.applyWorkers, ...router.pollers];
      // Let the others finish opening LMDB (or end) first, a bounded while: lmdb-js can abort the
      // whole process when a thread is terminated in the middle of opening an environment.
      const settled = threads.map((thread, i) => Promise.race([ready[i], thread.exited]));
      await Promise.race([Promise.all(settled), sleepMs(START_ABORT_SETTLE_MS)]);
      await Promise.all(threads.map(({ worker }) => worker.terminate().catch(() => {})));
      for (const thread of threads) thread.closeControl();
      throw err;
    }
    // From here on a thread that fails is fatal; before, it failed the start.
    router.running = true;
    router.failStart = undefined;
    return router;
  }

  private get metricsEnabled(): boolean {
    return this.options.metricsEnabled ?? true;
  }

  /** Starts apply thread `index`; resolves on its 'ready' frame. */
  private startApplyThread(index: number, pollerPorts: MessagePort[]): Promise<void> {
    const { storeId, engines, logLevel, logFormat } = this.options;
    const url = this.options.workerUrls?.apply ?? workerFileUrl('apply');
    const data = { storeId, engines, logLevel, logFormat, metricsEnabled: this.metricsEnabled, applyIndex: index, pollerPorts };
    const thread = this.spawn(`apply thread ${index}`, `apply-${index}`, url, data, pollerPorts);
    const readiness = readySignal();
    thread.worker.on('message', (buffer: ArrayBuffer) =>
      this.receive(thread.name, buffer, decode.applyToMain, (frame) => this.onApplyFrame(frame, readiness.resolve)),
    );
    this.applyWorkers.push(thread);
    return readiness.promise;
  }

  /** Starts raft poller `index`; resolves on its 'ready' frame. */
  private startPoller(index: number, applyPorts: MessagePort[]): Promise<void> {
    const { storeId, engines, config, logLevel, logFormat, pollers: pollerCount } = this.options;
    const url = this.options.workerUrls?.poller ?? workerFileUrl('raft-poller');
    const leaseBuffer = defined(this.leaseTables[index], 'lease table of a poller').buffer;
    const data = {
      storeId,
      engines,
      config,
      logLevel,
      logFormat,
      metricsEnabled: this.metricsEnabled,
      pollerIndex: index,
      pollerCount,
      applyPorts,
      leaseBuffer,
    };
    const thread = this.spawn(`raft poller ${index}`, `poller-${index}`, url, data, applyPorts);
    const poller: Poller = { ...thread, index, out: new FrameBatcher<ToPoller>(thread.worker), regions: [] };
    const readiness = readySignal();
    thread.worker.on('message', (buffer: ArrayBuffer) =>
      this.receive(thread.name, buffer, decode.pollerToMain, (frame) => this.onPollerFrame(poller, frame, readiness.resolve)),
    );
    this.pollers.push(poller);
    return readiness.promise;
  }

  /** Starts a thread with a control port of its own (workerData.controlPort) and supervises it. */
  private spawn(name: string, label: string, url: string, data: object, ports: MessagePort[]): StoreThread {
    const control = new MessageChannel();
    const worker = new Worker(new URL(url), {
      workerData: { ...data, controlPort: control.port2 },
      transferList: [...ports, control.port2],
    });
    const exited = this.supervise(worker, name);
    const { remote, close } = connectControl(control.port1);
    return { name, label, worker, exited, control: remote, closeControl: close };
  }

  /**
   * Watches a thread: an uncaught error in it, or an exit nobody asked for, is an internal
   * failure of the store (fail-stop); while the store is starting, it fails the start instead.
   * Resolves when the thread has ended.
   */
  private supervise(worker: Worker, name: string): Promise<void> {
    worker.on('error', (err) => {
      if (this.failStart) this.failStart(startFailure(name, err));
      else this.fatal(`${name} failed`, err);
    });
    return new Promise((resolve) => {
      worker.once('exit', (exitCode) => {
        if (this.failStart) {
          // After an 'error' this changes nothing: the start has already failed with that error.
          const message = `${name} exited with code ${exitCode} while the store was starting`;
          this.failStart(new TinyKvError(ErrorCode.StoreThreadStartFailed, message, { thread: name, exitCode }));
        } else if (!this.stopped) {
          this.fatal(`${name} exited unexpectedly with code ${exitCode}`);
        }
        resolve();
      });
    });
  }

  private fatal(reason: string, err?: unknown): void {
    if (this.failed || !this.running) return;
    if (this.stopped) {
      // Stopping anyway: what failed on the way down is replayed from the raft log on restart.
      this.options.logger.error({ err, reason }, 'store thread failed while stopping');
      return;
    }
    this.failed = true;
    this.options.onFatal(reason, err);
  }

  propose(request: RaftCmdRequest, callback: CommandCallback): CancelCommand {
    const regionId = request.header?.regionId ?? 0;
    if (!this.stopped && !this.failed) {
      const local = this.localReader?.read(request);
      if (local) {
        callback(local);
        return NOTHING_TO_CANCEL;
      }
    }
    if (this.stopped || this.failed || this.pending.size >= MAX_PENDING_COMMANDS) {
      callback({ response: errorResponse(regionNotFound(regionId).regionError) });
      return NOTHING_TO_CANCEL;
    }
    const id = this.nextId++;
    this.pending.set(id, callback);
    this.pollerOf(regionId).out.push(frames.command(id, RaftCmdRequest.encode(request).finish()));
    return () => {
      if (this.pending.delete(id)) this.commandCounts.cancelled++;
    };
  }

  get localReads(): { readonly served: number; readonly expired: number } | undefined {
    return this.localReader?.counts;
  }

  /** Commands waiting for an answer from a thread. */
  get pendingCommands(): number {
    return this.pending.size;
  }

  onRaftMessage(message: RaftMessage): void {
    if (this.stopped) return;
    this.pollerOf(message.regionId).out.push(frames.raftMessage(RaftMessage.encode(message).finish()));
  }

  onRaftMessageBytes(message: Uint8Array): void {
    if (this.stopped) return;
    let regionId: number;
    try {
      regionId = peekRegionId(message);
    } catch (err) {
      this.droppedMessages.add('undecodable');
      this.dropWarnings.run((suppressed) =>
        this.options.logger.warn({ detail: (err as Error).message, suppressed, dropped: this.droppedMessages.toJSON() }, 'raft message dropped'),
      );
      return;
    }
    // The poller decodes it (and drops it if it does not decode).
    this.pollerOf(regionId).out.push(frames.raftMessage(message));
  }

  tick(): void {
    if (this.stopped) return;
    for (const poller of this.pollers) poller.out.push(frames.tick());
  }

  createRegion(region: Region): Promise<void> {
    const id = this.nextId++;
    return new Promise((resolve) => {
      this.acks.set(id, resolve);
      this.pollerOf(region.id).out.push(frames.createRegion(id, Region.encode(region).finish()));
    });
  }

  regions(): Region[] {
    return this.pollers.flatMap((p) => p.regions.map((r) => r.region));
  }

  regionForKey(key: Uint8Array): Region | undefined {
    return this.regions().find((region) => keyInRegion(key, region));
  }

  leaderRegions(): LeaderRegion[] {
    const out: LeaderRegion[] = [];
    const nowMs = this.clock.nowMs();
    const { maxPeerDownTicks, raftBaseTickMs } = this.options.config;
    const maxPeerDownMs = maxPeerDownTicks * raftBaseTickMs;
    for (const poller of this.pollers) {
      for (const view of poller.regions) {
        const led = leaderRegionOf(view, nowMs, maxPeerDownMs);
        if (led) out.push(led);
      }
    }
    return out;
  }

  /**
   * Stops the pollers, then the apply threads. Each thread gets stopTimeoutMs to finish its work
   * and acknowledge; one that does not is terminated. Resolves once every thread is gone, so the
   * caller may close the engines they used. Idempotent.
   */
  stop(): Promise<void> {
    this.stopping ??= this.stopThreads();
    return this.stopping;
  }

  private async stopThreads(): Promise<void> {
    this.stopped = true;
    await Promise.all(this.pollers.map((poller) => this.stopThread(poller)));
    // Then the apply threads, which finish what the pollers handed over.
    await Promise.all(this.applyWorkers.map((apply) => this.stopThread(apply)));
    for (const [id, callback] of this.pending) {
      this.pending.delete(id);
      callback({ response: errorResponse(regionNotFound(0).regionError) });
    }
  }

  /**
   * Asks a thread, on its control port, to finish its work, and waits for that, or for its end if
   * it has died (a stop that fails ends the thread), at most stopTimeoutMs; then makes sure it is
   * gone. terminate() also interrupts a thread wedged in a synchronous loop, and resolves only once
   * the thread has ended.
   */
  private async stopThread(thread: StoreThread): Promise<void> {
    const timeoutMs = this.options.stopTimeoutMs ?? STOP_THREAD_TIMEOUT_MS;
    let timer: NodeJS.Timeout | undefined;
    const outcome = await Promise.race([
      thread.control.stop().then(
        () => 'stopped' as const,
        () => thread.exited.then(() => 'exited' as const),
      ),
      thread.exited.then(() => 'exited' as const),
      new Promise<'timedOut'>((resolve) => (timer = setTimeout(() => resolve('timedOut'), timeoutMs))),
    ]);
    clearTimeout(timer);
    if (outcome === 'timedOut') this.options.logger.error({ thread: thread.name, timeoutMs }, 'store thread did not stop in time; terminating it');
    await thread.worker.terminate();
    thread.closeControl();
  }

  /** Every thread's status, pollers first (control plane; for operators and tests). */
  threadStatus(): Promise<Array<ThreadStatus & { readonly thread: string }>> {
    return this.eachThread(async (thread) => ({ thread: thread.name, ...(await thread.control.status()) }));
  }

  /** Every thread's counters, pollers first, with the main thread's own command counts. */
  async threadMetrics(): Promise<Array<{ readonly thread: string; readonly metrics: ThreadMetrics }>> {
    const threads = await this.eachThread(async (thread) => ({ thread: thread.name, metrics: await thread.control.metrics() }));
    const main = { pendingCommands: this.pending.size, ...this.commandCounts, ...prefixed('droppedMessages.', this.droppedMessages.toJSON()) };
    return [{ thread: 'main', metrics: main }, ...threads];
  }

  /**
   * Every thread's raftstore metrics, for registerThreadMetrics (src/metrics/thread-metrics.ts).
   * A poller's queue depth is the frames sent to it that it has not taken yet; an apply thread's,
   * its tasks not applied yet. A thread that does not answer in time is left out; once the
   * threads are stopped there is nothing to pull (the registry keeps what they counted).
   */
  async metricsSnapshots(): Promise<ThreadSnapshot[]> {
    if (this.stopped) return [];
    const pull = async (thread: StoreThread, queueDepth: (snapshot: ThreadMetricsSnapshot) => number): Promise<ThreadSnapshot | undefined> => {
      const timedOut = sleepMs(METRICS_PULL_TIMEOUT_MS).then(() => undefined);
      const snapshot = await Promise.race([thread.control.metricsSnapshot(), timedOut]).catch(() => undefined);
      return snapshot ? { thread: thread.label, snapshot, queueDepth: queueDepth(snapshot) } : undefined;
    };
    const pulled = await Promise.all([
      ...this.pollers.map((poller) => pull(poller, (snapshot) => Math.max(0, poller.out.pushedFrames - snapshot.framesReceived))),
      ...this.applyWorkers.map((apply) => pull(apply, (snapshot) => snapshot.queued)),
    ]);
    return pulled.filter((entry) => entry !== undefined);
  }

  /** Changes the log level of every store thread. */
  async setThreadLogLevel(level: LogLevel): Promise<void> {
    await this.eachThread((thread) => thread.control.setLogLevel(level));
  }

  private async eachThread<T>(call: (thread: StoreThread) => Promise<T>): Promise<T[]> {
    assert(!this.stopped, 'the store threads are stopped');
    return Promise.all([...this.pollers, ...this.applyWorkers].map(call));
  }

  private pollerOf(regionId: number): Poller {
    return defined(this.pollers[shardOfRegion(regionId, this.pollers.length)], 'poller of a region');
  }

  /** Decodes a batch from a thread: a frame that does not decode or fails is an internal failure. */
  private receive<T extends FromPoller | ApplyToMain>(
    name: string,
    buffer: ArrayBuffer,
    decoder: (buffer: ArrayBuffer) => T[],
    handle: (frame: T) => void,
  ): void {
    receiveFrames(buffer, decoder, handle, (reason, err) => this.fatal(`${name}: ${reason}`, err));
  }

  private onPollerFrame(poller: Poller, frame: FromPoller, onReady: () => void): void {
    switch (frame.kind) {
      case 'send':
        // Only a snapshot is decoded here (it is sent in chunks); the rest goes out as bytes.
        if (frame.snapshot) this.options.transport.send(RaftMessage.decode(frame.message));
        else this.options.transport.sendEncoded(frame.storeId, frame.message);
        return;
      case 'regions':
        poller.regions = regionViews(frame.regions, poller.regions, this.clock.nowMs());
        this.localReader?.onReport(poller.index, poller.regions);
        return;
      case 'gc':
        // A failed delete on the raft engine is an I/O error there (fail-stop), unless the store
        // is stopping and the GC thread is being shut down under the task.
        this.options.collectRaftLog(frame.regionId, frame.fromIndex, frame.toIndex).catch((err: unknown) => {
          if (this.stopped) this.options.logger.warn({ err, regionId: frame.regionId }, 'raft-log GC failed');
          else this.fatal(`raft-log GC of region ${frame.regionId} failed`, err);
        });
        return;
      case 'splitCreated':
        this.pollerOf(frame.regionId).out.push(frames.initSplitRegion(frame.regionId, frame.campaign));
        return;
      case 'ack':
        this.acks.get(frame.id)?.();
        this.acks.delete(frame.id);
        return;
      default:
        this.onApplyFrame(frame, onReady);
    }
  }

  /** Frames an apply thread sends the main thread; a poller sends these too. */
  private onApplyFrame(frame: ApplyToMain, onReady: () => void): void {
    switch (frame.kind) {
      case 'done': {
        const callback = this.pending.get(frame.id);
        if (!callback) {
          this.commandCounts.lateAnswers++;
          return;
        }
        this.pending.delete(frame.id);
        const response = RaftCmdResponse.decode(frame.response);
        if (!frame.snapshot) {
          callback({ response });
          return;
        }
        callback(openReadSnapshot(this.options.kv, response));
        return;
      }
      case 'ready':
        onReady();
        return;
    }
  }
}

/**
 * The kv read transaction for a Snap an apply thread answered. It is opened here, after the
 * answer: if the region's peer was destroyed in between (its removal applied, its range cleared),
 * the transaction would show the cleared range as an empty region, so the read is answered
 * RegionNotFound instead. Anything else that happened in between came after the read index
 * (newer data a linearizable read may see).
 */
export function openReadSnapshot(kv: Engine, response: RaftCmdResponse): CommandResult {
  const snapshot = kv.snapshot();
  const region = response.responses[0]?.snap?.region;
  const bytes = region && snapshot.get('meta', regionStateKey(region.id));
  if (!region || (bytes && RegionLocalState.decode(bytes).state === PeerState.Normal)) return { response, snapshot };
  snapshot.close();
  return { response: errorResponse(regionNotFound(region.id).regionError) };
}

/** A promise and its resolver: the thread's 'ready' frame resolves it. */
function readySignal(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((resolveReady) => (resolve = resolveReady));
  return { promise, resolve };
}

const ERROR_CODES = new Set<string>(Object.values(ErrorCode));

/**
 * The error a thread died of during its initialisation, named after the thread. A TinyKvError
 * crosses the thread boundary as a plain Error with its own properties; its code is kept
 * (KV:Raftstore:LogCorrupted says more than "thread failed").
 */
function startFailure(name: string, err: unknown): TinyKvError {
  const message = err instanceof Error ? err.message : String(err);
  const carried = (err as { code?: unknown } | undefined)?.code;
  const code = typeof carried === 'string' && ERROR_CODES.has(carried) ? (carried as ErrorCodeValue) : ErrorCode.StoreThreadStartFailed;
  const failure = new TinyKvError(code, `${name} failed to start: ${message}`, { thread: name });
  failure.cause = err;
  return failure;
}
