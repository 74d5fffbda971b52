/**
 * A raft poller: hosts the peers of the regions routed to it (a Store in poll rounds with group
 * commit), fed by frames from the main thread. Outgoing Raft messages and refused commands go back
 * as frames (the main thread owns the network); committed entries go to the apply threads, which
 * answer the main thread themselves.
 *
 * `PollerThread` takes its channels as FramePorts: on a worker thread (`runPollerThread`, entry
 * point workers/raft-poller.ts) they are MessagePorts; the single-thread simulation
 * (test/raftstore/cluster.ts) builds it on in-process channels, so it runs this same frame code.
 */
import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import type { Logger } from 'pino';
import { Piscina } from 'piscina';
import type { LogFormat, LogLevel } from '../../config/config.js';
import { createLogger } from '../../log/logger.js';
import { MessageType } from '../../proto/eraftpb.js';
import { Region } from '../../proto/metapb.js';
import { RaftCmdRequest, RaftCmdResponse } from '../../proto/raft_cmdpb.js';
import { RaftMessage } from '../../proto/raft_serverpb.js';
import type { RandomSource } from '../../raft/index.js';
import { failThisThread, type FatalHandler } from '../../util/fail-stop.js';
import { workerFileUrl } from '../../util/worker-path.js';
import { LMDB_WORKER_POOL_OPTIONS } from '../../engine/worker-pool-options.js';
import { RemoteApplyRouter } from '../apply/remote-apply.js';
import type { RaftstoreConfig } from '../config.js';
import type { PeerEngines } from '../peer/peer-storage.js';
import type { CommandResult } from '../router/command-callback.js';
import { PooledSnapshotSource, type SnapshotSource } from '../snapshot/snapshot-source.js';
import { decode, FrameBatcher, frames, receiveFrames, type FramePort, type FromPoller, type RegionReport, type ToPoller } from './protocol.js';
import { exposeControl, prefixed, setLoggerLevel, type RegionStatus, type ThreadControl } from './control.js';
import { openStoreEngines, type StoreEngineOptions } from './store-engines.js';
import { Store } from './store.js';
import { defined } from '../../util/assert.js';
import { RaftstoreMetrics } from '../../metrics/thread-recorder.js';
import { shardOfRegion } from './region-shard.js';
import { LeaseSlots, LeaseTable } from './lease-table.js';
import type { MonotonicClock } from '../../env/clock.js';

export interface PollerWorkerData {
  readonly storeId: number;
  readonly engines: StoreEngineOptions;
  readonly config: RaftstoreConfig;
  readonly logLevel: LogLevel;
  readonly logFormat?: LogFormat;
  /** False turns this thread's metrics off (server.metrics). */
  readonly metricsEnabled: boolean;
  /** This poller hosts the regions whose shardOfRegion(id, pollerCount) is pollerIndex. */
  readonly pollerIndex: number;
  readonly pollerCount: number;
  /** One port per apply thread (workers/apply.ts). */
  readonly applyPorts: MessagePort[];
  /** Where the main thread calls the control plane (control.ts). */
  readonly controlPort: MessagePort;
  /** This poller's lease table (lease-table.ts), which the main thread reads. */
  readonly leaseBuffer: SharedArrayBuffer;
}

export interface PollerThreadOptions {
  readonly storeId: number;
  readonly engines: PeerEngines;
  readonly config: RaftstoreConfig;
  readonly logger: Logger;
  readonly random: RandomSource;
  /** Defaults to building snapshots inline. */
  readonly snapshots?: SnapshotSource;
  /** The channel to the main thread. */
  readonly main: FramePort;
  /** One channel per apply thread; shardOfRegion picks one. */
  readonly applyPorts: readonly FramePort[];
  /** The regions on disk this poller hosts. */
  readonly hosts: (regionId: number) => boolean;
  /** An internal failure: a failed raft-log write, a broken invariant, a frame that fails. */
  readonly onFatal: FatalHandler;
  /** On stop, after the store has stopped: closes what the poller owns (engines, snapshot pool). */
  readonly close?: () => Promise<void>;
  /** Where the poller counts (src/metrics/thread-recorder.ts); default a recorder of its own. */
  readonly metrics?: RaftstoreMetrics;
  /** Where its leaders publish their leases for the main thread's reads; none publishes nothing. */
  readonly leaseTable?: LeaseTable;
  /** What leader leases are measured on; default the process's monotonic clock. */
  readonly monotonicClock?: MonotonicClock;
}

