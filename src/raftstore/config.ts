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
};
