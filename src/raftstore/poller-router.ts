/**
 * The batch system's main-thread side: region peers live on raft poller threads
 * (workers/raft-poller.ts), each hosting the regions whose id % pollers equals its index. This
 * router forwards Raft messages, commands and ticks to them as batched frames, and relays what
 * they send (Raft messages for the transport, command results, region reports).
 *
 * Reads: a poller answers a Snap once ReadIndex confirmed it and its applied index reached the
 * read index; the main thread then opens its own read transaction on the shared kv environment,
 * which already contains everything the poller applied.
 */
import { Worker } from 'node:worker_threads';
import type { Logger } from 'pino';
import type { Engine } from '../engine/engine.js';
import { Region, type Peer } from '../proto/metapb.js';
import { RaftCmdRequest, RaftCmdResponse } from '../proto/raft_cmdpb.js';
import { RaftMessage } from '../proto/raft_serverpb.js';
import { assert } from '../util/assert.js';
import { workerFileUrl } from '../util/worker-path.js';
import type { RaftstoreConfig } from './config.js';
import { errorResponse } from './command.js';
import { regionNotFound } from './errors.js';
import { decodeFrames, FrameBatcher, type FromPoller, type ToPoller } from './frames.js';
import type { CommandCallback } from './peer.js';
import { keyInRegion } from './region.js';
import type { LeaderRegion, RaftRouter } from './router.js';
import type { Transport } from './store.js';

/** Commands waiting for an answer from a poller; more are refused. */
const MAX_PENDING_COMMANDS = 100_000;

interface RegionView {
  region: Region;
  peerId: number;
  leader: boolean;
}

interface Poller {
  readonly worker: Worker;
  readonly out: FrameBatcher<ToPoller>;
  regions: RegionView[];
}

export interface PollerRouterOptions {
  readonly storeId: number;
  readonly dataDir: string;
  readonly sync: boolean;
  readonly pollers: number;
  readonly config: RaftstoreConfig;
  readonly kv: Engine;
  readonly transport: Transport;
  readonly logger: Logger;
  readonly logLevel: string;
  /** Runs a raft-log GC task (on the raft-log GC thread). */
  readonly collectRaftLog: (regionId: number, fromIndex: number, toIndex: number) => Promise<void>;
}

export class PollerRouter implements RaftRouter {
  readonly storeId: number;
  private readonly pollers: Poller[] = [];
  private readonly pending = new Map<number, CommandCallback>();
  private readonly acks = new Map<number, () => void>();
  private nextId = 1;
  private stopped = false;

  private constructor(private readonly options: PollerRouterOptions) {
    this.storeId = options.storeId;
  }

  static async start(options: PollerRouterOptions): Promise<PollerRouter> {
    assert(options.pollers >= 1, 'at least one raft poller');
    const router = new PollerRouter(options);
    const ready: Array<Promise<void>> = [];
    for (let index = 0; index < options.pollers; index++) {
      const worker = new Worker(new URL(workerFileUrl('raft-poller')), {
        workerData: {
          storeId: options.storeId,
          dataDir: options.dataDir,
          sync: options.sync,
          config: options.config,
          logLevel: options.logLevel,
          pollerIndex: index,
          pollerCount: options.pollers,
        },
      });
      const poller: Poller = { worker, out: new FrameBatcher((buffer) => worker.postMessage(buffer, [buffer])), regions: [] };
      ready.push(
        new Promise((resolve, reject) => {
          worker.once('online', () => resolve());
          worker.once('error', reject);
        }),
      );
      worker.on('message', (buffer: ArrayBuffer) => router.onFrames(poller, buffer));
      worker.on('error', (err) => options.logger.error({ err, poller: index }, 'raft poller failed'));
      router.pollers.push(poller);
    }
    await Promise.all(ready);
    return router;
  }

  propose(request: RaftCmdRequest, callback: CommandCallback): void {
    const regionId = request.header?.regionId ?? 0;
    if (this.stopped || this.pending.size >= MAX_PENDING_COMMANDS) {
      callback({ response: errorResponse(regionNotFound(regionId).regionError) });
      return;
    }
    const id = this.nextId++;
    this.pending.set(id, callback);
    this.pollerOf(regionId).out.push({ t: 'cmd', id, r: RaftCmdRequest.encode(request).finish() });
  }

  onRaftMessage(message: RaftMessage): void {
    if (this.stopped) return;
    this.pollerOf(message.regionId).out.push({ t: 'msg', m: RaftMessage.encode(message).finish() });
  }

  tick(): void {
    if (this.stopped) return;
    for (const poller of this.pollers) poller.out.push({ t: 'tick' });
  }

  createRegion(region: Region): Promise<void> {
    const id = this.nextId++;
    return new Promise((resolve) => {
      this.acks.set(id, resolve);
      this.pollerOf(region.id).out.push({ t: 'create', id, region: Region.encode(region).finish() });
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
    for (const poller of this.pollers) {
      for (const view of poller.regions) {
        const leader = view.region.peers.find((peer: Peer) => peer.id === view.peerId);
        if (view.leader && leader) out.push({ region: view.region, leader });
      }
    }
    return out;
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    await Promise.all(
      this.pollers.map(async (poller) => {
        const id = this.nextId++;
        await new Promise<void>((resolve) => {
          this.acks.set(id, resolve);
          poller.out.push({ t: 'stop', id });
        });
        await poller.worker.terminate();
      }),
    );
    for (const [id, callback] of this.pending) {
      this.pending.delete(id);
      callback({ response: errorResponse(regionNotFound(0).regionError) });
    }
  }

  private pollerOf(regionId: number): Poller {
    return this.pollers[regionId % this.pollers.length]!;
  }

  private onFrames(poller: Poller, buffer: ArrayBuffer): void {
    for (const frame of decodeFrames<FromPoller>(buffer)) {
      switch (frame.t) {
        case 'send':
          this.options.transport.send(RaftMessage.decode(frame.m));
          break;
        case 'done': {
          const callback = this.pending.get(frame.id);
          if (!callback) break;
          this.pending.delete(frame.id);
          const response = RaftCmdResponse.decode(frame.r);
          callback({ response, snapshot: frame.snap ? this.options.kv.snapshot() : undefined });
          break;
        }
        case 'regions':
          poller.regions = frame.regions.map((r) => ({ region: Region.decode(r.region), peerId: r.peerId, leader: r.leader }));
          break;
        case 'ack':
          this.acks.get(frame.id)?.();
          this.acks.delete(frame.id);
          break;
        case 'gc':
          this.options.collectRaftLog(frame.regionId, frame.from, frame.to).catch((err: unknown) =>
            this.options.logger.warn({ err, regionId: frame.regionId }, 'raft-log GC failed'),
          );
          break;
        case 'error':
          this.options.logger.error({ message: frame.message }, 'raft poller reported an error');
          break;
      }
    }
  }
}
