/**
 * What the scheduler's admin surface (the pd-ctl-style HTTP API, `tinykv ctl`) can see and do,
 * as domain values. The HTTP layer maps these to PD's JSON field names; the scheduler implements
 * them over its core, operator controller and coordinator.
 */
import type { RegionInfo, StoreInfo } from './cluster-state.js';
import type { OpStatus, OpStep } from './schedule/operator.js';
import type { ScheduleConfig, SchedulerEntry } from './schedule/schedule-config.js';

/** A store's state as an operator sees it: metapb's Up/Offline/Tombstone, plus Down (Up but silent past max-store-down-time) and Disconnected (silent over 20 s). */
export type StoreStateName = 'Up' | 'Disconnected' | 'Down' | 'Offline' | 'Tombstone';

export interface StoreView {
  readonly info: StoreInfo;
  readonly stateName: StoreStateName;
  /** Since the scheduler last heard from the store (undefined: not since it started). */
  readonly sinceHeartbeatMs: number | undefined;
}

export interface OperatorView {
  readonly regionId: number;
  readonly desc: string;
  /** Kind names joined by commas (`leader,region,balance`). */
  readonly kind: string;
  readonly status: OpStatus;
  readonly steps: readonly OpStep[];
  /** Index of the step in progress (steps.length once finished). */
  readonly stepIndex: number;
  readonly createdMs: number;
  readonly finishedMs: number | undefined;
  /** Human summary, PD's operator String(). */
  readonly text: string;
}

/** An operator an admin asks for (PD's POST /operators bodies). */
export type OperatorRequest =
  | { readonly name: 'add-peer'; readonly regionId: number; readonly storeId: number }
  | { readonly name: 'remove-peer'; readonly regionId: number; readonly storeId: number }
  | { readonly name: 'transfer-leader'; readonly regionId: number; readonly toStoreId: number }
  | { readonly name: 'transfer-region'; readonly regionId: number; readonly toStoreIds: readonly number[] }
  | { readonly name: 'split-region'; readonly regionId: number; readonly keys: readonly Buffer[] };

export interface MemberView {
  readonly name: string;
  readonly clientUrls: readonly string[];
  readonly memberId: number;
}

export interface ClusterStatusView {
  readonly clusterId: number;
  readonly bootstrapped: boolean;
  readonly bootstrapTimeMs: number | undefined;
  /** Most regions have reported since the scheduler started, so it schedules (PD's is_initialized). */
  readonly prepared: boolean;
}

/**
 * Errors: methods throw SchedulerError with stable codes (errors.ts): StoreNotFound, RegionNotFound,
 * InvalidArgument, OperatorExists (one operator per region), OperatorRejected (a limit, or no valid operator for the region), SchedulerNotFound,
 * SchedulerExists, StoreTombstone. The HTTP layer maps them to 4xx statuses.
 */
export interface SchedulerAdmin {
  clusterStatus(): ClusterStatusView;
  members(): MemberView[];

  stores(): StoreView[];
  store(storeId: number): StoreView;
  /** Sets an Up store Offline: its replicas move away, then it becomes a Tombstone. Idempotent on Offline. */
  deleteStore(storeId: number): Promise<void>;

  regions(): RegionInfo[];
  region(regionId: number): RegionInfo;
  regionByKey(key: Uint8Array): RegionInfo;

  /** Running operators. */
  operators(): OperatorView[];
  /** Finished operators still in the bounded history, oldest first. */
  operatorHistory(): OperatorView[];
  /** The region's running operator, else its latest finished one; RegionNotFound when it never had one. */
  operator(regionId: number): OperatorView;
  addOperator(request: OperatorRequest): Promise<OperatorView>;
  /** Cancels the region's running operator; false when there was none. */
  removeOperator(regionId: number): boolean;

  schedulers(): SchedulerEntry[];
  addScheduler(name: string): Promise<void>;
  removeScheduler(name: string): Promise<void>;
  /** Pauses for `delaySeconds` (0 resumes). */
  pauseScheduler(name: string, delaySeconds: number): Promise<void>;

  config(): ScheduleConfig;
  /** Applies the given fields (validated: whole numbers in range); persisted before it resolves. */
  setConfig(patch: Partial<ScheduleConfig>): Promise<ScheduleConfig>;
}
