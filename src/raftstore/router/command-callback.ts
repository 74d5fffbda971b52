/** How a command is answered: the one callback shape from the server down to the apply system. */
import type { EngineSnapshot } from '../../engine/engine.js';
import type { RaftCmdResponse } from '../../proto/raft_cmdpb.js';

export interface CommandResult {
  /** A region error, if any, rides in the response header. */
  readonly response: RaftCmdResponse;
  /** For Snap: a kv snapshot at the read point, owned by the receiver (close it). */
  readonly snapshot?: EngineSnapshot;
}

export type CommandCallback = (result: CommandResult) => void;

/** Where a command's answer goes when it crosses threads: the main thread, or the raft poller that handed it over. */
export type ReplyTarget = 'main' | 'poller';

/**
 * The explicit reply address of a command that came from another thread (batch/protocol.ts): an
 * apply thread answers it with a `done` frame with `id` to `replyTo`, without a hop through the
 * poller. Commands of the applying thread itself have none and are answered through their callback.
 */
export interface ReplyAddress {
  readonly replyTo: ReplyTarget;
  readonly id: number;
}