export class PollerThread {
  readonly store: Store;
  private readonly out: FrameBatcher<FromPoller>;
  private applyRouter: RemoteApplyRouter | undefined;
  private lastReport = '';
  readonly metrics: RaftstoreMetrics;
  private readonly leaseSlots: LeaseSlots | undefined;
  /** The control plane's calls (control.ts), on a control port or, in the simulation, directly. */
  readonly control: ThreadControl = {
    status: () => ({ kind: 'raft poller', regions: this.regionStatus(), pending: this.applyRouter?.pending ?? 0 }),
    metrics: () => prefixed('droppedMessages.', this.store.droppedMessages.toJSON()),
    metricsSnapshot: () => this.metrics.takeSnapshot(),
    setLogLevel: (level) => setLoggerLevel(this.options.logger, level),
    stop: () => this.stop(),
  };

  constructor(private readonly options: PollerThreadOptions) {
    const out = new FrameBatcher<FromPoller>(options.main);
    this.out = out;
    const metrics = (this.metrics = options.metrics ?? new RaftstoreMetrics());
    const leaseSlots = (this.leaseSlots = options.leaseTable && new LeaseSlots(options.leaseTable));
    this.store = new Store({
      leases: leaseSlots,
      monotonicClock: options.monotonicClock,
      storeId: options.storeId,
      engines: options.engines,
      config: options.config,
      snapshots: options.snapshots,
      transport: {
        send: (message) =>
          out.push(
            frames.send(RaftMessage.encode(message).finish(), message.toPeer?.storeId ?? 0, message.message?.msgType === MessageType.MsgSnapshot),
          ),
        flush: () => out.flush(),
      },
      random: options.random,
      logger: options.logger,
      metrics,
      applier: (onResult) => (this.applyRouter = new RemoteApplyRouter(options.applyPorts, onResult, options.onFatal)),
      // The main thread hands compacted log ranges to the raft-log GC thread.
      collectRaftLog: async (regionId, fromIndex, toIndex) => out.push(frames.gc(regionId, fromIndex, toIndex)),
      onFatal: options.onFatal,
      // A region a split created that another poller hosts starts there, through the main thread.
      routeCreated: (regionId) => (options.hosts(regionId) ? undefined : (campaign) => out.push(frames.splitCreated(regionId, campaign))),
    });
    // Frames come from the main thread, which validated what came off the network: a frame that
    // fails here is an internal failure (a raft-engine write, a broken invariant).
    const fail = (reason: string, err: unknown): void => options.onFatal(`raft poller ${reason}`, err);
    options.main.on('message', (buffer) =>
      receiveFrames(
        buffer,
        decode.mainToPoller,
        (frame) => {
          metrics.received(1);
          void this.handle(frame).catch((err: unknown) => fail(`frame ${frame.kind} failed`, err));
        },
        fail,
      ),
    );
  }

  /**
   * Loads the peers and says 'ready'. Everything here can throw (damaged region records, a broken
   * invariant): the main thread's start waits for the frame, not for the thread to be online.
   */
  start(): void {
    this.store.loadPeers(this.options.hosts);
    this.reportRegions();
    this.out.push(frames.ready());
    this.out.flush();
  }

  private regionStatus(): RegionStatus[] {
    return this.store.regions().map((region) => {
      const peer = defined(this.store.peer(region.id), 'peer of a hosted region');
      return { regionId: region.id, peerId: peer.meta.id, leader: peer.isLeader() };
    });
  }

  /** Stops the store (its peers fail what they hold) and closes what the poller owns. */
  private async stop(): Promise<void> {
    try {
      await this.store.stop();
      await this.options.close?.();
    } catch (err) {
      // As any failure of this thread: it ends, and the main thread sees it end.
      this.options.onFatal('raft poller stop failed', err);
      throw err;
    }
  }

