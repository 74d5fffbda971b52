/**
 * Membership change (TinyKV's ChangePeer, 3B): AddNode or RemoveNode of one peer at a time.
 *
 * The leader proposes the admin command as a Raft EntryConfChange whose ConfChange carries the
 * encoded RaftCmdRequest in its context (as TinyKV does), so the apply side can check the epoch and
 * answer with the new region. At apply the region's peers and conf_ver + 1 are written to
 * RegionLocalState in the same kv batch as the apply state; the apply result carries the change
 * back to the peer, which then calls `RawNode.applyConfChange` and adopts the new region.
 *
 * The scheduler re-sends a change until it sees it done, so a change already in effect is answered
 * at once with the current region and never enters the log.
 */
import type { WriteOp } from '../../engine/engine.js';
import { ConfChange, ConfChangeType, type Entry } from '../../proto/eraftpb.js';
import type { Peer as PeerMeta, Region } from '../../proto/metapb.js';
import { AdminCmdType, AdminResponse, RaftCmdRequest, RaftCmdResponse, type ChangePeerRequest } from '../../proto/raft_cmdpb.js';
import { PeerState, RegionLocalState, type RaftApplyState } from '../../proto/raft_serverpb.js';
import type { RawNode } from '../../raft/index.js';
import { regionStateKey } from '../keys.js';
import { putProto } from '../peer/peer-storage.js';
import { cloneRegion, epochOf, findPeerById, findPeerOnStore } from '../region.js';
import type { CommandCallback, ReplyAddress } from '../router/command-callback.js';
import { epochNotMatch, notLeader, RegionError, staleCommand } from '../router/errors.js';
import { errorResponse, type ProposingPeer } from './command.js';
import type { WriteProposals } from './write.js';

/** A conf change as applied, reported back to the peer (and to the other threads' region views). */
export interface AppliedConfChange {
  readonly changeType: ConfChangeType;
  readonly peer: PeerMeta;
  /** The region after the change. */
  readonly region: Region;
}

type ConfChangePeer = ProposingPeer & { readonly appliedIndex: number; lastIndex(): number };

/** The proposing side, owned by a peer: one conf change in flight per region. */
export class ConfChangeProposals {
  /** Index of the last proposed conf change entry; another waits until it is applied. */
  private pendingIndex = 0;

  constructor(
    private readonly peer: ConfChangePeer,
    private readonly node: Pick<RawNode, 'proposeConfChange' | 'transferLeader'>,
    private readonly writes: WriteProposals,
  ) {}

  /**
   * Answers a leader's ChangePeer that is already in effect, before the epoch check: the
   * scheduler re-sends a change with the epoch it saw before the change applied. Returns whether
   * it answered.
   */
  answerIfInEffect(request: RaftCmdRequest, callback: CommandCallback): boolean {
    if (!this.peer.isLeader()) return false;
    const change = validChangePeer(request);
    if (!isInEffect(this.peer.region, change)) return false;
    callback({ response: changePeerResponse(this.peer.region) });
    return true;
  }

  /** Proposes a checked ChangePeer command (the epoch and leadership checks passed already). */
  propose(request: RaftCmdRequest, callback: CommandCallback, replyTo?: ReplyAddress): void {
    if (this.answerIfInEffect(request, callback)) return;
    const change = validChangePeer(request);
    if (this.pendingIndex > this.peer.appliedIndex) {
      throw new RegionError({ ...staleCommand().regionError, message: `region ${this.peer.regionId} has a conf change pending` });
    }
    this.refuseLeaderRemovalInPair(change);
    const cc = ConfChange.fromPartial({
      changeType: change.changeType,
      nodeId: change.peer.id,
      context: Buffer.from(RaftCmdRequest.encode(request).finish()),
    });
    this.writes.track(() => this.node.proposeConfChange(cc), callback, replyTo);
    this.pendingIndex = this.peer.lastIndex();
  }

