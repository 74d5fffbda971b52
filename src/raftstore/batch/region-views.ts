/**
 * The main thread's view of a raft poller's regions, from its `regions` reports, and what the
 * scheduler heartbeats are built from. A report names a leader's down followers only by id (so it
 * changes only when the set does); the view notes when each first showed up down, and a follower's
 * down seconds are max-peer-down-duration plus the time since then.
 */
import { Region, type Peer } from '../../proto/metapb.js';
import { findPeerById } from '../region.js';
import type { DownPeer, LeaderRegion } from '../router/router.js';
import type { RegionReport } from './protocol.js';

export interface RegionView {
  readonly region: Region;
  readonly peerId: number;
  readonly leader: boolean;
  readonly pendingPeerIds: readonly number[];
  /** Down follower id to when the main thread first saw it down (ms). */
  readonly downSinceMs: ReadonlyMap<number, number>;
  readonly term: number;
  /** The leader's lease slot in its poller's lease table; -1 for none. */
  readonly leaseSlot: number;
  readonly leaseGeneration: number;
}

/** The views of a new report; a follower still down keeps the time it was first seen down in `previous`. */
export function regionViews(reports: readonly RegionReport[], previous: readonly RegionView[], nowMs: number): RegionView[] {
  const before = new Map(previous.map((view) => [view.region.id, view]));
  return reports.map((report) => {
    const region = Region.decode(report.region);
    const earlier = before.get(region.id)?.downSinceMs;
    const downSinceMs = new Map(report.downPeerIds.map((id) => [id, earlier?.get(id) ?? nowMs]));
    return {
      region,
      peerId: report.peerId,
      leader: report.leader,
      pendingPeerIds: report.pendingPeerIds,
      downSinceMs,
      term: report.term,
      leaseSlot: report.leaseSlot,
      leaseGeneration: report.leaseGeneration,
    };
  });
}

/** The view as a scheduler heartbeat's source, if its peer leads. */
export function leaderRegionOf(view: RegionView, nowMs: number, maxPeerDownMs: number): LeaderRegion | undefined {
  const leader = findPeerById(view.region, view.peerId);
  if (!view.leader || !leader) return undefined;
  const pendingPeers = view.pendingPeerIds.map((id) => findPeerById(view.region, id)).filter((peer): peer is Peer => peer !== undefined);
  const downPeers: DownPeer[] = [];
  for (const [id, sinceMs] of view.downSinceMs) {
    const peer = findPeerById(view.region, id);
    if (peer) downPeers.push({ peer, downSeconds: Math.floor((maxPeerDownMs + Math.max(0, nowMs - sinceMs)) / 1000) });
  }
  return { region: view.region, leader, pendingPeers, downPeers };
}
