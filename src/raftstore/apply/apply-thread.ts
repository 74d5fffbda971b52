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
import { Applier } from './applier.js';
import type { ApplyRead } from '../operation/read.js';
import type { ApplyReply } from '../operation/write.js';
import { decodeFrames, FrameBatcher, REPLY_MAIN, type FromApply, type ToApply } from '../batch/frames.js';
import type { CommandCallback, CommandResult } from '../router/command-callback.js';
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
const toMain = new FrameBatcher<FromApply>((buffer) => main.postMessage(buffer, [buffer]));
const toPollers = data.pollerPorts.map((port) => new FrameBatcher<FromApply>((buffer) => port.postMessage(buffer, [buffer])));
/** Set once the engine is closing on the main thread's stop. */
let stopped = false;
/** The poller that hands each region over: its apply states go back there. */
const pollerOfRegion = new Map<number, FrameBatcher<FromApply>>();

const applier = new Applier(
  kv,
  logger,
  (result) => {
    pollerOfRegion.get(result.regionId)?.push({ t: 'applied', g: result.regionId, s: RaftApplyState.encode(result.applyState).finish() });
  },
  // A kv write that failed or a broken invariant ends this thread; the main thread fail-stops.
  (reason, err) => failThisThread(logger, reason, err),
);

function answer(id: number, to: number, poller: FrameBatcher<FromApply>): CommandCallback {
  return (result: CommandResult) => {
    // A Snap's reader opens its own read transaction on the shared environment; this one closes.
    result.snapshot?.close();
    const frame: FromApply = { t: 'done', id, r: RaftCmdResponse.encode(result.response).finish(), snap: result.snapshot !== undefined };
    (to === REPLY_MAIN ? toMain : poller).push(frame);
  };
}

function onPollerFrame(frame: ToApply, poller: FrameBatcher<FromApply>): void {
  switch (frame.t) {
    case 'apply': {
      pollerOfRegion.set(frame.g, poller);
      const replies: ApplyReply[] = [];
      for (let i = 0; i < frame.rp.length; i += 3) {
        replies.push({ index: frame.rp[i]!, callback: answer(frame.rp[i + 1]!, frame.rp[i + 2]!, poller) });
      }
      const reads: ApplyRead[] = frame.rd.map((read) => ({
        index: read.i,
        request: RaftCmdRequest.decode(read.r),
        callback: answer(read.id, read.to, poller),
      }));
      applier.apply({ regionId: frame.g, entries: frame.e.map((bytes) => Entry.decode(bytes)), replies, reads });
      return;
    }
    case 'restore':
      pollerOfRegion.set(frame.g, poller);
      applier.restore(frame.g, Snapshot.decode(frame.s)).then(
        () => poller.push({ t: 'restored', id: frame.id }),
        (err: unknown) => {
          logger.error({ err, regionId: frame.g }, 'snapshot restore failed');
          poller.push({ t: 'restored', id: frame.id, error: err instanceof Error ? err.message : String(err) });
        },
      );
      return;
    case 'stop':
      return;
  }
}

data.pollerPorts.forEach((port, index) => {
  const poller = toPollers[index]!;
  port.on('message', (buffer: ArrayBuffer) => {
    // Frames a stopped poller posted can arrive after the main thread's stop (ports do not order
    // against each other): the engine is closed, and the raft log replays them on restart.
    if (stopped) return;
    for (const frame of decodeFrames<ToApply>(buffer)) {
      try {
        onPollerFrame(frame, poller);
      } catch (err) {
        // Frames come from the pollers, never straight from the network: internal failure.
        failThisThread(logger, `apply frame ${frame.t} failed`, err);
      }
    }
  });
});

main.on('message', (buffer: ArrayBuffer) => {
  for (const frame of decodeFrames<ToApply>(buffer)) {
    if (frame.t !== 'stop') continue;
    // Pollers stop first: finish what was handed over, then close.
    void applier
      .settle()
      .then(() => {
        stopped = true;
        return kv.close();
      })
      .then(
        () => {
          toMain.push({ t: 'ack', id: frame.id });
          toMain.flush();
        },
        (err: unknown) => failThisThread(logger, 'apply thread stop failed', err),
      );
  }
});
// The main thread's start waits for this: an engine that did not open above fails the start.
toMain.push({ t: 'ready' });
toMain.flush();