  /**
   * A leader removing itself from a two-peer region: once applied, the remaining follower may never
   * learn the commit (the leader stops sending), leaving it without a quorum path. As TinyKV does,
   * the leader hands leadership to the other peer first and refuses; the client retries there.
   */
  private refuseLeaderRemovalInPair(change: ValidChangePeer): void {
    const region = this.peer.region;
    if (change.changeType !== ConfChangeType.RemoveNode || region.peers.length !== 2) return;
    const self = findPeerOnStore(region, this.peer.storeId);
    if (self?.id !== change.peer.id) return;
    const other = region.peers.find((p) => p.id !== change.peer.id);
    if (other) this.node.transferLeader(other.id);
    throw notLeader(this.peer.regionId, other);
  }
}

interface ValidChangePeer {
  readonly changeType: ConfChangeType;
  readonly peer: PeerMeta;
}

/** The ChangePeer body of a request from the network: a known change type and a whole peer. */
function validChangePeer(request: RaftCmdRequest): ValidChangePeer {
  const change: ChangePeerRequest | undefined = request.adminRequest?.changePeer;
  const peer = change?.peer;
  const knownType = change?.changeType === ConfChangeType.AddNode || change?.changeType === ConfChangeType.RemoveNode;
  if (!change || !knownType || !peer || peer.id === 0 || peer.storeId === 0) {
    throw new RegionError({ ...staleCommand().regionError, message: 'ChangePeer needs AddNode or RemoveNode and a peer with id and store id' });
  }
  return { changeType: change.changeType, peer };
}

/** Whether the region already reflects the change (the same peer added, or no such peer). */
function isInEffect(region: Region, change: ValidChangePeer): boolean {
  const existing = findPeerById(region, change.peer.id);
  if (change.changeType === ConfChangeType.RemoveNode) return existing === undefined;
  return existing !== undefined && existing.storeId === change.peer.storeId;
}

function changePeerResponse(region: Region): RaftCmdResponse {
  return RaftCmdResponse.fromPartial({
    header: {},
    adminResponse: AdminResponse.fromPartial({ cmdType: AdminCmdType.ChangePeer, changePeer: { region: cloneRegion(region) } }),
  });
}

/**
 * Applies a committed EntryConfChange on the apply side: the new region goes into `kvOps` (with the
 * apply state, in one batch). A change whose epoch is stale or that is already in effect changes
 * nothing and is answered (the peer then applies nothing to Raft either, so Raft's membership and
 * the region's peers stay the same).
 */
export function applyConfChangeEntry(
  entry: Entry,
  region: Region,
  next: RaftApplyState,
  kvOps: WriteOp[],
): { applyState: RaftApplyState; response: RaftCmdResponse; applied?: AppliedConfChange } {
  const cc = ConfChange.decode(entry.data);
  const request = RaftCmdRequest.decode(cc.context);
  const change = validChangePeer(request);
  const epoch = request.header?.regionEpoch;
  if (epoch && epoch.confVer !== epochOf(region).confVer) {
    return { applyState: next, response: errorResponse(epochNotMatch(`conf_ver of region ${region.id} changed`, [region]).regionError) };
  }
  if (isInEffect(region, change)) return { applyState: next, response: changePeerResponse(region) };
  const updated = cloneRegion(region);
  const current = epochOf(region);
  updated.regionEpoch = { confVer: current.confVer + 1, version: current.version };
  if (change.changeType === ConfChangeType.AddNode) {
    // The same store holding two peers of one region would be a scheduler bug: refuse it.
    if (findPeerOnStore(region, change.peer.storeId)) {
      const message = `store ${change.peer.storeId} already has a peer of region ${region.id}`;
      return { applyState: next, response: errorResponse({ ...staleCommand().regionError, message }) };
    }
    updated.peers.push({ id: change.peer.id, storeId: change.peer.storeId });
  } else {
    updated.peers = updated.peers.filter((p) => p.id !== change.peer.id);
  }
  kvOps.push(putProto('meta', regionStateKey(region.id), RegionLocalState.encode({ state: PeerState.Normal, region: updated }).finish()));
  return { applyState: next, response: changePeerResponse(updated), applied: { ...change, region: updated } };
}
