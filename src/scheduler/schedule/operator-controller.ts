// stand-in until part A merges: the contract's OperatorController surface with the least behaviour
// the coordinator and admin need (one operator per region, limits per kind, replace, bounded
// history). It never sends commands. Part A's module replaces this file whole.
import type { Logger } from 'pino';
import type { Clock } from '../../env/clock.js';
import type { RegionHeartbeatResponse } from '../../proto/schedulerpb.js';
import type { RegionInfo } from '../cluster-state.js';
import { SchedulerError, SchedulerErrorCode } from '../errors.js';
import { OpKind, type OpStatus, type Operator } from './operator.js';
import type { ScheduleConfig } from './schedule-config.js';

/** Part A adds 'splitRegion' once the proto has it. */
export type HeartbeatCommand = Partial<Pick<RegionHeartbeatResponse, 'changePeer' | 'transferLeader'>>;

export interface OperatorControllerDeps {
  readonly clock: Clock;
  readonly send: (info: RegionInfo, command: HeartbeatCommand) => boolean;
  readonly config: () => ScheduleConfig;
  readonly logger: Logger;
  readonly historySize?: number;
}

export class OperatorController {
  private readonly byRegion = new Map<number, Operator>();
  private readonly finished: Operator[] = [];

  constructor(private readonly deps: OperatorControllerDeps) {}

  addOperator(op: Operator, options: { replace?: boolean } = {}): void {
    const running = this.byRegion.get(op.regionId);
    if (running && !options.replace) {
      throw new SchedulerError(SchedulerErrorCode.OperatorExists, `region ${op.regionId} already has an operator`, { regionId: op.regionId });
    }
    if ((op.kind & OpKind.Admin) === 0) this.checkLimits(op);
    if (running) this.finish(running, 'replace');
    this.byRegion.set(op.regionId, op);
  }

  private checkLimits(op: Operator): void {
    const config = this.deps.config();
    const limits: [number, number][] = [
      [OpKind.Leader, config.leaderScheduleLimit],
      [OpKind.Region, config.regionScheduleLimit],
      [OpKind.Replica, config.replicaScheduleLimit],
    ];
    for (const [bit, limit] of limits) {
      if ((op.kind & bit) !== 0 && this.opCount(bit) >= limit) {
        throw new SchedulerError(SchedulerErrorCode.OperatorRejected, `operator limit reached for region ${op.regionId}`, { regionId: op.regionId });
      }
    }
  }

  removeOperator(regionId: number, status: OpStatus = 'cancel'): Operator | undefined {
    const op = this.byRegion.get(regionId);
    if (op) this.finish(op, status);
    return op;
  }

  getRunning(regionId: number): Operator | undefined {
    return this.byRegion.get(regionId);
  }

  getLatest(regionId: number): Operator | undefined {
    return this.byRegion.get(regionId) ?? this.finished.findLast((op) => op.regionId === regionId);
  }

  running(): Operator[] {
    return [...this.byRegion.values()];
  }

  history(): Operator[] {
    return [...this.finished];
  }

  opCount(kindBit: number): number {
    let count = 0;
    for (const op of this.byRegion.values()) if ((op.kind & kindBit) !== 0) count++;
    return count;
  }

  dispatch(info: RegionInfo): void {
    const op = this.byRegion.get(info.region.id);
    if (op && op.check(info) === undefined) this.finish(op, 'success');
  }

  checkTimeouts(): void {
    const nowMs = this.deps.clock.nowMs();
    for (const op of [...this.byRegion.values()]) if (op.isTimedOut(nowMs)) this.finish(op, 'timeout');
  }

  private finish(op: Operator, status: OpStatus): void {
    this.byRegion.delete(op.regionId);
    op.status = status;
    op.finishedMs = this.deps.clock.nowMs();
    this.finished.push(op);
    if (this.finished.length > (this.deps.historySize ?? 1024)) this.finished.shift();
  }
}
