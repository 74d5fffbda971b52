/**
 * The scheduling configuration an operator can read and change at run time (PD's `schedule` and
 * `replication` sections; reference §4 for TinyKV's defaults). Persisted by the scheduler so a
 * restart keeps what an operator set.
 */

export interface ScheduleConfig {
  /** Replicas each region should have (PD's replication.max-replicas). */
  readonly maxReplicas: number;
  /** A store silent this long is Down: its replicas are replaced elsewhere (PD's max-store-down-time, default 30m). */
  readonly maxStoreDownTimeMs: number;
  /** Operators in flight that move leaders (OpKind.Leader). */
  readonly leaderScheduleLimit: number;
  /** Operators in flight that move peers (OpKind.Region). */
  readonly regionScheduleLimit: number;
  /** Operators in flight made by the replica checker (OpKind.Replica). */
  readonly replicaScheduleLimit: number;
  /** How often the replica checker patrols the next batch of regions. */
  readonly patrolRegionIntervalMs: number;
}

export const DEFAULT_SCHEDULE_CONFIG: ScheduleConfig = {
  maxReplicas: 3,
  maxStoreDownTimeMs: 30 * 60_000,
  leaderScheduleLimit: 4,
  regionScheduleLimit: 2048,
  replicaScheduleLimit: 64,
  patrolRegionIntervalMs: 100,
};

/** A scheduler (balance-region, balance-leader, ...) as configured: on, possibly paused until a time. */
export interface SchedulerEntry {
  /** PD's scheduler name, e.g. `balance-region-scheduler`. */
  readonly name: string;
  /** Paused until this wall-clock ms (0: running). */
  readonly pausedUntilMs: number;
}

/** Names of the schedulers the scheduler runs unless an operator removed them (PD's defaults for TinyKV). */
export const DEFAULT_SCHEDULERS: readonly string[] = ['balance-region-scheduler', 'balance-leader-scheduler'];

/** An Up store silent this long is Disconnected (PD's storeDisconnectDuration): no replica or leader is moved onto it. */
export const STORE_DISCONNECTED_AFTER_MS = 20_000;
