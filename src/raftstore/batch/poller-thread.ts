/**
 * A raft poller thread: hosts the peers of the regions routed to it (a Store in poll rounds with
 * group commit) on the store's LMDB environments, fed by frames from the main thread. Outgoing
 * Raft messages and refused commands go back as frames (the main thread owns the network);
 * committed entries go to the apply threads, which answer the main thread themselves.
 */
import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import type { LogLevel } from '../../config/config.js';
import { createLogger } from '../../log/logger.js';
import { MessageType } from '../../proto/eraftpb.js';
import { Region } from '../../proto/metapb.js';
import { RaftCmdRequest, RaftCmdResponse } from '../../proto/raft_cmdpb.js';
import { RaftMessage } from '../../proto/raft_serverpb.js';
import type { RaftstoreConfig } from '../config.js';
import { decode, FrameBatcher, frames, receiveFrames, type FromPoller, type ToPoller } from './protocol.js';
import { Piscina } from 'piscina';
import { PooledSnapshotSource } from '../snapshot/snapshot-source.js';
import { workerFileUrl } from '../../util/worker-path.js';
import { failThisThread } from '../../util/fail-stop.js';
import { RemoteApplyRouter } from '../apply/remote-apply.js';
import { Store } from './store.js';
import type { CommandResult } from '../peer/peer.js';
import { openStoreEngines, type StoreEngineOptions } from './store-engines.js';

export interface PollerWorkerData {
  readonly storeId: number;
  readonly engines: StoreEngineOptions;
  readonly config: RaftstoreConfig;
  readonly logLevel: LogLevel;
  /** This poller hosts the regions whose id % pollerCount == pollerIndex. */
  readonly pollerIndex: number;
  readonly pollerCount: number;
  /** One port per apply thread (workers/apply.ts). */
  readonly applyPorts: MessagePort[];
}

const data = workerData as PollerWorkerData;
const port = parentPort!;
const logger = createLogger(data.logLevel, 'tinykv-poller');
const engines = openStoreEngines(data.engines);
const out = new FrameBatcher<FromPoller>((buffer) => port.postMessage(buffer, [buffer]));
// Region snapshots are built on a thread of their own, so this poller keeps polling meanwhile.
const snapshotPool = new Piscina({ filename: workerFileUrl('region-snapshot'), minThreads: 0, maxThreads: 1, maxQueue: 64 });
const store = new Store({
  storeId: data.storeId,
  engines,
  config: data.config,
  snapshots: new PooledSnapshotSource(
    data.engines.kv,
    async (task) => new Uint8Array((await snapshotPool.run(task)) as ArrayBuffer),
    (regionId, err) => logger.warn({ regionId, err }, 'snapshot build failed'),
  ),
  transport: {
    send: (message) =>
      out.push(
        frames.send(RaftMessage.encode(message).finish(), message.toPeer?.storeId ?? 0, message.message?.msgType === MessageType.MsgSnapshot),
      ),
    flush: () => out.flush(),
  },
  random: Math.random,
  logger,
  applier: (onResult) => new RemoteApplyRouter(data.applyPorts, onResult),
  // The main thread hands compacted log ranges to the raft-log GC thread.
  collectRaftLog: async (regionId, fromIndex, toIndex) => out.push(frames.gc(regionId, fromIndex, toIndex)),
  // A failed raft-log write or a broken invariant ends this thread; the main thread fail-stops.
  onFatal: (reason, err) => failThisThread(logger, reason, err),
});
let lastReport = '';

function reportRegions(): void {
  const regions = store.regions().map((region) => ({
    region: Region.encode(region).finish(),
    peerId: store.peer(region.id)!.meta.id,
    leader: store.peer(region.id)!.isLeader(),
  }));
  const digest = regions.map((r) => `${Buffer.from(r.region).toString('base64')}:${r.leader}`).join('|');
  if (digest === lastReport) return;
  lastReport = digest;
  out.push(frames.regions(regions));
}

async function handle(frame: ToPoller): Promise<void> {
  switch (frame.kind) {
    case 'tick':
      store.tick();
      reportRegions();
      return;
    case 'raftMessage':
      store.onRaftMessageBytes(frame.message);
      return;
    case 'command': {
      const request = RaftCmdRequest.decode(frame.request);
      // Answered here when refused, else by the apply thread straight to the frame's reply address.
      const callback = (result: CommandResult) => {
        result.snapshot?.close();
        out.push(frames.done(frame.id, RaftCmdResponse.encode(result.response).finish(), result.snapshot !== undefined));
      };
      store.propose(request, callback, frame.request, frame);
      return;
    }
    case 'createRegion':
      await store.createRegion(Region.decode(frame.region));
      reportRegions();
      out.push(frames.ack(frame.id));
      return;
    case 'stop':
      await store.stop();
      await snapshotPool.destroy();
      await Promise.all([engines.raft.close(), engines.kv.close()]);
      out.push(frames.ack(frame.id));
      out.flush();
      return;
  }
}

store.loadPeers((regionId) => regionId % data.pollerCount === data.pollerIndex);
reportRegions();
// Frames come from the main thread, which validated what came off the network: a frame that
// fails here is an internal failure (a raft-engine write, a broken invariant).
const fail = (reason: string, err: unknown): void => failThisThread(logger, `raft poller ${reason}`, err);
port.on('message', (buffer: ArrayBuffer) =>
  receiveFrames(buffer, decode.mainToPoller, (frame) => void handle(frame).catch((err: unknown) => fail(`frame ${frame.kind} failed`, err)), fail),
);
// Everything above can throw (engines that do not open, damaged region records, a broken
// invariant): the main thread's start waits for this frame, not for the thread to be online,
// so such a failure fails the start instead of leaving a node with a dead poller.
out.push(frames.ready());
out.flush();
