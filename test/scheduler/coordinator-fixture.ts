/** A coordinator over a real ClusterState, config store and controller, driven by ManualTimers; fake schedulers and checker. */
import { ManualClock } from '../../src/env/clock.js';
import { ManualTimers } from '../../src/env/timers.js';
import { MemoryEngine } from '../../src/engine/memory-engine.js';
import { silentLogger } from '../../src/log/logger.js';
import { StoreState } from '../../src/proto/metapb.js';
import { ClusterState, type RegionInfo } from '../../src/scheduler/cluster-state.js';
import { SchedulerError, SchedulerErrorCode } from '../../src/scheduler/errors.js';
import { CoreScheduleCluster } from '../../src/scheduler/schedule/cluster-view-impl.js';
import type { ScheduleCluster } from '../../src/scheduler/schedule/cluster-view.js';
import { ScheduleConfigStore } from '../../src/scheduler/schedule/config-store.js';
import { Coordinator } from '../../src/scheduler/schedule/coordinator.js';
import { OperatorController } from '../../src/scheduler/schedule/operator-controller.js';
import { type Operator } from '../../src/scheduler/schedule/operator.js';
import { PrepareChecker } from '../../src/scheduler/schedule/prepare-checker.js';
import type { RegionScheduler } from '../../src/scheduler/schedule/schedulers/scheduler.js';
import { SchedulerStore } from '../../src/scheduler/store.js';
import { region, store } from './helpers.js';

export const START_MS = 1_000_000;

/** A scheduler whose rounds are recorded; `propose` decides each try's operator. */
export class FakeScheduler implements RegionScheduler {
  readonly type = 'fake';
  readonly minIntervalMs = 10;
  /** Clock time of every schedule() call. */
  readonly calls: number[] = [];
  allowed: (opCount: (bit: number) => number) => boolean = () => true;
  propose: (cluster: ScheduleCluster) => Operator | undefined = () => undefined;

  constructor(readonly name: string) {}

  nextIntervalMs(previousMs: number): number {
    return previousMs * 2;
  }

  isScheduleAllowed(_cluster: ScheduleCluster, opCount: (kindBit: number) => number): boolean {
    return this.allowed(opCount);
  }

  schedule(cluster: ScheduleCluster): Promise<Operator | undefined> {
    this.calls.push(cluster.nowMs());
    return Promise.resolve(this.propose(cluster));
  }
}

export interface FixtureOptions {
  readonly stores?: number;
  /** Regions loaded as if from storage (not reported, so the cluster is not fresh). */
  readonly loadedRegions?: number;
  readonly schedulerNames?: readonly string[];
  /** Whether the cluster is bootstrapped (default: yes); the test may flip it. */
  readonly bootstrapped?: { value: boolean };
}

export async function coordinatorFixture(options: FixtureOptions = {}) {
  const clock = new ManualClock(START_MS);
  const timers = new ManualTimers(clock);
  const logger = silentLogger();
  const state = new ClusterState(clock);
  for (let id = 1; id <= (options.stores ?? 3); id++) state.loadStore(store(id));
  const loaded = options.loadedRegions ?? 0;
  for (let i = 0; i < loaded; i++) state.loadRegion(regionAt(i, loaded));
  const configStore = await ScheduleConfigStore.open(new SchedulerStore(new MemoryEngine()));
  const controller = new OperatorController({ clock, send: () => true, config: () => configStore.config(), logger });
  const cluster = new CoreScheduleCluster({ state, config: () => configStore.config(), allocId: () => Promise.resolve(1), clock, random: () => 0 });
  const schedulers = new Map<string, FakeScheduler>();
  const createScheduler = (name: string): FakeScheduler => {
    if (!(options.schedulerNames ?? ['a-scheduler', 'b-scheduler', 'balance-region-scheduler', 'balance-leader-scheduler']).includes(name)) {
      throw new SchedulerError(SchedulerErrorCode.SchedulerNotFound, `unknown scheduler ${name}`);
    }
    const scheduler = schedulers.get(name) ?? new FakeScheduler(name);
    schedulers.set(name, scheduler);
    return scheduler;
  };
  const checked: number[] = [];
  const checker = { propose: (_region: RegionInfo): Operator | undefined => undefined };
  const tombstoned: number[] = [];
  const prepareChecker = new PrepareChecker({ startMs: START_MS, loadedRegionCount: loaded });
  const coordinator = new Coordinator({
    cluster,
    state,
    controller,
    replicaChecker: {
      check: (_c, r) => {
        checked.push(r.region.id);
        return Promise.resolve(checker.propose(r));
      },
    },
    createScheduler,
    configStore,
    prepareChecker,
    isBootstrapped: () => options.bootstrapped?.value ?? true,
    tombstoneStore: (storeId) => {
      tombstoned.push(storeId);
      const info = state.getStore(storeId);
      if (info) state.loadStore({ ...info.store, state: StoreState.Tombstone });
      return Promise.resolve();
    },
    clock,
    timers,
    logger,
  });
  return { clock, timers, state, configStore, controller, cluster, coordinator, schedulers, createScheduler, checked, checker, tombstoned };
}

/** Region `i` of `count` covering the key space in order, peers on stores 1-3, ids from 1. */
export function regionAt(i: number, count: number) {
  const start = i === 0 ? '' : `r${String(i).padStart(5, '0')}`;
  const end = i === count - 1 ? '' : `r${String(i + 1).padStart(5, '0')}`;
  const id = i + 1;
  return region(id, start, end, { confVer: 1, version: 1 }, [
    [id * 10 + 1, 1],
    [id * 10 + 2, 2],
    [id * 10 + 3, 3],
  ]);
}
