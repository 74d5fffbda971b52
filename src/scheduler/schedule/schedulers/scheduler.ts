/**
 * The schedulers the coordinator runs on a timer (PD's schedule.Scheduler, trimmed): each looks at
 * the cluster and proposes at most one operator per run. Made by name, the names PD and pd-ctl use.
 */
import { SchedulerError, SchedulerErrorCode } from '../../errors.js';
import type { ScheduleCluster } from '../cluster-view.js';
import type { Operator } from '../operator.js';
import { BalanceLeaderScheduler } from './balance-leader.js';
import { BalanceRegionScheduler } from './balance-region.js';

export interface RegionScheduler {
  /** PD's scheduler name, e.g. `balance-region-scheduler` (what admins add, remove and pause). */
  readonly name: string;
  /** PD's scheduler type, e.g. `balance-region`. */
  readonly type: string;
  /** The interval right after a run that produced an operator. */
  readonly minIntervalMs: number;
  /** The interval after a run that produced none. */
  nextIntervalMs(previousMs: number): number;
  /** False while the operators of this scheduler's kind in flight reach their limit. */
  isScheduleAllowed(cluster: ScheduleCluster, opCount: (kindBit: number) => number): boolean;
  schedule(cluster: ScheduleCluster): Promise<Operator | undefined>;
}

const FACTORIES: ReadonlyMap<string, () => RegionScheduler> = new Map<string, () => RegionScheduler>([
  [BalanceRegionScheduler.NAME, () => new BalanceRegionScheduler()],
  [BalanceLeaderScheduler.NAME, () => new BalanceLeaderScheduler()],
]);

export const KNOWN_SCHEDULERS: readonly string[] = [...FACTORIES.keys()];

export function createScheduler(name: string): RegionScheduler {
  const factory = FACTORIES.get(name);
  if (!factory) {
    throw new SchedulerError(
      SchedulerErrorCode.SchedulerNotFound,
      `unknown scheduler ${JSON.stringify(name)}; known: ${KNOWN_SCHEDULERS.join(', ')}`,
      {
        name,
      },
    );
  }
  return factory();
}
