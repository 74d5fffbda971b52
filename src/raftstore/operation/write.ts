/**
 * Writes: a command that changes data (or an admin command) goes through the Raft log. The leader
 * appends it and keeps its callback until the entry commits; the apply system then applies it and
 * answers. A proposal whose index another leader's entry took will never apply: it is answered
 * StaleCommand when that entry commits.
 */
import type { WriteOp } from '../../engine/engine.js';
import type { Entry } from '../../proto/eraftpb.js';
import { CmdType, RaftCmdRequest, Response, type Request } from '../../proto/raft_cmdpb.js';
import { ErrProposalDropped, type RawNode } from '../../raft/index.js';
import { defined } from '../../util/assert.js';
import type { CommandCallback, ReplyAddress } from '../router/command-callback.js';
import { notLeader, staleCommand, type RegionError } from '../router/errors.js';
import { dataFamily, emptyResponseFor, errorResponse, type ProposingPeer } from './command.js';
import { HISTOGRAM_NAMES, type RaftstoreMetrics } from '../../metrics/thread-recorder.js';

/** A proposal answered by the entry at `index` (the peer matched index and term), for the apply system. */
export interface ApplyReply {
  readonly index: number;
  readonly callback: CommandCallback;
  /** Where the apply system answers, when not through `callback` (a command from another thread). */
  readonly replyTo?: ReplyAddress | undefined;
}

interface Proposal {
  readonly index: number;
  readonly term: number;
  readonly callback: CommandCallback;
  readonly replyTo: ReplyAddress | undefined;
  /** On the metrics' clock, when the peer has metrics (commit duration). */
  readonly proposedAtMs: number;
}

/** A peer's proposals waiting for their log entries to commit, in log order. */
export class WriteProposals {
  private readonly waiting: Proposal[] = [];

  constructor(
    private readonly peer: ProposingPeer & { lastIndex(): number },
    private readonly node: Pick<RawNode, 'propose'>,
    /** Where proposal-to-commit durations are observed, when given. */
    private readonly metrics?: RaftstoreMetrics,
  ) {}

  get length(): number {
    return this.waiting.length;
  }

  /**
   * Appends a checked command to the log. `encoded`, when given, is the request's encoding;
   * `replyTo`, where the apply system answers a command from another thread.
   */
  propose(request: RaftCmdRequest, callback: CommandCallback, encoded?: Uint8Array, replyTo?: ReplyAddress): void {
    this.track(() => this.node.propose(encoded ?? RaftCmdRequest.encode(request).finish()), callback, replyTo);
  }

  /**
   * Appends an entry through `append` (a proposal to Raft: a command, a conf change) and keeps the
   * callback until that entry commits.
   */
  track(append: () => void, callback: CommandCallback, replyTo?: ReplyAddress): void {
    try {
      append();
    } catch (err) {
      if (err instanceof ErrProposalDropped) throw notLeader(this.peer.regionId, this.peer.leaderPeer());
      throw err;
    }
    const proposedAtMs = this.metrics?.nowMs() ?? 0;
    this.waiting.push({ index: this.peer.lastIndex(), term: this.peer.term(), callback, replyTo, proposedAtMs });
  }

  /**
   * The proposals newly committed entries answer, for the apply system; a proposal whose index
   * holds another term's entry is answered StaleCommand here.
   */
  takeAnswered(entries: readonly Entry[]): ApplyReply[] {
    const replies: ApplyReply[] = [];
    for (const entry of entries) {
      // Per committed entry: read the head and narrow it locally rather than assert through a call.
      for (let head = this.waiting[0]; head !== undefined && head.index <= entry.index; head = this.waiting[0]) {
        this.waiting.shift();
        if (head.index === entry.index && head.term === entry.term) {
          replies.push({ index: entry.index, callback: head.callback, replyTo: head.replyTo });
          this.metrics?.since(HISTOGRAM_NAMES.commitLog, head.proposedAtMs);
        } else head.callback({ response: errorResponse(staleCommand().regionError, this.peer.term()) });
      }
    }
    return replies;
  }

  failAll(error: RegionError): void {
    for (const proposal of this.waiting.splice(0)) proposal.callback({ response: errorResponse(error.regionError) });
  }
}

/** Applies one data request of a committed entry: its changes join the batch's `kvOps`. */
export function applyWriteRequest(request: Request, kvOps: WriteOp[]): Response {
  switch (request.cmdType) {
    case CmdType.Put: {
      const put = defined(request.put, 'body of a Put request'); // commands come from this process, never from the wire
      kvOps.push({ type: 'put', cf: dataFamily(put.cf), key: put.key, value: put.value });
      return Response.fromPartial({ cmdType: CmdType.Put, put: {} });
    }
    case CmdType.Delete: {
      const del = defined(request.delete, 'body of a Delete request');
      kvOps.push({ type: 'delete', cf: dataFamily(del.cf), key: del.key });
      return Response.fromPartial({ cmdType: CmdType.Delete, delete: {} });
    }
    default:
      // Reads never enter the log (they go through ReadIndex); an unknown command changes nothing.
      return emptyResponseFor(request);
  }
}
