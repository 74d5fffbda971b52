/**
 * Log compaction (TinyKV's raft-log GC, 2C). Every `raftLogGcTickInterval` ticks a leader whose
 * applied log has grown `raftLogGcCountLimit` entries past its first index proposes a CompactLog
 * up to its applied index. Applying it moves the region's truncated state (the apply system makes
 * that durable before reporting it); the peer then adopts the new state and hands the entries
 * below it to the raft-log GC thread (workers/raftlog-gc.ts), which deletes them off the poll loop.
 */
import type { Engine, WriteOp } from '../../engine/engine.js';
import type { Peer as PeerMeta } from '../../proto/metapb.js';
import { AdminCmdType, AdminResponse, RaftCmdRequest, RaftCmdResponse, type CompactLogRequest } from '../../proto/raft_cmdpb.js';
import { RaftApplyState } from '../../proto/raft_serverpb.js';
import { defined } from '../../util/assert.js';
import type { RaftstoreConfig } from '../config.js';
import { raftLogKey } from '../keys.js';
import type { PeerStorage } from '../peer/peer-storage.js';
import { epochOf } from '../region.js';
import { RegionError } from '../router/errors.js';
import type { ProposingPeer } from './command.js';
import type { WriteProposals } from './write.js';

/** Raft-log entries [gcFrom, gcTo) of a region that may be deleted. */
export interface RaftLogRange {
  readonly gcFrom: number;
  readonly gcTo: number;
}

type LogGcConfig = Pick<RaftstoreConfig, 'raftLogGcTickInterval' | 'raftLogGcCountLimit'>;

/** The proposing side, owned by a peer: counts ticks and proposes one CompactLog at a time. */
export class LogCompaction {
  private ticksSinceLogGc = 0;
  /** A CompactLog is in flight: the next waits for its answer. */
  private pending = false;

  constructor(
    private readonly peer: ProposingPeer & { readonly meta: PeerMeta; readonly storage: PeerStorage },
    private readonly writes: WriteProposals,
    private readonly config: LogGcConfig,
  ) {}

  onTick(): void {
    if (++this.ticksSinceLogGc < this.config.raftLogGcTickInterval) return;
    this.ticksSinceLogGc = 0;
    this.maybePropose();
  }

  private maybePropose(): void {
    const { peer } = this;
    if (!peer.isLeader() || this.pending) return;
    const applied = peer.storage.appliedIndex;
    const first = peer.storage.firstIndex();
    if (applied <= first || applied - first < this.config.raftLogGcCountLimit) return;
    const request = RaftCmdRequest.fromPartial({
      header: { regionId: peer.regionId, peer: peer.meta, regionEpoch: epochOf(peer.region) },
      adminRequest: { cmdType: AdminCmdType.CompactLog, compactLog: { compactIndex: applied, compactTerm: peer.storage.term(applied) } },
    });
    try {
      this.writes.propose(request, () => (this.pending = false));
    } catch (err) {
      // Raft dropped the proposal (a leader transfer or conf change in progress): try again on a
      // later tick rather than stay pending forever or fail the tick.
      if (err instanceof RegionError) return;
      throw err;
    }
    this.pending = true;
  }
}

/**
 * Applies a committed CompactLog on the apply side: the truncated state moves forward, never back
 * (a CompactLog older than the current truncation changes nothing but is still answered).
 */
export function applyCompactLog(compactLog: CompactLogRequest, next: RaftApplyState): { applyState: RaftApplyState; response: RaftCmdResponse } {
  const { compactIndex, compactTerm } = compactLog;
  const response = RaftCmdResponse.fromPartial({
    header: {},
    adminResponse: AdminResponse.fromPartial({ cmdType: AdminCmdType.CompactLog, compactLog: {} }),
  });
  if (compactIndex <= defined(next.truncatedState, 'truncated state').index) return { applyState: next, response };
  return { applyState: RaftApplyState.fromPartial({ ...next, truncatedState: { index: compactIndex, term: compactTerm } }), response };
}

/**
 * The peer adopts a newer apply state; the log entries a CompactLog in it truncated become
 * collectable (their truncated state is durable: the apply system flushed it before reporting).
 */
export function adoptApplyState(storage: PeerStorage, applyState: RaftApplyState): RaftLogRange | undefined {
  const before = storage.truncatedIndex;
  storage.setApplyState(applyState);
  const after = storage.truncatedIndex;
  return after > before ? { gcFrom: before + 1, gcTo: after + 1 } : undefined;
}

/** Deletes a compacted range: through `collect` (the raft-log GC thread) when given, else by a write from this thread. */
export function gcRaftLog(
  raft: Engine,
  regionId: number,
  range: RaftLogRange,
  collect?: (regionId: number, fromIndex: number, toIndex: number) => Promise<void>,
): Promise<void> {
  if (collect) return collect(regionId, range.gcFrom, range.gcTo);
  return raft.write([raftLogGcOp(regionId, range.gcFrom, range.gcTo)]);
}

/** The raft-engine write that deletes a region's log entries [fromIndex, toIndex). */
export function raftLogGcOp(regionId: number, fromIndex: number, toIndex: number): WriteOp {
  return { type: 'deleteRange', cf: 'meta', start: raftLogKey(regionId, fromIndex), end: raftLogKey(regionId, toIndex) };
}
