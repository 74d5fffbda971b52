/** `tinykv scheduler` driven in-process through registerSchedulerCommand on a fresh commander program. */
import { afterEach, describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Command, CommanderError } from 'commander';
import { ConfigError } from '../../src/config/config.js';
import { silentLogger } from '../../src/log/logger.js';
import { defaultStatusAddr, registerSchedulerCommand, splitKeysFromFlags } from '../../src/cli/scheduler-command.js';
import { UsageError } from '../../src/cli/output.js';
import type { SchedulerHandle } from '../../src/scheduler/scheduler-server.js';
import { SchedulerClient } from '../../src/client/scheduler-client.js';
import { evenSplitKeys } from '../../src/scheduler/bootstrap.js';
import { tempDir } from '../helpers/tmp.js';
import { key, store } from './helpers.js';
import { createServer, type AddressInfo } from 'node:net';
import { startScheduler } from '../../src/scheduler/scheduler-server.js';

interface Run {
  readonly printed: string[];
  readonly done: Promise<void>;
  readonly listening: Promise<SchedulerHandle>;
  stop(): void;
}

function runCommand(args: string[]): Run {
  const printed: string[] = [];
  let stop!: () => void;
  const shutdownSignal = new Promise<void>((resolve) => (stop = resolve));
  let onListening!: (s: SchedulerHandle) => void;
  const listening = new Promise<SchedulerHandle>((resolve) => (onListening = resolve));
  const program = new Command('tinykv').exitOverride().configureOutput({ writeErr: () => {}, writeOut: () => {} });
  registerSchedulerCommand(program, (text) => printed.push(text), { logger: silentLogger(), shutdownSignal, onListening });
  const done = program.parseAsync(['scheduler', ...args], { from: 'user' }).then(() => undefined);
  return { printed, done, listening, stop };
}

