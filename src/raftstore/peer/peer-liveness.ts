/**
 * Which followers a leader has stopped hearing from (TiKV's peer_heartbeats and collect_down_peers).
 * Counted in raft ticks, so it stays deterministic: every tick a leader adds one to each follower's
 * silence, and any message stepped from a follower sets it back to zero. A peer that is not leading
 * keeps no counts, so a new leader gives every follower a full max-peer-down-duration before it
 * reports one down (TiKV resets its heartbeat times on becoming leader for the same reason).
 */
export interface SilentPeer {
  readonly peerId: number;
  /** Raft ticks since this peer last heard from it (while leading). */
  readonly silentTicks: number;
}

export class PeerLiveness {
  private readonly silentTicks = new Map<number, number>();

  /**
   * One raft tick. `followerIds` are the region's other members now; a follower removed since is
   * forgotten, one added starts at zero.
   */
  onTick(leading: boolean, followerIds: readonly number[]): void {
    if (!leading) {
      this.silentTicks.clear();
      return;
    }
    for (const id of this.silentTicks.keys()) if (!followerIds.includes(id)) this.silentTicks.delete(id);
    for (const id of followerIds) this.silentTicks.set(id, (this.silentTicks.get(id) ?? 0) + 1);
  }

  /** A message from `peerId` was stepped. */
  heard(peerId: number): void {
    if (this.silentTicks.has(peerId)) this.silentTicks.set(peerId, 0);
  }

  /** Followers silent for at least `maxTicks`, in id order (a stable report). */
  down(maxTicks: number): SilentPeer[] {
    const out: SilentPeer[] = [];
    for (const [peerId, silentTicks] of this.silentTicks) if (silentTicks >= maxTicks) out.push({ peerId, silentTicks });
    return out.sort((a, b) => a.peerId - b.peerId);
  }
}
