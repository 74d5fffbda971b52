/**
 * PD's coordinator (reference §8.2): once the cluster is bootstrapped and most regions reported
 * since start (PrepareChecker, checked every PREPARE_CHECK_INTERVAL_MS), it runs
 *   - each configured scheduler on its own timer: a round asks for an operator up to
 *     MAX_SCHEDULE_RETRIES times unless the scheduler is paused or its kind is at its limit; an
 *     operator added resets the interval to the scheduler's minimum, none grows it (nextIntervalMs)
 *     up to MAX_SCHEDULE_INTERVAL_MS;
 *   - the region patrol: every patrolRegionIntervalMs the next PATROL_BATCH_REGIONS regions (by key,
 *     wrapping) without an operator go through the replica checker;
 * and from the start, every STORE_LIFECYCLE_INTERVAL_MS: operator timeouts, and Offline stores left
 * with no peers become Tombstone.
 *
 * All timing goes through the injected Clock and Timers, so a test drives it with ManualTimers.
 * Work per timer firing is bounded (retries, batch size, store count). A failing scheduler or check
 * is logged (at most once per ERROR_LOG_INTERVAL_MS per loop) and its loop carries on; the others
 * are unaffected. close() stops every timer and waits for rounds in flight.
 */
import type { Logger } from 'pino';
import type { Clock } from '../../env/clock.js';
import type { TimerHandle, Timers } from '../../env/timers.js';
import { StoreState } from '../../proto/metapb.js';
import { RateLimitedLog } from '../../util/rate-limited-log.js';
import type { ClusterState, RegionInfo } from '../cluster-state.js';
import { SchedulerError, SchedulerErrorCode, invalidArgument, isSchedulerError } from '../errors.js';
import type { ScheduleCluster } from './cluster-view.js';
import type { ScheduleConfigStore } from './config-store.js';
import { OpKind, describeStep, type Operator } from './operator.js';
import { canReceive } from './store-filters.js';
import type { OperatorController } from './operator-controller.js';
import type { PrepareChecker } from './prepare-checker.js';
import type { RegionScheduler } from './schedulers/scheduler.js';

export const PREPARE_CHECK_INTERVAL_MS = 3_000;
export const MAX_SCHEDULE_INTERVAL_MS = 5_000;
export const MAX_SCHEDULE_RETRIES = 10;
export const PATROL_BATCH_REGIONS = 128;
export const STORE_LIFECYCLE_INTERVAL_MS = 2_000;
export const ERROR_LOG_INTERVAL_MS = 10_000;
/** A loop whose body threw runs again after this (its own interval is unknown then). */
const RETRY_AFTER_ERROR_MS = 1_000;
const EMPTY_KEY = Buffer.alloc(0);

export interface CoordinatorDeps {
  readonly cluster: ScheduleCluster;
  /** Regions for the patrol and the prepare check, stores for the lifecycle. */
  readonly state: ClusterState;
  readonly controller: OperatorController;
  readonly replicaChecker: { check(cluster: ScheduleCluster, region: RegionInfo): Promise<Operator | undefined> };
  readonly createScheduler: (name: string) => RegionScheduler;
  readonly configStore: ScheduleConfigStore;
  readonly prepareChecker: PrepareChecker;
  readonly isBootstrapped: () => boolean;
  /** Offline with no peers -> Tombstone, persisted (SchedulerCore.tombstoneStore). */
  readonly tombstoneStore: (storeId: number) => Promise<void>;
  /** Logs stores going Down or back Up (SchedulerCore.checkStoreLiveness); optional for tests. */
  readonly checkStoreLiveness?: () => void;
  readonly clock: Clock;
  readonly timers: Timers;
  readonly logger: Logger;
}

/** One periodic task: the timer waiting to run it, or nothing while a round is in flight. */
interface Loop {
  readonly key: string;
  readonly body: () => Promise<number | undefined>;
  readonly errors: RateLimitedLog;
  handle: TimerHandle | undefined;
  stopped: boolean;
}

