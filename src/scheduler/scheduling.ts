/**
 * Assembles what makes the scheduler schedule, over an open SchedulerCore: the persisted schedule
 * config, the cluster view, the operator controller, the coordinator (started here; it waits for
 * bootstrap and prepared by itself) and the admin surface. scheduler-server.ts owns the result and
 * closes the coordinator before anything else.
 */
import type { Logger } from 'pino';
import type { Clock } from '../env/clock.js';
import type { Timers } from '../env/timers.js';
import type { Engine } from '../engine/engine.js';
import type { SchedulerAdmin } from './admin.js';
import { SchedulerAdminImpl } from './admin-impl.js';
import type { SchedulerCore } from './core.js';
import { ReplicaChecker } from './schedule/checkers/replica-checker.js';
import { CoreScheduleCluster } from './schedule/cluster-view-impl.js';
import { ScheduleConfigStore } from './schedule/config-store.js';
import { Coordinator } from './schedule/coordinator.js';
import type { OperatorController } from './schedule/operator-controller.js';
import { PrepareChecker } from './schedule/prepare-checker.js';
import { createScheduler } from './schedule/schedulers/scheduler.js';
import { SchedulerStore } from './store.js';

export interface SchedulingDeps {
  readonly core: SchedulerCore;
  /** The engine the core persists to (the schedule config lives beside its state). */
  readonly engine: Engine;
  readonly clock: Clock;
  readonly timers: Timers;
  readonly random: () => number;
  readonly logger: Logger;
  /** `--max-store-down-time`: replaces the persisted value (and is persisted) when given. */
  readonly maxStoreDownTimeMs?: number;
  readonly advertiseAddr: () => string;
  /** False: no scheduler or replica checker runs (StartSchedulerOptions.autoSchedule). */
  readonly autoSchedule?: boolean;
}

export interface Scheduling {
  readonly controller: OperatorController;
  readonly coordinator: Coordinator;
  readonly admin: SchedulerAdmin;
  readonly configStore: ScheduleConfigStore;
}

/** Call right after SchedulerCore.open, before any heartbeat: the regions known now are the ones loaded from storage. */
export async function openScheduling(deps: SchedulingDeps): Promise<Scheduling> {
  const { core, clock, logger } = deps;
  const store = new SchedulerStore(deps.engine);
  const configStore = await ScheduleConfigStore.open(store, { maxStoreDownTimeMs: deps.maxStoreDownTimeMs });
  const config = () => configStore.config();
  const cluster = new CoreScheduleCluster({
    state: core.state,
    config,
    allocId: () => core.allocId(),
    clock,
    random: deps.random,
    runningOperators: () => controller.running(),
  });
  // The core's controller: it sees every accepted heartbeat (dispatch).
  const controller = core.operators;
  const coordinator = new Coordinator({
    cluster,
    state: core.state,
    controller,
    replicaChecker: new ReplicaChecker(),
    createScheduler,
    configStore,
    prepareChecker: new PrepareChecker({ startMs: clock.nowMs(), loadedRegionCount: core.state.regionCount }),
    isBootstrapped: () => core.isBootstrapped,
    tombstoneStore: (storeId) => core.tombstoneStore(storeId),
    checkStoreLiveness: () => core.checkStoreLiveness(),
    clock,
    timers: deps.timers,
    logger: logger.child({ module: 'coordinator' }),
  });
  let bootstrapTimeMs: number | undefined;
  const admin = new SchedulerAdminImpl({
    core,
    controller,
    coordinator,
    configStore,
    cluster,
    clock,
    // Written once at bootstrap; read lazily so a scheduler started before bootstrap sees it later.
    bootstrapTimeMs: () => (bootstrapTimeMs ??= core.isBootstrapped ? store.loadBootstrapTimeMs() : undefined),
    advertiseAddr: deps.advertiseAddr,
  });
  coordinator.start({ schedule: deps.autoSchedule ?? true });
  logger.info({ config: configStore.config(), schedulers: configStore.schedulers() }, 'schedule config loaded');
  return { controller, coordinator, admin, configStore };
}