  private reportRegions(): void {
    const regions = this.store.regions().map((region): RegionReport => {
      const peer = defined(this.store.peer(region.id), 'peer of a hosted region');
      const pendingPeerIds = peer.pendingPeers().map((p) => p.id);
      const downPeerIds = peer.downPeers().map((p) => p.peerId);
      const lease = this.leaseSlots?.slotOf(region.id);
      return {
        region: Region.encode(region).finish(),
        peerId: peer.meta.id,
        leader: peer.isLeader(),
        pendingPeerIds,
        downPeerIds,
        term: peer.term(),
        leaseSlot: lease?.slot ?? -1,
        leaseGeneration: lease?.generation ?? 0,
      };
    });
    // Both id lists are sorted, so an unchanged set gives an unchanged digest.
    const digest = regions
      .map(
        (r) =>
          `${Buffer.from(r.region).toString('base64')}:${r.leader}:${r.pendingPeerIds.join()}:${r.downPeerIds.join()}:${r.term}:${r.leaseSlot}:${r.leaseGeneration}`,
      )
      .join('|');
    if (digest === this.lastReport) return;
    this.lastReport = digest;
    this.out.push(frames.regions(regions));
  }

  private async handle(frame: ToPoller): Promise<void> {
    switch (frame.kind) {
      case 'tick':
        this.store.tick();
        this.reportRegions();
        return;
      case 'raftMessage':
        this.store.onRaftMessageBytes(frame.message);
        return;
      case 'command': {
        const request = RaftCmdRequest.decode(frame.request);
        // Answered here when refused, else by the apply thread straight to the frame's reply address.
        const callback = (result: CommandResult) => {
          result.snapshot?.close();
          this.out.push(frames.done(frame.id, RaftCmdResponse.encode(result.response).finish(), result.snapshot !== undefined));
        };
        this.store.propose(request, callback, frame.request, frame);
        return;
      }
      case 'initSplitRegion':
        this.store.initializeSplitRegion(frame.regionId, frame.campaign);
        return;
      case 'createRegion':
        await this.store.createRegion(Region.decode(frame.region));
        this.reportRegions();
        this.out.push(frames.ack(frame.id));
        return;
    }
  }
}

/** The code of a raft poller thread (workers/raft-poller.ts): opens the engines and runs a PollerThread. */
export function runPollerThread(): void {
  const data = workerData as PollerWorkerData;
  const component = `poller-${data.pollerIndex}`;
  const logger = createLogger(data.logLevel, 'tinykv-poller', { format: data.logFormat, component }).child({ storeId: data.storeId });
  const engines = openStoreEngines(data.engines);
  // Region snapshots are built on a thread of their own, so this poller keeps polling meanwhile.
  const snapshotPool = new Piscina({
    filename: workerFileUrl('region-snapshot'),
    minThreads: 0,
    maxThreads: 1,
    maxQueue: 64,
    closeTimeout: 5_000,
    ...LMDB_WORKER_POOL_OPTIONS,
  });
  const poller = new PollerThread({
    storeId: data.storeId,
    engines,
    metrics: new RaftstoreMetrics({ enabled: data.metricsEnabled }),
    leaseTable: new LeaseTable(data.leaseBuffer),
    config: data.config,
    logger,
    random: Math.random,
    snapshots: new PooledSnapshotSource(
      data.engines.kv,
      async (task) => new Uint8Array((await snapshotPool.run(task)) as ArrayBuffer),
      (regionId, err) => logger.warn({ regionId, err }, 'snapshot build failed'),
    ),
    main: defined(parentPort, 'parentPort (this code runs as a worker thread)'),
    applyPorts: data.applyPorts,
    hosts: (regionId) => shardOfRegion(regionId, data.pollerCount) === data.pollerIndex,
    // A failed raft-log write or a broken invariant ends this thread; the main thread fail-stops.
    onFatal: (reason, err) => failThisThread(logger, reason, err),
    close: async () => {
      // close() lets a snapshot build in flight finish (bounded by closeTimeout) instead of
      // terminating its thread mid-scan, which lmdb-js can turn into an abort of the process.
      await snapshotPool.close();
      await Promise.all([engines.raft.close(), engines.kv.close()]);
    },
  });
  exposeControl(poller.control, data.controlPort);
  poller.start();
}
