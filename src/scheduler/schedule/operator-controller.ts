/**
 * The operators in flight, one per region (PD's OperatorController, reference §8.2). Every
 * accepted region heartbeat is dispatched here: the region's operator checks which step is current
 * and that step's command goes to the region's leader, again on every heartbeat until a heartbeat
 * shows the step done (the store treats a repeated command as a no-op, so re-sending is what makes
 * a lost response harmless). Operators end as success, timeout, cancel (the region changed under
 * them, or an admin removed them) or replace (an admin operator took the region over); finished
 * ones stay in a bounded history for GetOperator and the admin API.
 *
 * Limits per kind come from the live ScheduleConfig on every add, so a config change applies to the
 * next operator. Admin operators skip the limits: an operator asked for by a person is not
 * throttled behind the balancers.
 */
import type { Logger } from 'pino';
import type { Clock } from '../../env/clock.js';
import { ConfChangeType } from '../../proto/eraftpb.js';
import { CheckPolicy, type RegionHeartbeatResponse } from '../../proto/schedulerpb.js';
import type { RegionInfo } from '../cluster-state.js';
import { SchedulerError, SchedulerErrorCode } from '../errors.js';
import { OpKind, describeStep, type OpStatus, type OpStep, type Operator } from './operator.js';
import type { ScheduleConfig } from './schedule-config.js';

/** What one heartbeat response may tell a region's leader to do. */
export type HeartbeatCommand = Partial<Pick<RegionHeartbeatResponse, 'changePeer' | 'transferLeader' | 'splitRegion'>>;

export interface OperatorControllerDeps {
  readonly clock: Clock;
  /** Delivers a command to the region's leader store; false when it could not (no leader, no stream). */
  readonly send: (info: RegionInfo, command: HeartbeatCommand) => boolean;
  readonly config: () => ScheduleConfig;
  readonly logger: Logger;
  /** Finished operators kept (default 1024); the oldest go first. */
  readonly historySize?: number;
  /**
   * The region as last reported, to send a new operator's first step at once (PD dispatches on
   * create) rather than at the region's next heartbeat, which may come later than a leader
   * operator's 10 s timeout when stores heartbeat slowly (TiKV's default is a minute).
   */
  readonly regionOf?: (regionId: number) => RegionInfo | undefined;
  /** Told of every operator that ends, after its status is set (the operators counter). */
  readonly onFinished?: (op: Operator) => void;
}

export const DEFAULT_OPERATOR_HISTORY_SIZE = 1024;

export class OperatorController {
  private readonly runningByRegion = new Map<number, Operator>();
  /** Finished operators, oldest first, at most historySize. */
  private readonly finished: Operator[] = [];
  private readonly historySize: number;

  constructor(private readonly deps: OperatorControllerDeps) {
    this.historySize = deps.historySize ?? DEFAULT_OPERATOR_HISTORY_SIZE;
    if (!Number.isSafeInteger(this.historySize) || this.historySize < 1) {
      throw new Error(`operator history size must be a positive integer, got ${this.historySize}`);
    }
  }

  /**
   * Starts `op` for its region. Throws OperatorExists when the region has one running (unless
   * `replace`, which ends the running one as 'replace'), OperatorRejected when a limit of one of
   * its kinds is reached or the operator is not running.
   */
  addOperator(op: Operator, options: { replace?: boolean } = {}): void {
    const regionId = op.regionId;
    if (op.status !== 'running') {
      throw new SchedulerError(SchedulerErrorCode.OperatorRejected, `operator for region ${regionId} already ended (${op.status})`, { regionId });
    }
    const current = this.runningByRegion.get(regionId);
    if (current !== undefined && options.replace !== true) {
      throw new SchedulerError(SchedulerErrorCode.OperatorExists, `region ${regionId} already has an operator: ${current.toString()}`, {
        regionId,
      });
    }
    if ((op.kind & OpKind.Admin) === 0) this.checkLimits(op);
    if (current !== undefined) this.finish(current, 'replace');
    this.runningByRegion.set(regionId, op);
    this.deps.logger.info({ regionId, desc: op.desc, kind: op.kindNames(), steps: op.steps.map(describeStep) }, 'operator started');
    const info = this.deps.regionOf?.(regionId);
    if (info !== undefined) this.dispatch(info);
  }

