/**
 * Region split (TinyKV's Split admin command, 3B): a region [start, end) becomes [start, split)
 * under its own id and a new region [split, end) with the id and peer ids the scheduler handed out
 * (AskSplit). Both get version + 1; the new region keeps the conf_ver and the stores of the old
 * one, peer for peer.
 *
 * The command goes through the log as a normal entry. At apply, the two RegionLocalStates and the
 * new region's initial apply state (index and term 5, as bootstrap) are written in the same kv
 * batch as the old region's apply state, so a crash leaves either both regions or neither. The new
 * region's raft state is derived when its peer loads (peer/peer-storage.ts keeps any hard state an
 * uninitialized peer of it already persisted, its vote included).
 *
 * The new region's range is checked against what this store holds: if a peer of the new region was
 * destroyed here before (a tombstone), the range is cleared instead and no peer is created.
 */
import type { Engine, WriteOp } from '../../engine/engine.js';
import type { Region } from '../../proto/metapb.js';
import { AdminCmdType, AdminResponse, RaftCmdResponse, type RaftCmdRequest, type SplitRequest } from '../../proto/raft_cmdpb.js';
import { PeerState, RaftApplyState, RegionLocalState } from '../../proto/raft_serverpb.js';
import { compareBytes } from '../../util/bytes.js';
import { applyStateKey, RAFT_INIT_LOG_INDEX, RAFT_INIT_LOG_TERM, regionStateKey } from '../keys.js';
import { clearRangeOps, putProto } from '../peer/peer-storage.js';
import { cloneRegion, epochOf, keyInRegion } from '../region.js';
import { epochNotMatch, RegionError, staleCommand } from '../router/errors.js';
import { errorResponse } from './command.js';

/** A split as applied: the old region's new range, and the new region (unless a tombstone here refused it). */
export interface AppliedSplit {
  readonly region: Region;
  readonly created?: Region;
}

/** Whether a request is a Split admin command. */
export function isSplit(request: RaftCmdRequest): boolean {
  return request.adminRequest?.cmdType === AdminCmdType.Split;
}

/**
 * Checks a Split from the network against the region (at proposal and again at apply, where the
 * region may have changed): a split key strictly inside the range, a new region id, and one new
 * peer id per peer. Throws the RegionError the client gets.
 */
export function checkSplit(request: RaftCmdRequest, region: Region): SplitRequest {
  const split = request.adminRequest?.split;
  const refuse = (why: string): never => {
    throw new RegionError({ ...staleCommand().regionError, message: `split of region ${region.id} refused: ${why}` });
  };
  if (!split) return refuse('no split request');
  if (split.splitKey.length === 0) return refuse('empty split key');
  if (!keyInRegion(split.splitKey, region) || compareBytes(split.splitKey, region.startKey) === 0) {
    return refuse('split key not inside the region');
  }
  if (split.newRegionId === 0 || split.newRegionId === region.id) return refuse('no new region id');
  const ids = new Set(split.newPeerIds);
  if (split.newPeerIds.length !== region.peers.length || ids.size !== region.peers.length || ids.has(0)) {
    return refuse(`${split.newPeerIds.length} new peer ids for ${region.peers.length} peers`);
  }
  return split;
}

/** The two regions a split makes of `region`: the old one keeps the left part. */
export function splitRegions(region: Region, split: SplitRequest): { left: Region; right: Region } {
  const version = epochOf(region).version + 1;
  const left = cloneRegion(region);
  left.endKey = Buffer.from(split.splitKey);
  left.regionEpoch = { confVer: epochOf(region).confVer, version };
  const right: Region = {
    id: split.newRegionId,
    startKey: Buffer.from(split.splitKey),
    endKey: Buffer.from(region.endKey),
    regionEpoch: { confVer: epochOf(region).confVer, version },
    peers: region.peers.map((peer, i) => ({ id: split.newPeerIds[i] ?? 0, storeId: peer.storeId })),
  };
  return { left, right };
}

/**
 * Applies a committed Split on the apply side, adding its writes to `kvOps` (the batch that also
 * carries the apply state). A split whose epoch is stale (the region split or changed membership
 * since it was proposed) or that no longer fits the region changes nothing and is answered with
 * the error.
 */
export function applySplit(
  request: RaftCmdRequest,
  region: Region,
  next: RaftApplyState,
  kvOps: WriteOp[],
  kv: Pick<Engine, 'get'>,
): { applyState: RaftApplyState; response: RaftCmdResponse; applied?: AppliedSplit } {
  const epoch = request.header?.regionEpoch;
  const current = epochOf(region);
  if (epoch && (epoch.version !== current.version || epoch.confVer !== current.confVer)) {
    return { applyState: next, response: errorResponse(epochNotMatch(`epoch of region ${region.id} changed`, [region]).regionError) };
  }
  let split: SplitRequest;
  try {
    split = checkSplit(request, region);
  } catch (err) {
    if (!(err instanceof RegionError)) throw err;
    return { applyState: next, response: errorResponse(err.regionError) };
  }
  const { left, right } = splitRegions(region, split);
  kvOps.push(putProto('meta', regionStateKey(left.id), RegionLocalState.encode({ state: PeerState.Normal, region: left }).finish()));
  const existing = kv.get('meta', regionStateKey(right.id));
  let created: Region | undefined = right;
  if (existing && RegionLocalState.decode(existing).state !== PeerState.Normal) {
    // This store's peer of the new region was removed (and destroyed) before the split reached
    // here: nothing here owns the right part any more.
    kvOps.push(...clearRangeOps(right));
    created = undefined;
  } else if (!existing) {
    const applyState = RaftApplyState.fromPartial({
      appliedIndex: RAFT_INIT_LOG_INDEX,
      truncatedState: { index: RAFT_INIT_LOG_INDEX, term: RAFT_INIT_LOG_TERM },
    });
    kvOps.push(putProto('meta', applyStateKey(right.id), RaftApplyState.encode(applyState).finish()));
    kvOps.push(putProto('meta', regionStateKey(right.id), RegionLocalState.encode({ state: PeerState.Normal, region: right }).finish()));
  }
  // (A Normal state of the new region cannot be here: a snapshot of it overlapping the old region is refused.)
  const response = RaftCmdResponse.fromPartial({
    header: {},
    adminResponse: AdminResponse.fromPartial({ cmdType: AdminCmdType.Split, split: { regions: [cloneRegion(left), cloneRegion(right)] } }),
  });
  return { applyState: next, response, applied: { region: left, created } };
}