interface SchedulerRunner {
  readonly scheduler: RegionScheduler;
  readonly loop: Loop;
  intervalMs: number;
}

export class Coordinator {
  private readonly loops = new Set<Loop>();
  private readonly runners = new Map<string, SchedulerRunner>();
  private readonly inflight = new Set<Promise<void>>();
  private scheduling = false;
  private started = false;
  private closed = false;
  private patrolKey: Buffer = EMPTY_KEY;
  private readonly patrolErrors: RateLimitedLog;

  constructor(private readonly deps: CoordinatorDeps) {
    this.patrolErrors = new RateLimitedLog(ERROR_LOG_INTERVAL_MS, () => deps.clock.nowMs());
  }

  /**
   * Starts the lifecycle loop and, unless `schedule` is false, the wait for bootstrap + prepared
   * that starts the schedulers and the patrol. Idempotent.
   */
  start(options: { readonly schedule?: boolean } = {}): void {
    if (this.started || this.closed) return;
    this.started = true;
    this.startLoop('store-lifecycle', 0, () => this.lifecycleRound());
    if (options.schedule ?? true) this.startLoop('prepare', 0, () => Promise.resolve(this.prepareRound()));
  }

  /** Most regions have reported since start, so schedulers run. */
  get isPrepared(): boolean {
    return this.deps.prepareChecker.prepared;
  }

  /** Names of the schedulers with a running timer (configured and known). */
  runningSchedulers(): string[] {
    return [...this.runners.keys()];
  }

  async addScheduler(name: string): Promise<void> {
    if (this.deps.configStore.getScheduler(name)) {
      throw new SchedulerError(SchedulerErrorCode.SchedulerExists, `scheduler ${name} already exists`, { name });
    }
    const scheduler = this.deps.createScheduler(name);
    await this.deps.configStore.putScheduler({ name, pausedUntilMs: 0 });
    if (this.scheduling && !this.closed) this.startRunner(scheduler);
    this.deps.logger.info({ scheduler: name }, 'scheduler added');
  }

  async removeScheduler(name: string): Promise<void> {
    this.requireScheduler(name);
    const runner = this.runners.get(name);
    if (runner) this.stopLoop(runner.loop);
    this.runners.delete(name);
    await this.deps.configStore.removeScheduler(name);
    this.deps.logger.info({ scheduler: name }, 'scheduler removed');
  }

  /** Pauses `name` for `delaySeconds` (0 resumes it). */
  async pauseScheduler(name: string, delaySeconds: number): Promise<void> {
    this.requireScheduler(name);
    if (!Number.isSafeInteger(delaySeconds) || delaySeconds < 0) {
      throw invalidArgument(`pause delay must be a whole number of seconds >= 0, got ${delaySeconds}`);
    }
    const pausedUntilMs = delaySeconds === 0 ? 0 : this.deps.clock.nowMs() + delaySeconds * 1000;
    // The deadline is persisted; one past 2^53 would load as damaged and stop the next start.
    if (!Number.isSafeInteger(pausedUntilMs)) throw invalidArgument(`pause delay ${delaySeconds} s is too long`);
    await this.deps.configStore.putScheduler({ name, pausedUntilMs });
    this.deps.logger.info({ scheduler: name, delaySeconds }, delaySeconds === 0 ? 'scheduler resumed' : 'scheduler paused');
  }

  /** Stops every timer and waits for the rounds in flight. Idempotent. */
  async close(): Promise<void> {
    this.closed = true;
    for (const loop of this.loops) this.stopLoop(loop);
    this.runners.clear();
    await Promise.allSettled([...this.inflight]);
  }

  private requireScheduler(name: string): void {
    if (!this.deps.configStore.getScheduler(name)) {
      throw new SchedulerError(SchedulerErrorCode.SchedulerNotFound, `scheduler ${name} not found`, { name });
    }
  }

  // ---- loops --------------------------------------------------------------------------------

