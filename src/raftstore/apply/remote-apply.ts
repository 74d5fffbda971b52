/**
 * A raft poller's side of the apply threads (workers/apply.ts): hands tasks over as frames on a
 * MessagePort per apply thread (shardOfRegion picks one, so a region's tasks stay in order)
 * and turns what comes back into apply results, answers and restore completions.
 *
 * A proposal that came from the main thread carries its reply address (replyTo 'main'): the apply
 * thread answers it straight to the main thread (one hop). Callbacks of this thread (e.g. the
 * leader's own CompactLog) get an address here and come back as frames.
 */
import { Entry, Snapshot } from '../../proto/eraftpb.js';
import { Region } from '../../proto/metapb.js';
import { RaftCmdRequest, RaftCmdResponse } from '../../proto/raft_cmdpb.js';
import { RaftApplyState } from '../../proto/raft_serverpb.js';
import { assert, defined } from '../../util/assert.js';
import type { ApplyResult, ApplyRouter, ApplyTask } from './applier.js';
import type { ApplyRead } from '../operation/read.js';
import type { ApplyReply } from '../operation/write.js';
import { decode, FrameBatcher, frames, receiveFrames, ReplyList, type ApplyToPoller, type FramePort, type PollerToApply } from '../batch/protocol.js';
import type { FatalHandler } from '../../util/fail-stop.js';
import type { CommandCallback, ReplyAddress } from '../router/command-callback.js';
import { shardOfRegion } from '../batch/region-shard.js';

/** Callbacks of this thread waiting for an apply thread; more are a bug (bounded by pending proposals). */
const MAX_LOCAL_REPLIES = 1_000_000;

export class RemoteApplyRouter implements ApplyRouter {
  private readonly outs: Array<FrameBatcher<PollerToApply>>;
  private readonly local = new Map<number, CommandCallback>();
  private readonly restores = new Map<number, (error?: string) => void>();
  private nextId = 1;

  /** `onFatal`: a frame from an apply thread that does not decode, or whose handling fails. */
  constructor(
    ports: readonly FramePort[],
    private readonly onResult: (result: ApplyResult) => void,
    onFatal: FatalHandler,
  ) {
    assert(ports.length >= 1, 'at least one apply thread');
    const fail = (reason: string, err: unknown): void => onFatal(`raft poller: apply thread ${reason}`, err);
    this.outs = ports.map((port) => {
      port.on('message', (buffer) => receiveFrames(buffer, decode.applyToPoller, (frame) => this.onFrame(frame), fail));
      return new FrameBatcher<PollerToApply>(port);
    });
  }

  apply(task: ApplyTask): void {
    const replies = new ReplyList();
    for (const reply of task.replies) replies.add(reply.index, this.addressOf(reply));
    const reads = task.reads.map((read) => frames.read(read.index, this.addressOf(read), RaftCmdRequest.encode(read.request).finish()));
    const entries = task.entries.map((entry) => Entry.encode(entry).finish());
    this.outOf(task.regionId).push(frames.apply(task.regionId, entries, replies, reads));
  }

  restore(regionId: number, snapshot: Snapshot): Promise<void> {
    const id = this.nextId++;
    const out = this.outOf(regionId);
    return new Promise((resolve, reject) => {
      this.restores.set(id, (error) => (error === undefined ? resolve() : reject(new Error(`snapshot restore failed: ${error}`))));
      out.push(frames.restore(id, regionId, Snapshot.encode(snapshot).finish()));
      out.flush();
    });
  }

  destroy(region: Region): Promise<void> {
    const id = this.nextId++;
    const out = this.outOf(region.id);
    return new Promise((resolve, reject) => {
      this.restores.set(id, (error) => (error === undefined ? resolve() : reject(new Error(`peer destroy failed: ${error}`))));
      out.push(frames.destroy(id, region.id, Region.encode(region).finish()));
      out.flush();
    });
  }

  /** Answers and snapshot restores awaited from the apply threads. */
  get pending(): number {
    return this.local.size + this.restores.size;
  }

  /** Answers and results arrive as frames; a poller settles through its store's shutdown instead. */
  async settle(): Promise<void> {}

  private outOf(regionId: number): FrameBatcher<PollerToApply> {
    return defined(this.outs[shardOfRegion(regionId, this.outs.length)], 'apply thread of a region');
  }

  /** A reply's own address (a main-thread command), else one on this poller for its callback. */
  private addressOf({ replyTo, callback }: ApplyReply | ApplyRead): ReplyAddress {
    if (replyTo) return replyTo;
    assert(this.local.size < MAX_LOCAL_REPLIES, 'too many callbacks waiting for an apply thread');
    const id = this.nextId++;
    this.local.set(id, callback);
    return { replyTo: 'poller', id };
  }

  private onFrame(frame: ApplyToPoller): void {
    switch (frame.kind) {
      case 'applied':
        this.onResult({
          regionId: frame.regionId,
          applyState: RaftApplyState.decode(frame.applyState),
          confChanges: frame.confChanges.map((change) => ({
            changeType: change.changeType,
            peer: { id: change.peerId, storeId: change.storeId },
            region: Region.decode(change.region),
          })),
          region: frame.region && Region.decode(frame.region),
          created: frame.created,
        });
        return;
      case 'done': {
        const callback = this.local.get(frame.id);
        if (!callback) return;
        this.local.delete(frame.id);
        callback({ response: RaftCmdResponse.decode(frame.response) });
        return;
      }
      case 'restored':
      case 'destroyed':
        this.restores.get(frame.id)?.(frame.error);
        this.restores.delete(frame.id);
        return;
    }
  }
}
