// One store of the single-thread simulation, wired as a threaded store is: a PollerThread and an
// ApplyThread (the production classes) on in-process channels that carry the same encoded frames
// as MessagePorts, and this main-thread side, which routes commands and Raft messages to the
// poller as frames and answers callbacks from the `done` frames that come back. Nothing moves
// until `settle` pumps the channels, so a seed replays exactly.
import { openReadSnapshot } from '../../src/raftstore/batch/poller-router.js';
import type { Logger } from 'pino';
import { ApplyThread } from '../../src/raftstore/apply/apply-thread.js';
import { InProcessChannel } from '../../src/raftstore/batch/in-process-channel.js';
import { PollerThread } from '../../src/raftstore/batch/poller-thread.js';
import {
  decode,
  FrameBatcher,
  frames,
  type ApplyToMain,
  type FromPoller,
  type RegionReport,
  type ToPoller,
} from '../../src/raftstore/batch/protocol.js';
import type { Store } from '../../src/raftstore/batch/store.js';
import { errorResponse } from '../../src/raftstore/operation/command.js';
import type { PeerEngines } from '../../src/raftstore/peer/peer-storage.js';
import type { Peer } from '../../src/raftstore/peer/peer.js';
import type { CommandCallback } from '../../src/raftstore/router/command-callback.js';
import type { RaftstoreConfig } from '../../src/raftstore/config.js';
import { raftLogKey } from '../../src/raftstore/keys.js';
import { regionNotFound } from '../../src/raftstore/router/errors.js';
import type { CancelCommand, LeaderRegion, RaftRouter } from '../../src/raftstore/router/router.js';
import { Region } from '../../src/proto/metapb.js';
import { RaftCmdRequest, RaftCmdResponse } from '../../src/proto/raft_cmdpb.js';
import { RaftMessage } from '../../src/proto/raft_serverpb.js';
import type { RandomSource } from '../../src/raft/index.js';
import type { ThreadSnapshot } from '../../src/metrics/thread-metrics.js';
import type { MonotonicClock } from '../../src/env/clock.js';
import { LeaseTable } from '../../src/raftstore/batch/lease-table.js';
import { LocalReader } from '../../src/raftstore/batch/local-reader.js';

/** A bound on pump rounds in one settle: more is a runaway loop. */
const MAX_PUMP_ROUNDS = 100_000;
/** Microtask turns given to the work a pump started before pumping again (a cost trade-off only). */
const MICROTASK_YIELDS = 8;

async function yieldMicrotasks(): Promise<void> {
  for (let i = 0; i < MICROTASK_YIELDS; i++) await Promise.resolve();
}

export interface SimNodeOptions {
  readonly storeId: number;
  readonly engines: PeerEngines;
  readonly config: RaftstoreConfig;
  readonly random: RandomSource;
  readonly logger: Logger;
  /** A Raft message the poller sends to another store, decoded (for the network's filters) and as sent. */
  readonly send: (message: RaftMessage, bytes: Uint8Array, toStore: number) => void;
  /** The cluster's logical time, what leader leases are measured on (it moves with the ticks). */
  readonly clock: MonotonicClock;
  /** False: reads all go to the poller (no main-thread lease reads). Default true. */
  readonly localReads?: boolean;
}

export class SimNode implements RaftRouter {
  readonly storeId: number;
  private readonly toPoller: InProcessChannel;
  private readonly toApply: InProcessChannel;
  private readonly pollerApply: InProcessChannel;
  private readonly poller: PollerThread;
  private readonly apply: ApplyThread;
  private readonly pollerOut: FrameBatcher<ToPoller>;
  private readonly pending = new Map<number, CommandCallback>();
  /** Serves reads from leaders' leases as the threaded store's main thread does. */
  readonly localReader: LocalReader | undefined;
  private readonly acks = new Map<number, () => void>();
  private nextId = 1;
  private stopped = false;
  /** The first internal failure of a thread: settle() throws it, as a failed poll round did inline. */
  private fatal: Error | undefined;