  private startLoop(key: string, firstDelayMs: number, body: () => Promise<number | undefined>): Loop {
    const errors = new RateLimitedLog(ERROR_LOG_INTERVAL_MS, () => this.deps.clock.nowMs());
    const loop: Loop = { key, body, errors, handle: undefined, stopped: false };
    this.loops.add(loop);
    this.arm(loop, firstDelayMs);
    return loop;
  }

  private stopLoop(loop: Loop): void {
    loop.stopped = true;
    if (loop.handle) this.deps.timers.clearTimeout(loop.handle);
    loop.handle = undefined;
    this.loops.delete(loop);
  }

  private arm(loop: Loop, delayMs: number): void {
    if (loop.stopped || this.closed) return;
    loop.handle = this.deps.timers.setTimeout(() => {
      loop.handle = undefined;
      const round = this.runRound(loop);
      this.inflight.add(round);
      void round.finally(() => this.inflight.delete(round));
    }, delayMs);
  }

  private async runRound(loop: Loop): Promise<void> {
    let nextMs: number | undefined;
    try {
      nextMs = await loop.body();
    } catch (err) {
      this.logError(loop, err);
      nextMs = RETRY_AFTER_ERROR_MS;
    }
    if (nextMs === undefined) this.stopLoop(loop);
    else this.arm(loop, nextMs);
  }

  private logError(loop: Loop, err: unknown): void {
    loop.errors.run((suppressed) => this.deps.logger.warn({ err, loop: loop.key, suppressed }, 'scheduling round failed'));
  }

  // ---- rounds -------------------------------------------------------------------------------

  /** Waits for bootstrap and prepared, then starts the schedulers and the patrol; undefined ends the loop. */
  private prepareRound(): number | undefined {
    const { prepareChecker, state, clock } = this.deps;
    if (!this.deps.isBootstrapped() || !prepareChecker.check(clock.nowMs(), state.allRegions())) return PREPARE_CHECK_INTERVAL_MS;
    this.scheduling = true;
    this.deps.logger.info({ regions: state.regionCount }, 'scheduler prepared: scheduling starts');
    for (const entry of this.deps.configStore.schedulers()) {
      try {
        this.startRunner(this.deps.createScheduler(entry.name));
      } catch (err) {
        // A persisted name this version does not know (written by a newer one): keep it, run the rest.
        this.deps.logger.warn({ err, scheduler: entry.name }, 'configured scheduler not started');
      }
    }
    this.startLoop('patrol-regions', 0, () => this.patrolRound());
    return undefined;
  }

  private startRunner(scheduler: RegionScheduler): void {
    if (this.runners.has(scheduler.name)) return;
    const runner: SchedulerRunner = {
      scheduler,
      intervalMs: scheduler.minIntervalMs,
      loop: this.startLoop(`scheduler:${scheduler.name}`, scheduler.minIntervalMs, () => this.schedulerRound(runner)),
    };
    this.runners.set(scheduler.name, runner);
  }

  /** One scheduler's round; the delay before its next one. */
  private async schedulerRound(runner: SchedulerRunner): Promise<number | undefined> {
    const { scheduler } = runner;
    const { cluster, controller, configStore, clock } = this.deps;
    const entry = configStore.getScheduler(scheduler.name);
    if (!entry) return undefined;
    if (entry.pausedUntilMs > clock.nowMs() || !scheduler.isScheduleAllowed(cluster, (bit) => controller.opCount(bit))) {
      return runner.intervalMs;
    }
    let added = false;
    try {
      for (let attempt = 0; attempt < MAX_SCHEDULE_RETRIES && !this.closed; attempt++) {
        const op = await scheduler.schedule(cluster);
        if (op) {
          added = this.tryAddOperator(op, scheduler.name);
          break;
        }
      }
    } catch (err) {
      this.logError(runner.loop, err);
    }
    runner.intervalMs = added ? scheduler.minIntervalMs : Math.min(scheduler.nextIntervalMs(runner.intervalMs), MAX_SCHEDULE_INTERVAL_MS);
    return runner.intervalMs;
  }

