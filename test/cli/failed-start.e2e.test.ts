// A start that fails is all or nothing: real `tinykv server` processes whose address is taken,
// whose flags or config are bad, or whose scheduler refuses them stop everything they started and
// exit promptly with one line (exit 1, or 2 for usage and configuration), without a stack trace
// unless --log-level debug.
import { osThreads, takePort } from '../helpers/os.js';
import type { ChildProcess } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import type { Server as NetServer } from 'node:net';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/config.js';
import { silentLogger } from '../../src/log/logger.js';
import { startScheduler } from '../../src/scheduler/scheduler-server.js';
import { ClusterNode } from '../../src/server/cluster-node.js';
import { startSchedulerProcess, runCli, type CliResult } from '../helpers/cli-process.js';
import { tempDir } from '../helpers/tmp.js';

const dirs: Array<ReturnType<typeof tempDir>> = [];
const children: ChildProcess[] = [];
const blockers: NetServer[] = [];

afterEach(async () => {
  for (const blocker of blockers.splice(0)) await new Promise((resolve) => blocker.close(resolve));
});

afterAll(() => {
  for (const child of children) child.kill('SIGKILL');
  for (const dir of dirs) dir.cleanup();
});

function newDir(): string {
  const dir = tempDir('tinykv-failed-start-');
  dirs.push(dir);
  return dir.path;
}

async function startSchedulerAt(dataDir: string): Promise<string> {
  return (await startSchedulerProcess(dataDir, 1, (child) => children.push(child))).addr;
}

async function waitFor(done: () => boolean, timeoutMs: number): Promise<void> {
  for (const deadline = Date.now() + timeoutMs; !done() && Date.now() < deadline;) await new Promise((r) => setTimeout(r, 50));
}

/** The stderr lines that are not JSON log lines: what a person reads. */
function plainLines(stderr: string): string[] {
  return stderr.split('\n').filter((line) => line.trim() !== '' && !line.startsWith('{'));
}

/** Exit code, promptness and the one-line report of a failed start. */
async function expectOneLineFailure(args: string[], code: number, message: RegExp, withinMs: number): Promise<CliResult> {
  const started = Date.now();
  // runCli's own timeout (SIGKILL) is well past `withinMs`, so a hang shows as a slow exit.
  const result = await runCli(args, withinMs + 30_000);
  const tookMs = Date.now() - started;
  expect(result.code, result.stderr).toBe(code); // a number: the process was not killed by a signal
  expect(plainLines(result.stderr), result.stderr).toEqual([expect.stringMatching(message)]);
  expect(result.stderr).not.toMatch(/^\s+at /m);
  expect(result.stderr).not.toContain('napi_throw');
  expect(result.stderr).not.toContain('FATAL ERROR');
  expect(tookMs, result.stderr).toBeLessThan(withinMs);
  return result;
}