  constructor(private readonly options: SimNodeOptions) {
    this.storeId = options.storeId;
    this.toPoller = new InProcessChannel();
    this.toApply = new InProcessChannel();
    this.pollerApply = new InProcessChannel();
    const leaseTable = LeaseTable.create(64);
    const onFatal = (reason: string, err?: unknown) => {
      this.fatal ??= new Error(`store ${options.storeId}: ${reason}: ${err instanceof Error ? err.stack : String(err)}`);
    };
    this.poller = new PollerThread({
      storeId: options.storeId,
      engines: options.engines,
      config: options.config,
      logger: options.logger,
      random: options.random,
      main: this.toPoller.port2,
      applyPorts: [this.pollerApply.port1],
      hosts: () => true,
      onFatal,
      leaseTable,
      monotonicClock: options.clock,
    });
    this.localReader = options.localReads === false ? undefined : new LocalReader(options.storeId, options.engines.kv, [leaseTable], options.clock);
    this.apply = new ApplyThread({
      kv: options.engines.kv,
      logger: options.logger,
      main: this.toApply.port2,
      pollerPorts: [this.pollerApply.port2],
      onFatal,
    });
    this.pollerOut = new FrameBatcher<ToPoller>(this.toPoller.port1);
    this.toPoller.port1.on('message', (buffer) => {
      for (const frame of decode.pollerToMain(buffer)) this.onPollerFrame(frame);
    });
    this.toApply.port1.on('message', (buffer) => {
      for (const frame of decode.applyToMain(buffer)) this.onApplyFrame(frame);
    });
  }

  /** Starts the threads on what the engines hold (a restart loads every region on disk). */
  async start(): Promise<void> {
    this.apply.start();
    this.poller.start();
    await this.settle();
  }

  /** What the poller last reported of its regions (the `regions` frame, as the main thread gets it). */
  lastRegionReport: RegionReport[] = [];

  /** The poller's store, for inspection (peers, dropped-message counts). */
  get store(): Store {
    return this.poller.store;
  }

  peer(regionId: number): Peer | undefined {
    return this.poller.store.peer(regionId);
  }

  get droppedMessages(): Store['droppedMessages'] {
    return this.poller.store.droppedMessages;
  }

  propose(request: RaftCmdRequest, callback: CommandCallback): CancelCommand {
    if (this.stopped) {
      callback({ response: errorResponse(regionNotFound(request.header?.regionId ?? 0).regionError) });
      return () => {};
    }
    const local = this.localReader?.read(request);
    if (local) {
      callback(local);
      return () => {};
    }
    const id = this.nextId++;
    this.pending.set(id, callback);
    this.pollerOut.push(frames.command(id, RaftCmdRequest.encode(request).finish()));
    return () => this.pending.delete(id);
  }

  onRaftMessage(message: RaftMessage): void {
    this.onRaftMessageBytes(RaftMessage.encode(message).finish());
  }

  onRaftMessageBytes(message: Uint8Array): void {
    if (!this.stopped) this.pollerOut.push(frames.raftMessage(message));
  }

  tick(): void {
    if (!this.stopped) this.pollerOut.push(frames.tick());
  }

  async createRegion(region: Region): Promise<void> {
    await this.request((id) => this.pollerOut.push(frames.createRegion(id, Region.encode(region).finish())));
  }

  regions(): Region[] {
    return this.poller.store.regions();
  }

  regionForKey(key: Uint8Array): Region | undefined {
    return this.poller.store.regionForKey(key);
  }

  leaderRegions(): LeaderRegion[] {
    return this.poller.store.leaderRegions();
  }

  /** Each simulated thread's metrics recorder, as a threaded store's router reports them. */
  async metricsSnapshots(): Promise<ThreadSnapshot[]> {
    return [
      { thread: 'poller-0', snapshot: this.poller.metrics.takeSnapshot(), queueDepth: 0 },
      { thread: 'apply-0', snapshot: this.apply.metrics.takeSnapshot(), queueDepth: this.apply.applier.queued },
    ];
  }

