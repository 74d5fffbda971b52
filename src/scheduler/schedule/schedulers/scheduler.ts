// stand-in until part B merges: the contract's RegionScheduler interface and registry, with
// schedulers that never propose an operator. Part B's module replaces this file whole.
import { SchedulerError, SchedulerErrorCode } from '../../errors.js';
import type { ScheduleCluster } from '../cluster-view.js';
import type { Operator } from '../operator.js';

export interface RegionScheduler {
  readonly name: string;
  readonly type: string;
  readonly minIntervalMs: number;
  nextIntervalMs(previousMs: number): number;
  isScheduleAllowed(cluster: ScheduleCluster, opCount: (kindBit: number) => number): boolean;
  schedule(cluster: ScheduleCluster): Promise<Operator | undefined>;
}

export const KNOWN_SCHEDULERS: readonly string[] = ['balance-region-scheduler', 'balance-leader-scheduler'];

export function createScheduler(name: string): RegionScheduler {
  if (!KNOWN_SCHEDULERS.includes(name)) {
    throw new SchedulerError(SchedulerErrorCode.SchedulerNotFound, `unknown scheduler ${name}`, { name });
  }
  return {
    name,
    type: name.replace(/-scheduler$/, ''),
    minIntervalMs: 10,
    nextIntervalMs: (previousMs) => Math.min(previousMs * 1.3, 5_000),
    isScheduleAllowed: () => true,
    schedule: () => Promise.resolve(undefined),
  };
}
