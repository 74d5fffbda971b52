/** The raftstore's tuning, derived from the node's configuration (the one place it is read from). */
import type { NodeConfig } from '../config/config.js';
import type { RaftstoreConfig } from '../raftstore/config.js';

/** Raft-log GC checks every this many ticks unless raftstore.raft-log-gc-tick-interval says otherwise. */
const DEFAULT_RAFT_LOG_GC_TICKS = 10;

export function raftstoreConfigOf(config: NodeConfig): RaftstoreConfig {
  const gcIntervalMs = config.raftLogGcTickIntervalMs;
  return {
    raftBaseTickMs: config.raftBaseTickMs,
    raftElectionTimeoutTicks: config.raftElectionTimeoutTicks,
    raftHeartbeatTicks: config.raftHeartbeatTicks,
    raftLogGcCountLimit: config.raftLogGcCountLimit,
    raftLogGcTickInterval: gcIntervalMs === undefined ? DEFAULT_RAFT_LOG_GC_TICKS : ticksOf(gcIntervalMs, config.raftBaseTickMs),
    maxSizePerMsgBytes: config.raftMaxSizePerMsgBytes,
    maxInflightMsgs: config.raftMaxInflightMsgs,
    maxPendingProposals: config.raftMaxPendingProposals,
    regionMaxSizeBytes: config.regionMaxSizeBytes,
    regionSplitSizeBytes: config.regionSplitSizeBytes,
    splitRegionCheckTickInterval: ticksOf(config.splitRegionCheckTickIntervalMs, config.raftBaseTickMs),
    maxPeerDownTicks: ticksOf(config.maxPeerDownDurationMs, config.raftBaseTickMs),
    ...(config.raftStoreMaxLeaderLeaseMs === undefined ? {} : { maxLeaderLeaseMs: config.raftStoreMaxLeaderLeaseMs }),
  };
}

/** An interval in whole raft ticks, at least one. */
function ticksOf(intervalMs: number, baseTickMs: number): number {
  return Math.max(1, Math.round(intervalMs / baseTickMs));
}