  /**
   * Stops the poller (its peers fail what they hold), then the apply thread, through their
   * control objects (called directly: there is no comlink port in one thread); engines stay as
   * they are.
   */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.settleUntil(this.poller.control.stop());
    await this.settleUntil(this.apply.control.stop());
    for (const [id, callback] of this.pending) {
      this.pending.delete(id);
      callback({ response: errorResponse(regionNotFound(0).regionError) });
    }
  }

  /**
   * Pumps the channels and lets every thread's work run until nothing moves any more. A poll round
   * may wait on a frame (a snapshot restore on the apply thread), so the channels are pumped while
   * the store and the applier settle, not only after. Only microtasks run here: no event-loop hop,
   * no timer.
   */
  async settle(): Promise<void> {
    for (let round = 0; ; round++) {
      if (round >= MAX_PUMP_ROUNDS) throw new Error(`store ${this.storeId} did not settle`);
      if (this.fatal) throw this.fatal;
      if (this.pump()) {
        await yieldMicrotasks();
        continue;
      }
      let quiet = false;
      const settled = Promise.all([this.poller.store.settle(), this.apply.applier.settle()]).then(
        () => (quiet = true),
        (err: unknown) => (this.fatal ??= err instanceof Error ? err : new Error(String(err))),
      );
      await Promise.race([settled, yieldMicrotasks()]);
      // Read through a method: the closure above may have set it, which control flow cannot see.
      const fatal = this.fatalError();
      if (fatal) throw fatal;
      if (!this.pump() && quiet) return;
    }
  }

  private fatalError(): Error | undefined {
    return this.fatal;
  }

  /** Moves every channel's frames once; returns whether any moved. */
  private pump(): boolean {
    const toPoller = this.toPoller.pump();
    const toApply = this.pollerApply.pump();
    const toMain = this.toApply.pump();
    return toPoller || toApply || toMain;
  }

  /** Sends a frame that is answered with an ack, and pumps until it is. */
  private async request(send: (id: number) => void): Promise<void> {
    const id = this.nextId++;
    let acked = false;
    this.acks.set(id, () => (acked = true));
    send(id);
    while (!acked) await this.settle();
  }

  /** Pumps until `work` (which may wait on frames) is done. */
  private async settleUntil(work: Promise<void>): Promise<void> {
    let done = false;
    let failure: unknown;
    work.then(
      () => (done = true),
      (err: unknown) => ((done = true), (failure = err)),
    );
    while (!done) await this.settle();
    if (failure !== undefined) throw failure instanceof Error ? failure : new Error('simulated node work failed', { cause: failure });
  }

  private onPollerFrame(frame: FromPoller): void {
    switch (frame.kind) {
      case 'send':
        this.options.send(RaftMessage.decode(frame.message), frame.message, frame.storeId);
        return;
      case 'gc':
        // Production hands this to the raft-log GC thread; here the raft engine deletes inline.
        void this.options.engines.raft.write([
          { type: 'deleteRange', cf: 'meta', start: raftLogKey(frame.regionId, frame.fromIndex), end: raftLogKey(frame.regionId, frame.toIndex) },
        ]);
        return;
      case 'regions':
        this.lastRegionReport = frame.regions;
        this.localReader?.onReport(
          0,
          frame.regions.map((report) => ({ ...report, region: Region.decode(report.region) })),
        );
        return;
      case 'splitCreated':
        // One poller hosts every region of a simulated store: a split region starts on it directly.
        throw new Error(`a simulated store's poller passed on split region ${frame.regionId}`);
      case 'ack':
        this.acks.get(frame.id)?.();
        this.acks.delete(frame.id);
        return;
      default:
        this.onApplyFrame(frame);
    }
  }

  private onApplyFrame(frame: ApplyToMain): void {
    switch (frame.kind) {
      case 'done': {
        const callback = this.pending.get(frame.id);
        if (!callback) return;
        this.pending.delete(frame.id);
        const response = RaftCmdResponse.decode(frame.response);
        // As the main thread does (PollerRouter): the read transaction opens now, checked.
        callback(frame.snapshot ? openReadSnapshot(this.options.engines.kv, response) : { response });
        return;
      }
      case 'ready':
        return;
    }
  }
}
