/**
 * An apply thread: runs the Applier (src/raftstore/apply/applier.ts) on the store's kv environment for the
 * regions whose id % applyCount equals its index. Raft pollers hand it committed entries over
 * MessagePorts; it answers main-thread proposals straight to the main thread and reports apply
 * states (and this-thread answers) back to the poller that handed the region over.
 */
import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import type { LogLevel } from '../../config/config.js';
import { createLogger } from '../../log/logger.js';
import { LmdbEngine } from '../../engine/lmdb-engine.js';
import { Entry, Snapshot } from '../../proto/eraftpb.js';
import { RaftCmdRequest, RaftCmdResponse } from '../../proto/raft_cmdpb.js';
import { RaftApplyState } from '../../proto/raft_serverpb.js';
import { Applier, type ApplyReply, type ApplyRead, type ReplyTarget } from './applier.js';
import { decode, FrameBatcher, forEachReply, frames, receiveFrames, type ApplyToMain, type ApplyToPoller, type MainToApply, type PollerToApply } from '../batch/protocol.js';
import type { CommandCallback, CommandResult } from '../peer/peer.js';
import type { StoreEngineOptions } from '../batch/store-engines.js';
import { failThisThread } from '../../util/fail-stop.js';

export interface ApplyWorkerData {
  readonly engines: StoreEngineOptions;
  readonly logLevel: LogLevel;
  /** One port per raft poller, indexed like the pollers. */
  readonly pollerPorts: MessagePort[];
}

const data = workerData as ApplyWorkerData;
const main = parentPort!;
const logger = createLogger(data.logLevel, 'tinykv-apply');
const kv = new LmdbEngine(data.engines.kv);
const toMain = new FrameBatcher<ApplyToMain>((buffer) => main.postMessage(buffer, [buffer]));
const toPollers = data.pollerPorts.map((port) => new FrameBatcher<ApplyToPoller>((buffer) => port.postMessage(buffer, [buffer])));
/** Set once the engine is closing on the main thread's stop. */
let stopped = false;
/** The poller that hands each region over: its apply states go back there. */
const pollerOfRegion = new Map<number, FrameBatcher<ApplyToPoller>>();

const applier = new Applier(
  kv,
  logger,
  (result) => {
    pollerOfRegion.get(result.regionId)?.push(frames.applied(result.regionId, RaftApplyState.encode(result.applyState).finish()));
  },
  // A kv write that failed or a broken invariant ends this thread; the main thread fail-stops.
  (reason, err) => failThisThread(logger, reason, err),
);

const fail = (reason: string, err: unknown): void => failThisThread(logger, `apply ${reason}`, err);

function answer(replyTo: ReplyTarget, id: number, poller: FrameBatcher<ApplyToPoller>): CommandCallback {
  return (result: CommandResult) => {
    // A Snap's reader opens its own read transaction on the shared environment; this one closes.
    result.snapshot?.close();
    const frame = frames.done(id, RaftCmdResponse.encode(result.response).finish(), result.snapshot !== undefined);
    if (replyTo === 'main') toMain.push(frame);
    else poller.push(frame);
  };
}

function onPollerFrame(frame: PollerToApply, poller: FrameBatcher<ApplyToPoller>): void {
  switch (frame.kind) {
    case 'apply': {
      pollerOfRegion.set(frame.regionId, poller);
      const replies: ApplyReply[] = [];
      forEachReply(frame, (index, replyTo, id) => replies.push({ index, callback: answer(replyTo, id, poller) }));
      const reads: ApplyRead[] = frame.reads.map((read) => ({
        index: read.index,
        request: RaftCmdRequest.decode(read.request),
        callback: answer(read.replyTo, read.id, poller),
      }));
      applier.apply({ regionId: frame.regionId, entries: frame.entries.map((bytes) => Entry.decode(bytes)), replies, reads });
      return;
    }
    case 'restore':
      pollerOfRegion.set(frame.regionId, poller);
      applier.restore(frame.regionId, Snapshot.decode(frame.snapshot)).then(
        () => poller.push(frames.restored(frame.id)),
        (err: unknown) => {
          logger.error({ err, regionId: frame.regionId }, 'snapshot restore failed');
          poller.push(frames.restored(frame.id, err instanceof Error ? err.message : String(err)));
        },
      );
      return;
  }
}

data.pollerPorts.forEach((port, index) => {
  const poller = toPollers[index]!;
  port.on('message', (buffer: ArrayBuffer) => {
    // Frames a stopped poller posted can arrive after the main thread's stop (ports do not order
    // against each other): the engine is closed, and the raft log replays them on restart.
    if (stopped) return;
    // Frames come from the pollers, never straight from the network: a failure is internal.
    receiveFrames(buffer, decode.pollerToApply, (frame) => onPollerFrame(frame, poller), fail);
  });
});

function onMainFrame(frame: MainToApply): void {
  // Pollers stop first: finish what was handed over, then close.
  void applier
    .settle()
    .then(() => {
      stopped = true;
      return kv.close();
    })
    .then(
      () => {
        toMain.push(frames.ack(frame.id));
        toMain.flush();
      },
      (err: unknown) => failThisThread(logger, 'apply thread stop failed', err),
    );
}

main.on('message', (buffer: ArrayBuffer) => receiveFrames(buffer, decode.mainToApply, onMainFrame, fail));
// The main thread's start waits for this: an engine that did not open above fails the start.
toMain.push(frames.ready());
toMain.flush();