describe('tinykv scheduler command', () => {
  const cleanups: Array<() => void> = [];
  afterEach(() => {
    for (const fn of cleanups.splice(0)) fn();
  });

  it('serves on the given address, bootstraps K regions on N stores, persists, and stops cleanly', async () => {
    const dir = tempDir('tinykv-scheduler-cli-');
    cleanups.push(dir.cleanup);
    const run = runCommand(['--addr', '127.0.0.1:0', '--data-dir', dir.path, '--initial-stores', '2', '--split-keys', 'b,c,d']);
    const scheduler = await run.listening;
    // The admin API's line follows.
    expect(run.printed[0]).toBe(`tinykv scheduler listening on ${scheduler.addr}`);
    expect(scheduler.addr).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(existsSync(join(dir.path, 'tinykv.pid'))).toBe(true);
    const client = await SchedulerClient.connect(scheduler.addr);
    try {
      await client.putStore(store(1));
      await client.putStore(store(2));
      const regions = await client.scanRegions(key(''));
      expect(regions.map((r) => r.region.endKey.toString())).toEqual(['b', 'c', 'd', '']);
      expect(regions.every((r) => r.region.peers.length === 2)).toBe(true);
    } finally {
      client.close();
    }
    run.stop();
    await run.done;
    expect(existsSync(join(dir.path, 'tinykv.pid'))).toBe(false);

    // A second run on the same data dir keeps the cluster.
    const again = runCommand(['--addr', '127.0.0.1:0', '--data-dir', dir.path]);
    const restarted = await again.listening;
    expect(restarted.clusterId).toBe(scheduler.clusterId);
    expect(restarted.core.isBootstrapped).toBe(true);
    expect(restarted.core.state.regionCount).toBe(4);
    again.stop();
    await again.done;
  });

  it('serves the admin HTTP API on --status-addr, port + 1 by default', async () => {
    expect(defaultStatusAddr('127.0.0.1:2379')).toBe('127.0.0.1:2380');
    expect(defaultStatusAddr('[::1]:0')).toBe('[::1]:0');
    expect(() => defaultStatusAddr('127.0.0.1:65535')).toThrow(ConfigError);
    const run = runCommand(['--engine', 'memory', '--addr', '127.0.0.1:0', '--status-addr', '127.0.0.1:0']);
    await run.listening;
    const url = /admin API on (\S+)/.exec(run.printed[1] ?? '')?.[1];
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/pd\/api\/v1$/);
    const health = await fetch(`${url}/health`);
    expect(health.status).toBe(200);
    run.stop();
    await run.done;
    await expect(fetch(`${url}/health`)).rejects.toThrow();
  });

  it('a taken --status-addr fails the start and releases the gRPC port', async () => {
    const listenOn = async (port: number) => {
      const server = createServer();
      await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
      return server;
    };
    const blocker = await listenOn(0);
    const taken = `127.0.0.1:${(blocker.address() as AddressInfo).port}`;
    const probe = await listenOn(0);
    const grpcAddr = `127.0.0.1:${(probe.address() as AddressInfo).port}`;
    await new Promise((resolve) => probe.close(resolve));
    try {
      const failed = startScheduler({ addr: grpcAddr, engine: 'memory', statusAddr: taken, logger: silentLogger() });
      await expect(failed).rejects.toThrow(`cannot listen on ${taken}: address already in use`);
      // The same gRPC address again: the failed start let it go.
      const again = await startScheduler({ addr: grpcAddr, engine: 'memory', statusAddr: '127.0.0.1:0', logger: silentLogger() });
      expect(again.statusAddr).toMatch(/^127\.0\.0\.1:\d+$/);
      await again.close();
    } finally {
      blocker.close();
    }
  });

  it('refuses invalid flags (exit code 2 in main)', async () => {
    const invalid = async (args: string[]) => {
      const run = runCommand(['--engine', 'memory', '--addr', '127.0.0.1:0', ...args]);
      void run.listening.then(() => run.stop()); // an accepted run stops at once, so the assertion fails fast
      return run.done.then(
        () => 'accepted',
        (err: unknown) => err,
      );
    };
    for (const args of [
      ['--initial-stores', 'x'],
      ['--initial-stores', '-1'],
      ['--initial-regions', '0'],
      ['--log-level', 'loud'],
      ['--max-store-down-time', '500ms'],
      ['--max-store-down-time', 'soon'],
    ]) {
      const err = await invalid(args);
      expect(err, args.join(' ')).toBeInstanceOf(CommanderError);
      expect((err as CommanderError).exitCode).not.toBe(0);
    }
    expect(await invalid(['--addr', 'nohost'])).toBeInstanceOf(ConfigError);
    expect(await invalid(['--status-addr', 'nope'])).toBeInstanceOf(ConfigError);
    expect(await invalid(['--initial-regions', '2', '--split-keys', 'a,b'])).toBeInstanceOf(ConfigError);
    expect(await invalid(['--split-keys', 'b,a'])).toBeInstanceOf(ConfigError);
    expect(await invalid(['--split-keys', 'zz', '--split-key-encoding', 'hex'])).toBeInstanceOf(UsageError);
  });

  it('decodes split keys in the chosen encoding, or spreads K regions evenly', () => {
    expect(splitKeysFromFlags({ splitKeys: '40,80,c0', splitKeyEncoding: 'hex' })).toEqual([
      Buffer.from([0x40]),
      Buffer.from([0x80]),
      Buffer.from([0xc0]),
    ]);
    expect(splitKeysFromFlags({ initialRegions: 4, splitKeyEncoding: 'utf8' })).toEqual(evenSplitKeys(4));
    expect(splitKeysFromFlags({ splitKeys: 'k0025,k0050', splitKeyEncoding: 'utf8' })).toEqual([key('k0025'), key('k0050')]);
    expect(splitKeysFromFlags({ splitKeyEncoding: 'utf8' })).toEqual([]);
  });
});
