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
