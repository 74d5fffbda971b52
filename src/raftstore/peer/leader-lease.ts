/**
 * A leader's lease (the Raft thesis, 6.4.1; TiKV's leader lease): reads served without a quorum
 * round while no other leader can exist.
 *
 * Why it holds: with checkQuorum, a follower that heard from its leader refuses every other
 * candidate (but a leader transfer's) for an election timeout of its own ticks. When a quorum
 * answers a heartbeat round the leader started at `askedAtMs`, each of them heard it at or after
 * that time, so no candidate can gather a quorum before askedAtMs + (election ticks - 1) ticks;
 * the lease ends a margin earlier (RaftstoreConfig.maxLeaderLeaseMs). Until then, every write any
 * leader acknowledged went through this peer's log, so a read of this store's applied state is
 * linearizable, provided the peer has applied its term's first entry (everything earlier leaders
 * committed).
 *
 * What ends or holds it:
 * - stepping down ends it;
 * - a leader transfer ends it at once: the transferee campaigns without waiting out the followers'
 *   promise;
 * - a split or conf change this leader proposed holds renewal until it applied here: a split's new
 *   region may elect a leader on other stores an election timeout after they apply it, which may
 *   be before this store does, and a conf change changes who the quorum is. The lease taken before
 *   such a command committed still holds (the new region's peers were created after the commit).
 *
 * Times are on the process's monotonic clock (env/clock.ts), so a lease never outlives a wall
 * clock step, and a thread that was paused comes back to an expired lease.
 */
export class LeaderLease {
  /** The lease holds while the monotonic clock reads less than this; 0 when there is none. */
  private validUntilMs = 0;
  /** The term the lease is for; 0 when this peer does not lead. */
  private term = 0;
  /** Lease reads wait until the peer applied its term's first entry (or a later index). */
  private termStartIndex = 0;
  /** Renewal waits until the peer applied this far (a split or conf change it proposed). */
  private holdIndex = 0;

  constructor(
    /** The longest lease; 0 turns lease reads off. */
    readonly maxLeaseMs: number,
  ) {}

  /** This peer leads `term`; its first entry of the term is at `lastIndex` or before. */
  onLeader(term: number, lastIndex: number): void {
    this.validUntilMs = 0;
    this.term = term;
    this.termStartIndex = lastIndex;
    this.holdIndex = Math.max(this.holdIndex, lastIndex);
  }

  onStepDown(): void {
    this.validUntilMs = 0;
    this.term = 0;
  }

  /** A split or conf change proposed at `index`: no renewal until it applied. */
  hold(index: number): void {
    this.holdIndex = Math.max(this.holdIndex, index);
  }

  /** Ends the lease now (a leader transfer began). */
  expire(): void {
    this.validUntilMs = 0;
  }

  /**
   * A quorum confirmed this peer led `term` at some moment after `askedAtMs` (a ReadIndex round it
   * started then). Taken only while nothing holds renewal.
   */
  renew(term: number, askedAtMs: number, appliedIndex: number, transferring: boolean): void {
    if (this.maxLeaseMs <= 0 || term !== this.term || transferring || appliedIndex < this.holdIndex) return;
    this.validUntilMs = Math.max(this.validUntilMs, askedAtMs + this.maxLeaseMs);
  }

  /** Whether a read may be served now without a quorum round. */
  covers(nowMs: number, appliedIndex: number, transferring: boolean): boolean {
    return this.term !== 0 && !transferring && appliedIndex >= this.termStartIndex && nowMs < this.validUntilMs;
  }

  /**
   * When the lease may serve reads (0: it may not at all), for another thread that checks the time
   * itself: what `covers` says, but for the clock.
   */
  publishableUntilMs(appliedIndex: number, transferring: boolean): number {
    return this.term !== 0 && !transferring && appliedIndex >= this.termStartIndex ? this.validUntilMs : 0;
  }

  /** A leader renews before half its lease is left, so reads keep finding one. */
  wantsRenewal(nowMs: number): boolean {
    return this.maxLeaseMs > 0 && this.term !== 0 && this.validUntilMs - nowMs < this.maxLeaseMs / 2;
  }
}
