/** Raftstore tuning. Ticks are counted in raft base ticks (`raftBaseTickMs` of wall time each). */
export interface RaftstoreConfig {
  readonly raftBaseTickMs: number;
  readonly raftElectionTimeoutTicks: number;
  readonly raftHeartbeatTicks: number;
  /** The leader proposes CompactLog once applied - first index reaches this. */
  readonly raftLogGcCountLimit: number;
  /** How often (in base ticks) the leader checks whether to compact the log. */
  readonly raftLogGcTickInterval: number;
  /** Largest batch of entries in one append message. */
  readonly maxSizePerMsgBytes: number;
  readonly maxInflightMsgs: number;
  /** Proposals waiting in one peer; more are refused (bounded queue). */
  readonly maxPendingProposals: number;
  /** A region whose data (all families, keys and values) grows past this is split. */
  readonly regionMaxSizeBytes: number;
  /** Where a split cuts: about this many bytes stay in the left region. */
  readonly regionSplitSizeBytes: number;
  /** How often (in base ticks) a leader has its region's size checked. */
  readonly splitRegionCheckTickInterval: number;
  /** A leader reports a follower down once it has not heard from it for this many base ticks. */
  readonly maxPeerDownTicks: number;
  /**
   * How long a leader serves reads without a quorum round after a quorum last confirmed it
   * (peer/leader-lease.ts); 0 turns lease reads off. Default: leaderLeaseMsOf's.
   */
  readonly maxLeaderLeaseMs?: number;
}

/**
 * The lease a leader may take, in ms: what the config says, or by default two base ticks short of
 * an election timeout. A follower that acknowledged the leader refuses other candidates for an
 * election timeout of its own ticks, the first of which may come at once, so (election ticks - 1)
 * ticks of wall time is the promise; one more tick is the margin for clocks running at different
 * rates and for ticks delivered late.
 */
export function leaderLeaseMsOf(config: RaftstoreConfig): number {
  return config.maxLeaderLeaseMs ?? Math.max(0, (config.raftElectionTimeoutTicks - 2) * config.raftBaseTickMs);
}

/** The longest lease that is still safe: a follower may vote again (election ticks - 1) ticks after it last heard the leader. */
export function leaderLeaseLimitMs(config: Pick<RaftstoreConfig, 'raftElectionTimeoutTicks' | 'raftBaseTickMs'>): number {
  return (config.raftElectionTimeoutTicks - 1) * config.raftBaseTickMs;
}

export const DEFAULT_RAFTSTORE_CONFIG: RaftstoreConfig = {
  raftBaseTickMs: 100,
  raftElectionTimeoutTicks: 10,
  raftHeartbeatTicks: 2,
  raftLogGcCountLimit: 10_000,
  raftLogGcTickInterval: 10,
  maxSizePerMsgBytes: 1024 * 1024,
  maxInflightMsgs: 256,
  maxPendingProposals: 10_000,
  // TinyKV's defaults: 144 MiB / 96 MiB, checked every 10 s (100 ticks of 100 ms).
  regionMaxSizeBytes: 144 * 1024 * 1024,
  regionSplitSizeBytes: 96 * 1024 * 1024,
  splitRegionCheckTickInterval: 100,
  // TiKV's max-peer-down-duration: 10 minutes.
  maxPeerDownTicks: 6_000,
};
