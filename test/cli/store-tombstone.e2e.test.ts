// A real `tinykv server` process the scheduler has made a tombstone: it stops with one fatal log
// line naming its store id and saying to wipe its data dir, exit code 70 like every fail-stop; it
// stops the same way when started again on that data dir; started on a wiped data dir at the same
// address, it joins as a new store. The scheduler runs in this process so the test can drive the
// store lifecycle directly (the admin API is not needed for that).
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { StoreState } from '../../src/proto/metapb.js';
import { silentLogger } from '../../src/log/logger.js';
import { startScheduler, type SchedulerHandle } from '../../src/scheduler/scheduler-server.js';
import { FATAL_EXIT_CODE } from '../../src/util/fail-stop.js';
import { defined } from '../../src/util/assert.js';
import { CLI_PATH, startServerProcess, type ServerProcess } from '../helpers/cli-process.js';
import { tempDir } from '../helpers/tmp.js';
import { waitUntil } from '../cluster/harness.js';

const dirs: Array<ReturnType<typeof tempDir>> = [];
const servers: ServerProcess[] = [];
let scheduler: SchedulerHandle | undefined;

afterAll(async () => {
  for (const server of servers) server.child.kill('SIGKILL');
  await scheduler?.close();
  for (const dir of dirs) dir.cleanup();
});

function newDir(): string {
  const dir = tempDir('tinykv-tombstone-');
  dirs.push(dir);
  return dir.path;
}

/** A config file with 100 ms store heartbeats. */
function fastHeartbeatConfig(): string {
  const path = join(newDir(), 'store.toml');
  writeFileSync(path, '[raftstore]\npd-store-heartbeat-tick-interval = "100ms"\n');
  return path;
}

/** A store on `addr` (port 0: any). */
async function startStore(schedulerAddr: string, dataDir: string, addr: string, config: string): Promise<ServerProcess> {
  const args = [
    '--scheduler',
    schedulerAddr,
    '--addr',
    addr,
    '--data-dir',
    dataDir,
    '--config',
    config,
    '--raft-pollers',
    '0',
    '--log-level',
    'warn',
  ];
  const server = await startServerProcess(args);
  servers.push(server);
  return server;
}

/** Runs a store that is expected to stop before it serves; resolves with its exit code and stderr. */
function runStoreToExit(schedulerAddr: string, dataDir: string, addr: string): Promise<{ code: number | null; stderr: string }> {
  const child = spawn(process.execPath, [CLI_PATH, 'server', '--scheduler', schedulerAddr, '--addr', addr, '--data-dir', dataDir], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  return new Promise((resolve) =>
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stderr });
    }),
  );
}

describe('a tombstoned store process', () => {
  it('exits 70 with a fatal line, again on restart, and a wiped one rejoins as a new store', async () => {
    const sched = (scheduler = await startScheduler({ addr: '127.0.0.1:0', engine: 'memory', initialStores: 1, logger: silentLogger() }));
    const core = sched.core;
    const config = fastHeartbeatConfig();
    await startStore(sched.addr, newDir(), '127.0.0.1:0', config);
    const dataDir = newDir();
    const second = await startStore(sched.addr, dataDir, '127.0.0.1:0', config);
    const storeId = defined(
      core.getAllStores(false).find((s) => s.store.address === second.addr),
      'the second store',
    ).store.id;
    await waitUntil(() => core.getStore(storeId).stats !== undefined, 10_000);
    expect(core.getStore(storeId).regionCount).toBe(0);

    await core.deleteStore(storeId);
    await core.tombstoneStore(storeId);
    expect(await second.exited).toBe(FATAL_EXIT_CODE);
    const fatal = second
      .stderr()
      .split('\n')
      .filter((line) => line.includes('"level":60'));
    expect(fatal).toHaveLength(1);
    expect(fatal[0]).toContain(`store ${storeId} was removed from the cluster`);
    expect(fatal[0]).toContain(`wipe the data dir ${dataDir}`);

    const again = await runStoreToExit(sched.addr, dataDir, second.addr);
    expect(again.code).toBe(FATAL_EXIT_CODE);
    expect(again.stderr).toContain(`store ${storeId} was removed from the cluster`);

    const rejoined = await startStore(sched.addr, newDir(), second.addr, config);
    expect(rejoined.addr).toBe(second.addr);
    const newId = defined(
      core.getAllStores(true).find((s) => s.store.address === second.addr),
      'the rejoined store',
    ).store.id;
    expect(newId).not.toBe(storeId);
    expect(core.getStore(newId).store.state).toBe(StoreState.Up);
    expect(core.getStore(storeId).store.state).toBe(StoreState.Tombstone);
  });
});
