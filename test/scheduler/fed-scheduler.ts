/**
 * A real scheduler (memory engine, ManualClock + ManualTimers so nothing moves unless the test
 * says so) with its admin HTTP server, bootstrapped over fake stores that register, heartbeat
 * and report their regions over gRPC (fake-stores.ts). For the metrics and dashboard tests.
 */
import { ManualClock } from '../../src/env/clock.js';
import { ManualTimers } from '../../src/env/timers.js';
import { startScheduler, type SchedulerHandle } from '../../src/scheduler/scheduler-server.js';
import { defined } from '../../src/util/assert.js';
import { FakeCluster, until } from './fake-stores.js';

export const START_MS = 1_700_000_000_000;

export interface FedScheduler {
  readonly scheduler: SchedulerHandle;
  readonly fake: FakeCluster;
  readonly clock: ManualClock;
  readonly timers: ManualTimers;
  /** http://host:port of the admin HTTP server. */
  readonly base: string;
  close(): Promise<void>;
}

/** `stores` stores registered and heartbeating, `regions` regions with leaders spread over them, all reported. */
export async function startFedScheduler(options: { stores: number; regions: number }): Promise<FedScheduler> {
  const clock = new ManualClock(START_MS);
  const timers = new ManualTimers(clock);
  const scheduler = await startScheduler({
    addr: '127.0.0.1:0',
    statusAddr: '127.0.0.1:0',
    engine: 'memory',
    initialStores: options.stores,
    initialRegions: options.regions,
    autoSchedule: false,
    clock,
    timers,
  });
  const fake = await FakeCluster.connect(scheduler);
  const ids: number[] = [];
  for (let i = 0; i < options.stores; i++) ids.push((await fake.addStore()).id);
  await until(() => scheduler.core.isBootstrapped, 'bootstrap');
  fake.adoptRegions((index) => defined(ids[index % ids.length], 'leader store'));
  for (const id of ids) await fake.storeHeartbeat(id);
  await fake.reportAll();
  return {
    scheduler,
    fake,
    clock,
    timers,
    base: `http://${defined(scheduler.statusAddr, 'status addr')}`,
    close: async () => {
      fake.close();
      await scheduler.close();
    },
  };
}
