/**
 * An apply thread: runs the Applier (applier.ts) on the store's kv environment for the regions
 * whose shardOfRegion(id, applyCount) is its index. Raft pollers hand it committed entries over their
 * channels; it answers each command to its reply address (main-thread commands straight to the
 * main thread) and reports apply states back to the poller that handed the region over.
 *
 * `ApplyThread` takes its channels as FramePorts: on a worker thread (`runApplyThread`, entry point
 * workers/apply.ts) they are MessagePorts; the single-thread simulation builds it on in-process
 * channels, so it runs this same frame code.
 */
import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import type { Logger } from 'pino';
import type { LogFormat, LogLevel } from '../../config/config.js';
import type { Engine } from '../../engine/engine.js';
import { LmdbEngine } from '../../engine/lmdb-engine.js';
import { createLogger } from '../../log/logger.js';
import { Entry, Snapshot } from '../../proto/eraftpb.js';
import { RaftCmdRequest, RaftCmdResponse } from '../../proto/raft_cmdpb.js';
import { Region } from '../../proto/metapb.js';
import { RaftApplyState } from '../../proto/raft_serverpb.js';
import { failThisThread, type FatalHandler } from '../../util/fail-stop.js';
import {
  decode,
  FrameBatcher,
  forEachReply,
  frames,
  receiveFrames,
  type ApplyToMain,
  type ApplyToPoller,
  type FramePort,
  type PollerToApply,
} from '../batch/protocol.js';
import { exposeControl, setLoggerLevel, type ThreadControl } from '../batch/control.js';
import type { StoreEngineOptions } from '../batch/store-engines.js';
import type { CommandCallback, CommandResult, ReplyTarget } from '../router/command-callback.js';
import type { ApplyRead } from '../operation/read.js';
import type { ApplyReply } from '../operation/write.js';
import { Applier } from './applier.js';
import { defined } from '../../util/assert.js';
import { RaftstoreMetrics } from '../../metrics/thread-recorder.js';

export interface ApplyWorkerData {
  /** The store's id, for its logs. */
  readonly storeId: number;
  readonly engines: StoreEngineOptions;
  readonly logLevel: LogLevel;
  readonly logFormat?: LogFormat;
  /** False turns this thread's metrics off (server.metrics). */
  readonly metricsEnabled: boolean;
  /** Which apply thread this is (its logs' component, apply-N). */
  readonly applyIndex: number;
  /** One port per raft poller, indexed like the pollers. */
  readonly pollerPorts: MessagePort[];
  /** Where the main thread calls the control plane (control.ts). */
  readonly controlPort: MessagePort;
}

export interface ApplyThreadOptions {
  readonly kv: Engine;
  readonly logger: Logger;
  /** The channel to the main thread (answers and 'ready' only: the main thread talks to it on the control plane). */
  readonly main: FramePort;
  /** One channel per raft poller. */
  readonly pollerPorts: readonly FramePort[];
  /** A kv write that failed, a broken invariant, a frame that fails. */
  readonly onFatal: FatalHandler;
  /** On stop, once everything handed over is applied: closes the kv engine. */
  readonly close?: () => Promise<void>;
  /** Where the thread counts (src/metrics/thread-recorder.ts); default a recorder of its own. */
  readonly metrics?: RaftstoreMetrics;
}

export class ApplyThread {
  readonly applier: Applier;
  private readonly toMain: FrameBatcher<ApplyToMain>;
  /** The poller that hands each region over: its apply states go back there. */
  private readonly pollerOfRegion = new Map<number, FrameBatcher<ApplyToPoller>>();
  /** Set once the engine is closing on the main thread's stop. */
  private stopped = false;
  readonly metrics: RaftstoreMetrics;
  /** The control plane's calls (control.ts), on a control port or, in the simulation, directly. */
  readonly control: ThreadControl = {
    status: () => ({ kind: 'apply thread', regions: [...this.pollerOfRegion.keys()], pending: this.applier.queued }),
    metrics: () => ({ queued: this.applier.queued }),
    metricsSnapshot: () => this.metrics.takeSnapshot(),
    setLogLevel: (level) => setLoggerLevel(this.options.logger, level),
    stop: () => this.stop(),
  };

