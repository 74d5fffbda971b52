// stand-in until part B merges: the contract's ReplicaChecker, which never proposes an operator.
// Part B's module replaces this file whole.
import type { RegionInfo } from '../../cluster-state.js';
import type { ScheduleCluster } from '../cluster-view.js';
import type { Operator } from '../operator.js';

export class ReplicaChecker {
  check(_cluster: ScheduleCluster, _region: RegionInfo): Promise<Operator | undefined> {
    return Promise.resolve(undefined);
  }
}