  /** Adds a proposed operator; a region already busy or a limit reached is routine, not an error. */
  private tryAddOperator(op: Operator, source: string): boolean {
    if (this.closed) return false;
    try {
      this.deps.controller.addOperator(op);
      return true;
    } catch (err) {
      const routine = isSchedulerError(err) && (err.code === SchedulerErrorCode.OperatorExists || err.code === SchedulerErrorCode.OperatorRejected);
      if (!routine) throw err;
      this.deps.logger.debug({ regionId: op.regionId, source, code: err.code }, 'operator not added');
      return false;
    }
  }

  /** The replica checker over the next batch of regions without an operator. */
  private async patrolRound(): Promise<number> {
    const { state, controller, cluster, replicaChecker, configStore } = this.deps;
    const batch = state.scanRegions(this.patrolKey, EMPTY_KEY, PATROL_BATCH_REGIONS);
    let nextKey: Buffer = EMPTY_KEY;
    let limited = false;
    for (const scanned of batch) {
      if (this.closed) break;
      if (controller.opCount(OpKind.Replica) >= configStore.config().replicaScheduleLimit) {
        // Resume here next round rather than skip regions the checker never saw.
        nextKey = Buffer.from(scanned.region.startKey);
        limited = true;
        break;
      }
      nextKey = Buffer.from(scanned.region.endKey);
      // The tree may have changed during earlier awaits: check what it holds now.
      const region = state.getRegionById(scanned.region.id);
      if (!region || controller.getRunning(region.region.id)) continue;
      try {
        const op = await replicaChecker.check(cluster, region);
        if (op) this.tryAddOperator(op, 'replica-checker');
      } catch (err) {
        // One region the checker fails on must not stop the patrol of the rest.
        this.patrolErrors.run((suppressed) => this.deps.logger.warn({ err, regionId: region.region.id, suppressed }, 'replica check failed'));
      }
    }
    // A short batch reached the end of the key space (so did a last region with an empty end key): wrap.
    this.patrolKey = !limited && batch.length < PATROL_BATCH_REGIONS ? EMPTY_KEY : nextKey;
    return configStore.config().patrolRegionIntervalMs;
  }

  /**
   * Cancels operators whose remaining steps move a peer or a leader onto a store that can no
   * longer take it (Down, Disconnected, Offline, gone): they could only wait out their timeout, ten
   * minutes for a peer move, while holding the region (the replica checker skips regions with an
   * operator, so a region moving a replica to a store that just died would not be repaired).
   */
  private cancelBlockedOperators(): void {
    const { cluster, controller, logger } = this.deps;
    for (const op of controller.running()) {
      const blocked = op.steps.slice(op.stepIndex).find((step) => {
        if (step.type !== 'add-peer' && step.type !== 'transfer-leader') return false;
        const store = cluster.getStore(step.toStore);
        return store === undefined || !canReceive(cluster, store);
      });
      if (!blocked) continue;
      controller.removeOperator(op.regionId, 'cancel');
      logger.info({ regionId: op.regionId, desc: op.desc, step: describeStep(blocked) }, 'operator cancelled: its target store cannot take it');
    }
  }

  /** Operator timeouts, stores seen Down or back Up, and Offline stores with no peers left become Tombstone. */
  private async lifecycleRound(): Promise<number> {
    this.deps.controller.checkTimeouts();
    this.cancelBlockedOperators();
    this.deps.checkStoreLiveness?.();
    for (const store of this.deps.state.getStores({ excludeTombstones: true })) {
      if (this.closed) break;
      if (store.store.state !== StoreState.Offline || store.regionCount > 0) continue;
      await this.deps.tombstoneStore(store.store.id);
      this.deps.logger.info({ storeId: store.store.id }, 'offline store has no peers left: tombstone');
    }
    return STORE_LIFECYCLE_INTERVAL_MS;
  }
}