  constructor(private readonly options: ApplyThreadOptions) {
    this.toMain = new FrameBatcher<ApplyToMain>(options.main);
    const metrics = (this.metrics = options.metrics ?? new RaftstoreMetrics());
    this.applier = new Applier(
      options.kv,
      options.logger,
      (result) => {
        const confChanges = result.confChanges.map((change) => ({
          changeType: change.changeType,
          peerId: change.peer.id,
          storeId: change.peer.storeId,
          region: Region.encode(change.region).finish(),
        }));
        const region = result.region && Region.encode(result.region).finish();
        const created = [...(result.created ?? [])];
        const frame = frames.applied(result.regionId, RaftApplyState.encode(result.applyState).finish(), confChanges, region, created);
        this.pollerOfRegion.get(result.regionId)?.push(frame);
      },
      options.onFatal,
      metrics,
    );
    // The queue depth a scrape reports for this thread: tasks handed over and not applied yet.
    metrics.queued = () => this.applier.queued;
    const fail = (reason: string, err: unknown): void => options.onFatal(`apply ${reason}`, err);
    for (const port of options.pollerPorts) {
      const poller = new FrameBatcher<ApplyToPoller>(port);
      port.on('message', (buffer) => {
        // Frames a stopped poller posted can arrive after the main thread's stop (ports do not order
        // against each other): the engine is closed, and the raft log replays them on restart.
        if (this.stopped) return;
        // Frames come from the pollers, never straight from the network: a failure is internal.
        receiveFrames(
          buffer,
          decode.pollerToApply,
          (frame) => {
            metrics.received(1);
            this.onPollerFrame(frame, poller);
          },
          fail,
        );
      });
    }
  }

  /** The main thread's start waits for this: an engine that did not open fails the start. */
  start(): void {
    this.toMain.push(frames.ready());
    this.toMain.flush();
  }

  private answer(replyTo: ReplyTarget, id: number, poller: FrameBatcher<ApplyToPoller>): CommandCallback {
    return (result: CommandResult) => {
      // A Snap's reader opens its own read transaction on the shared environment; this one closes.
      result.snapshot?.close();
      const frame = frames.done(id, RaftCmdResponse.encode(result.response).finish(), result.snapshot !== undefined);
      if (replyTo === 'main') this.toMain.push(frame);
      else poller.push(frame);
    };
  }

  private onPollerFrame(frame: PollerToApply, poller: FrameBatcher<ApplyToPoller>): void {
    this.pollerOfRegion.set(frame.regionId, poller);
    if (frame.kind === 'restore') {
      this.restore(frame.id, frame.regionId, frame.snapshot, poller);
      return;
    }
    if (frame.kind === 'destroy') {
      this.destroy(frame, poller);
      return;
    }
    const replies: ApplyReply[] = [];
    forEachReply(frame, (index, replyTo, id) => replies.push({ index, callback: this.answer(replyTo, id, poller) }));
    const reads: ApplyRead[] = frame.reads.map((read) => ({
      index: read.index,
      request: RaftCmdRequest.decode(read.request),
      callback: this.answer(read.replyTo, read.id, poller),
    }));
    this.applier.apply({ regionId: frame.regionId, entries: frame.entries.map((bytes) => Entry.decode(bytes)), replies, reads });
  }

  private restore(id: number, regionId: number, snapshot: Uint8Array, poller: FrameBatcher<ApplyToPoller>): void {
    this.applier.restore(regionId, Snapshot.decode(snapshot)).then(
      () => poller.push(frames.restored(id)),
      (err: unknown) => {
        this.options.logger.error({ err, regionId }, 'snapshot restore failed');
        poller.push(frames.restored(id, err instanceof Error ? err.message : String(err)));
      },
    );
  }

  private destroy(frame: Extract<PollerToApply, { kind: 'destroy' }>, poller: FrameBatcher<ApplyToPoller>): void {
    // A failed kv write here is fatal (the applier's drain reports it); the answer only unblocks the poller.
    this.applier.destroy(Region.decode(frame.region)).then(
      () => {
        this.pollerOfRegion.delete(frame.regionId);
        poller.push(frames.destroyed(frame.id));
      },
      (err: unknown) => poller.push(frames.destroyed(frame.id, err instanceof Error ? err.message : String(err))),
    );
  }

  /** Pollers stop first: finishes what they handed over, then closes the engine. */
  private async stop(): Promise<void> {
    try {
      await this.applier.settle();
      this.stopped = true;
      await this.options.close?.();
    } catch (err) {
      // As any failure of this thread: it ends, and the main thread sees it end.
      this.options.onFatal('apply thread stop failed', err);
      throw err;
    }
  }
}

/** The code of an apply thread (workers/apply.ts): opens the kv engine and runs an ApplyThread. */
export function runApplyThread(): void {
  const data = workerData as ApplyWorkerData;
  const component = `apply-${data.applyIndex}`;
  const logger = createLogger(data.logLevel, 'tinykv-apply', { format: data.logFormat, component }).child({ storeId: data.storeId });
  const kv = new LmdbEngine(data.engines.kv);
  const thread = new ApplyThread({
    kv,
    logger,
    metrics: new RaftstoreMetrics({ enabled: data.metricsEnabled }),
    main: defined(parentPort, 'parentPort (this code runs as a worker thread)'),
    pollerPorts: data.pollerPorts,
    // A kv write that failed or a broken invariant ends this thread; the main thread fail-stops.
    onFatal: (reason, err) => failThisThread(logger, reason, err),
    close: () => kv.close(),
  });
  exposeControl(thread.control, data.controlPort);
  thread.start();
}