describe('a failed start stops everything and exits with one line', () => {
  it('standalone: address taken -> exit 1 promptly, one line, no stack trace', async () => {
    const addr = await takePort(blockers);
    const dataDir = newDir();
    await expectOneLineFailure(
      ['server', '--standalone', '--addr', addr, '--data-dir', dataDir],
      1,
      new RegExp(`^error: cannot listen on ${addr}: address already in use`),
      15_000,
    );
    // The data directory lock went with it.
    expect(existsSync(join(dataDir, 'tinykv.pid'))).toBe(false);
  });

  it('cluster: address taken after the raft pollers started -> pollers stopped before the engines closed, exit 1 promptly', async () => {
    const scheduler = await startSchedulerAt(join(newDir(), 'scheduler'));
    const addr = await takePort(blockers);
    const dataDir = newDir();
    // Two pollers and an apply thread are running (and using LMDB) when the bind fails.
    await expectOneLineFailure(
      ['server', '--scheduler', scheduler, '--addr', addr, '--data-dir', dataDir, '--raft-pollers', '2'],
      1,
      new RegExp(`^error: cannot listen on ${addr}: address already in use`),
      20_000,
    );
    expect(existsSync(join(dataDir, 'tinykv.pid'))).toBe(false);
  });

  it('cluster: address taken with --raft-pollers 0 (peers on the main thread) -> exit 1 promptly', async () => {
    const scheduler = await startSchedulerAt(join(newDir(), 'scheduler'));
    const addr = await takePort(blockers);
    await expectOneLineFailure(
      ['server', '--scheduler', scheduler, '--addr', addr, '--data-dir', newDir(), '--raft-pollers', '0'],
      1,
      /^error: cannot listen on .*address already in use/,
      20_000,
    );
  });

  it('scheduler and embedded scheduler: address taken -> exit 1 promptly with one line', async () => {
    const addr = await takePort(blockers);
    await expectOneLineFailure(
      ['scheduler', '--addr', addr, '--data-dir', newDir()],
      1,
      new RegExp(`^error: cannot listen on ${addr}: address already in use`),
      15_000,
    );
    const dataDir = newDir();
    await expectOneLineFailure(
      ['server', '--embedded-scheduler', addr, '--addr', '127.0.0.1:0', '--data-dir', dataDir],
      1,
      new RegExp(`^error: cannot listen on ${addr}: address already in use`),
      15_000,
    );
    expect(existsSync(join(dataDir, 'tinykv.pid'))).toBe(false);
  });

  it('--log-level debug adds the stack trace', async () => {
    const addr = await takePort(blockers);
    const result = await runCli(['server', '--standalone', '--addr', addr, '--data-dir', newDir(), '--log-level', 'debug']);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`error: cannot listen on ${addr}`);
    expect(result.stderr).toMatch(/^\s+at /m);
  });

  it('bad flags and bad config -> exit 2 with one line', async () => {
    const dir = newDir();
    await expectOneLineFailure(['server', '--raft-pollers', 'abc', '--data-dir', dir], 2, /expected a positive integer, got "abc"/, 15_000);
    await expectOneLineFailure(['server', '--config', join(dir, 'missing.toml'), '--data-dir', dir], 2, /^error: cannot read config file/, 15_000);
    writeFileSync(join(dir, 'bad.toml'), '[raftstore]\nraft-pollers = "many"\n');
    await expectOneLineFailure(
      ['server', '--config', join(dir, 'bad.toml'), '--data-dir', dir],
      2,
      /^error: .*raftstore.raft-pollers must be an integer/,
      15_000,
    );
    await expectOneLineFailure(
      ['server', '--scheduler', '127.0.0.1:1', '--embedded-scheduler', '--data-dir', dir],
      2,
      /^error: give --scheduler or --embedded-scheduler/,
      15_000,
    );
  });
});

describe('a scheduler that refuses the store', () => {
  it('aborts ClusterNode.start after the pollers started, stops them, closes the engines and frees the data directory', async () => {
    const scheduler = await startScheduler({ addr: '127.0.0.1:0', engine: 'memory', initialStores: 1, logger: silentLogger() });
    try {
      const dataDir = newDir();
      // Many threads, so that threads left running show in the process's thread count.
      const config = loadConfig({
        overrides: {
          standalone: false,
          scheduler: scheduler.addr,
          addr: '127.0.0.1:0',
          dataDir,
          raftPollers: 6,
          applyPollers: 6,
          logLevel: 'silent',
        },
      });
      // What the scheduler answers for an address another store has registered.
      const putStore = scheduler.core.putStore.bind(scheduler.core);
      let threadsWhileStarting = 0;
      scheduler.core.putStore = () => {
        threadsWhileStarting = osThreads();
        return Promise.reject(new Error('address 127.0.0.1:1 is already registered by store 99'));
      };
      const threadsBefore = osThreads();
      await expect(ClusterNode.start(config, silentLogger())).rejects.toThrow(/already registered by store 99/);
      expect(existsSync(join(dataDir, 'tinykv.pid'))).toBe(false);
      if (threadsBefore > 0) {
        // The 12 raft/apply threads were up when PutStore was refused, and are gone after.
        expect(threadsWhileStarting).toBeGreaterThanOrEqual(threadsBefore + 12);
        await waitFor(() => osThreads() < threadsBefore + 6, 10_000);
        expect(osThreads()).toBeLessThan(threadsBefore + 6);
      }

      // Everything was released: the same data directory starts and serves once the scheduler agrees.
      scheduler.core.putStore = putStore;
      const node = await ClusterNode.start(config, silentLogger());
      expect(node.storeId).toBeGreaterThan(0);
      await node.close();
    } finally {
      await scheduler.close();
    }
  });
});
