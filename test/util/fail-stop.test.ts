// The default fatal action: one `fatal` line with the reason reaches stderr (pino writes
// asynchronously, so it is flushed first), then the process exits with code 70.
import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { registerSchedulerCommand } from '../../src/cli/scheduler-command.js';
import { silentLogger } from '../../src/log/logger.js';
import type { SchedulerHandle } from '../../src/scheduler/scheduler-server.js';
import { FATAL_EXIT_CODE } from '../../src/util/fail-stop.js';
import { tempDir } from '../helpers/tmp.js';
import { defined } from '../../src/util/assert.js';

const dist = (path: string) => pathToFileURL(resolve('dist/src', path)).href;

function runScript(script: string): { status: number | null; stderr: string } {
  const result = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 30_000 });
  return { status: result.status, stderr: result.stderr };
}

describe('fail-stop', () => {
  it('logs one fatal line with the reason and exits 70', () => {
    const { status, stderr } = runScript(`
      import { createLogger } from '${dist('log/logger.js')}';
      import { exitOnFatal } from '${dist('util/fail-stop.js')}';
      const fatal = exitOnFatal(createLogger('info'));
      // Keep the event loop busy: the exit must not wait for it.
      setInterval(() => {}, 1000);
      fatal('raft poller 0 failed', new Error('Input/output error'));
      fatal('a second report', new Error('ignored'));
    `);
    expect(status).toBe(FATAL_EXIT_CODE);
    const lines = stderr.split('\n').filter((line) => line.includes('"level":60'));
    expect(lines).toHaveLength(1);
    const line = JSON.parse(defined(lines[0], 'lines[0]'));
    expect(line.msg).toBe('fatal: raft poller 0 failed; stopping the process');
    expect(line.err.message).toBe('Input/output error');
  });

  it.each([
    ['an unhandled rejection', 'Promise.reject(new Error("lost promise"));', 'unhandled promise rejection', 'lost promise'],
    ['an uncaught exception', 'setTimeout(() => { throw new Error("thrown in a timer"); }, 0);', 'uncaught exception', 'thrown in a timer'],
  ])('installProcessFailStop turns %s into one fatal line and exit 70', (_what, fault, reason, message) => {
    const { status, stderr } = runScript(`
      import { createLogger } from '${dist('log/logger.js')}';
      import { installProcessFailStop } from '${dist('util/fail-stop.js')}';
      installProcessFailStop(createLogger('info'));
      setInterval(() => {}, 1000);
      ${fault}
    `);
    expect(status).toBe(FATAL_EXIT_CODE);
    const lines = stderr.split('\n').filter((line) => line.includes('"level":60'));
    expect(lines).toHaveLength(1);
    const line = JSON.parse(defined(lines[0], 'lines[0]'));
    expect(line.msg).toBe(`fatal: ${reason}; stopping the process`);
    expect(line.err.message).toBe(message);
  });

  it('tinykv scheduler installs the process fail-stop while it runs and removes it when it stops', async () => {
    const dir = tempDir('tinykv-scheduler-failstop-');
    const before = new Set(process.listeners('unhandledRejection'));
    const fatals: Array<{ reason: string; err: unknown }> = [];
    let stop!: () => void;
    const shutdownSignal = new Promise<void>((resolve) => (stop = resolve));
    let onListening!: (s: SchedulerHandle) => void;
    const listening = new Promise<SchedulerHandle>((resolve) => (onListening = resolve));
    const program = new Command('tinykv').exitOverride().configureOutput({ writeErr: () => {}, writeOut: () => {} });
    registerSchedulerCommand(program, () => {}, {
      logger: silentLogger(),
      shutdownSignal,
      onListening,
      onFatal: (reason, err) => fatals.push({ reason, err }),
    });
    const done = program.parseAsync(['scheduler', '--addr', '127.0.0.1:0', '--data-dir', dir.path], { from: 'user' });
    try {
      await listening;
      const added = process.listeners('unhandledRejection').filter((listener) => !before.has(listener));
      expect(added).toHaveLength(1);
      // Called directly: a real unhandled rejection would also fail this test run through vitest's own hook.
      const lost = new Error('lost promise');
      (added[0] as (reason: unknown) => void)(lost);
      expect(fatals).toEqual([{ reason: 'unhandled promise rejection', err: lost }]);
    } finally {
      stop();
      await done;
      dir.cleanup();
    }
    expect(process.listeners('unhandledRejection').filter((listener) => !before.has(listener))).toEqual([]);
  }, 30_000);
});