  private checkLimits(op: Operator): void {
    const config = this.deps.config();
    const limits: ReadonlyArray<readonly [number, number, string]> = [
      [OpKind.Leader, config.leaderScheduleLimit, 'leader-schedule-limit'],
      [OpKind.Region, config.regionScheduleLimit, 'region-schedule-limit'],
      [OpKind.Replica, config.replicaScheduleLimit, 'replica-schedule-limit'],
    ];
    for (const [bit, limit, name] of limits) {
      if ((op.kind & bit) === 0) continue;
      const count = this.opCount(bit);
      if (count >= limit) {
        throw new SchedulerError(SchedulerErrorCode.OperatorRejected, `${name} ${limit} reached (${count} running)`, {
          regionId: op.regionId,
          limit: name,
        });
      }
    }
  }

  /** Ends the region's running operator with `status` (default cancel); the operator, or undefined when none ran. */
  removeOperator(regionId: number, status: OpStatus = 'cancel'): Operator | undefined {
    const op = this.runningByRegion.get(regionId);
    if (op === undefined) return undefined;
    this.finish(op, status === 'running' ? 'cancel' : status);
    return op;
  }

  getRunning(regionId: number): Operator | undefined {
    return this.runningByRegion.get(regionId);
  }

  /** The region's running operator, else the last one that finished (while still in the history). */
  getLatest(regionId: number): Operator | undefined {
    const running = this.runningByRegion.get(regionId);
    if (running !== undefined) return running;
    for (let i = this.finished.length - 1; i >= 0; i--) {
      const op = this.finished[i];
      if (op?.regionId === regionId) return op;
    }
    return undefined;
  }

  running(): Operator[] {
    return [...this.runningByRegion.values()];
  }

  /** Finished operators, oldest first. */
  history(): Operator[] {
    return [...this.finished];
  }

  /** Running operators with this kind bit set. */
  opCount(kindBit: number): number {
    let count = 0;
    for (const op of this.runningByRegion.values()) if ((op.kind & kindBit) !== 0) count++;
    return count;
  }

  /** Called with every accepted region heartbeat: advances the region's operator and sends its current step. */
  dispatch(info: RegionInfo): void {
    const op = this.runningByRegion.get(info.region.id);
    if (op === undefined) return;
    const step = op.check(info);
    if (step === undefined) {
      this.finish(op, 'success');
      return;
    }
    if (op.isTimedOut(this.deps.clock.nowMs())) {
      this.finish(op, 'timeout');
      return;
    }
    if (op.isStale(info)) {
      this.finish(op, 'cancel', 'the region changed under the operator');
      return;
    }
    const command = commandFor(step, info);
    if (command !== undefined && !this.deps.send(info, command)) {
      this.deps.logger.debug({ regionId: op.regionId, step: describeStep(step) }, 'operator step not sent: no stream to the leader');
    }
  }

  /** Times out operators of regions that stopped reporting (dispatch only sees regions that heartbeat). */
  checkTimeouts(): void {
    const nowMs = this.deps.clock.nowMs();
    for (const op of [...this.runningByRegion.values()]) if (op.isTimedOut(nowMs)) this.finish(op, 'timeout');
  }

  private finish(op: Operator, status: Exclude<OpStatus, 'running'>, why?: string): void {
    this.runningByRegion.delete(op.regionId);
    op.status = status;
    op.finishedMs = this.deps.clock.nowMs();
    this.finished.push(op);
    if (this.finished.length > this.historySize) this.finished.shift();
    const fields = { regionId: op.regionId, desc: op.desc, status, tookMs: op.finishedMs - op.createdMs, step: op.stepIndex };
    this.deps.logger.info(why === undefined ? fields : { ...fields, why }, `operator ${status === 'success' ? 'finished' : status}`);
    this.deps.onFinished?.(op);
  }
}

/** The heartbeat command that carries out `step` on `info`'s region; undefined when there is nothing to send now. */
export function commandFor(step: OpStep, info: RegionInfo): HeartbeatCommand | undefined {
  const peers = info.region.peers;
  switch (step.type) {
    case 'add-peer': {
      // Added but still pending (waiting for its snapshot): the store has done its part.
      if (peers.some((p) => p.storeId === step.toStore)) return undefined;
      return { changePeer: { peer: { id: step.peerId, storeId: step.toStore }, changeType: ConfChangeType.AddNode } };
    }
    case 'remove-peer': {
      const peer = peers.find((p) => p.storeId === step.fromStore);
      return peer === undefined ? undefined : { changePeer: { peer, changeType: ConfChangeType.RemoveNode } };
    }
    case 'transfer-leader': {
      const peer = peers.find((p) => p.storeId === step.toStore);
      return peer === undefined ? undefined : { transferLeader: { peer } };
    }
    case 'split-region':
      return {
        splitRegion: {
          policy: step.keys.length > 0 ? CheckPolicy.USEKEY : CheckPolicy.APPROXIMATE,
          keys: step.keys.map((k) => Buffer.from(k)),
        },
      };
  }
}
