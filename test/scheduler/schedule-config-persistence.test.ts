/** The schedule config and scheduler list survive a restart; --max-store-down-time overrides and is persisted. */
import { afterEach, describe, expect, it } from 'vitest';
import { Command } from 'commander';
import { MemoryEngine } from '../../src/engine/memory-engine.js';
import { silentLogger } from '../../src/log/logger.js';
import { registerSchedulerCommand } from '../../src/cli/scheduler-command.js';
import { startScheduler, type SchedulerHandle } from '../../src/scheduler/scheduler-server.js';
import { ScheduleConfigStore } from '../../src/scheduler/schedule/config-store.js';
import { DEFAULT_SCHEDULE_CONFIG, DEFAULT_SCHEDULERS } from '../../src/scheduler/schedule/schedule-config.js';
import { KEY_SCHEDULE_CONFIG, KEY_SCHEDULERS, SchedulerStore } from '../../src/scheduler/store.js';
import { tempDir } from '../helpers/tmp.js';

describe('schedule config across restarts', () => {
  const handles: SchedulerHandle[] = [];
  afterEach(async () => {
    for (const handle of handles.splice(0)) await handle.close();
  });

  async function start(engine: MemoryEngine, maxStoreDownTimeMs?: number): Promise<SchedulerHandle> {
    const handle = await startScheduler({ addr: '127.0.0.1:0', engine, maxStoreDownTimeMs, logger: silentLogger() });
    handles.push(handle);
    return handle;
  }

  it('starts with the defaults and keeps what an operator set', async () => {
    const engine = new MemoryEngine();
    const first = await start(engine);
    expect(first.admin.config()).toEqual(DEFAULT_SCHEDULE_CONFIG);
    expect(first.admin.schedulers()).toEqual(DEFAULT_SCHEDULERS.map((name) => ({ name, pausedUntilMs: 0 })));
    await first.admin.setConfig({ maxReplicas: 5, regionScheduleLimit: 8 });
    await first.admin.removeScheduler('balance-leader-scheduler');
    await first.admin.pauseScheduler('balance-region-scheduler', 3600);
    const paused = first.admin.schedulers();
    await first.close();

    const second = await start(engine);
    expect(second.admin.config()).toEqual({ ...DEFAULT_SCHEDULE_CONFIG, maxReplicas: 5, regionScheduleLimit: 8 });
    expect(second.admin.schedulers()).toEqual(paused);
    await second.admin.addScheduler('balance-leader-scheduler');
    await second.close();

    const third = await start(engine);
    expect(third.admin.schedulers().map((e) => e.name)).toEqual(['balance-region-scheduler', 'balance-leader-scheduler']);
  });

  it('--max-store-down-time replaces the persisted value and is persisted', async () => {
    const engine = new MemoryEngine();
    const first = await start(engine, 90_000);
    expect(first.admin.config().maxStoreDownTimeMs).toBe(90_000);
    await first.close();
    const second = await start(engine);
    expect(second.admin.config().maxStoreDownTimeMs).toBe(90_000);
    await second.admin.setConfig({ maxStoreDownTimeMs: 120_000 });
    await second.close();
    const third = await start(engine, 60_000);
    expect(third.admin.config().maxStoreDownTimeMs).toBe(60_000);
  });

  it('refuses damaged persisted config and ignores fields it does not know', async () => {
    const engine = new MemoryEngine();
    await engine.write([{ type: 'put', cf: 'meta', key: KEY_SCHEDULE_CONFIG, value: Buffer.from('{"maxReplicas":5,"futureKnob":1}') }]);
    const store = new SchedulerStore(engine);
    expect((await ScheduleConfigStore.open(store)).config().maxReplicas).toBe(5);
    await engine.write([{ type: 'put', cf: 'meta', key: KEY_SCHEDULE_CONFIG, value: Buffer.from('{"maxReplicas":0}') }]);
    await expect(ScheduleConfigStore.open(store)).rejects.toThrow(/maxReplicas/);
    await engine.write([{ type: 'put', cf: 'meta', key: KEY_SCHEDULE_CONFIG, value: Buffer.from('{}') }]);
    await engine.write([{ type: 'put', cf: 'meta', key: KEY_SCHEDULERS, value: Buffer.from('[{"name":1}]') }]);
    await expect(ScheduleConfigStore.open(store)).rejects.toThrow(/damaged/);
    await engine.write([{ type: 'put', cf: 'meta', key: KEY_SCHEDULERS, value: Buffer.from('not json') }]);
    await expect(ScheduleConfigStore.open(store)).rejects.toThrow(/JSON/);
  });

  it('tinykv scheduler --max-store-down-time sets the value on LMDB', async () => {
    const dir = tempDir('tinykv-scheduler-config-');
    try {
      let stop!: () => void;
      const shutdownSignal = new Promise<void>((resolve) => (stop = resolve));
      let onListening!: (s: SchedulerHandle) => void;
      const listening = new Promise<SchedulerHandle>((resolve) => (onListening = resolve));
      const program = new Command('tinykv').exitOverride().configureOutput({ writeErr: () => {}, writeOut: () => {} });
      registerSchedulerCommand(program, () => {}, { logger: silentLogger(), shutdownSignal, onListening });
      const args = ['scheduler', '--addr', '127.0.0.1:0', '--data-dir', dir.path, '--max-store-down-time', '45s'];
      const done = program.parseAsync(args, { from: 'user' });
      const scheduler = await listening;
      expect(scheduler.admin.config().maxStoreDownTimeMs).toBe(45_000);
      stop();
      await done;
    } finally {
      dir.cleanup();
    }
  });
});
