// End to end: a store whose data file was damaged (truncated, emptied, deleted, meta pages
// zeroed) is refused at start with one clear line and exit code 1; it neither dies of a signal
// (LMDB faulting on a short file) nor starts as an empty store.
import { closeSync, copyFileSync, existsSync, openSync, rmSync, statSync, truncateSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { connect } from '../../src/client/index.js';
import { runCli, startServerProcess, type ServerProcess } from '../helpers/cli-process.js';
import { tempDir } from '../helpers/tmp.js';

const servers: ServerProcess[] = [];
const dirs: Array<ReturnType<typeof tempDir>> = [];

afterEach(() => {
  for (const s of servers.splice(0)) s.child.kill('SIGKILL');
  for (const d of dirs.splice(0)) d.cleanup();
});

const PAGE = 4096;

function standaloneArgs(dataDir: string): string[] {
  return ['--standalone', '--addr', '127.0.0.1:0', '--data-dir', dataDir, '--log-level', 'warn'];
}

function clusterArgs(dataDir: string): string[] {
  return ['--embedded-scheduler', '127.0.0.1:0', '--addr', '127.0.0.1:0', '--data-dir', dataDir, '--raft-base-tick-ms', '20', '--log-level', 'warn'];
}

/** A standalone store holding enough data for a data file of a few hundred pages, stopped cleanly. */
async function storeWithData(): Promise<{ dataDir: string; dataFile: string }> {
  const dir = tempDir('tinykv-damaged-');
  dirs.push(dir);
  const server = await startServerProcess(standaloneArgs(dir.path));
  servers.push(server);
  const client = await connect({ node: server.addr, requestTimeoutMs: 10_000, maxRetries: 0 });
  try {
    for (let batch = 0; batch < 10; batch++) {
      await Promise.all(Array.from({ length: 50 }, (_, i) => client.put(`key-${batch}-${i}`, 'v'.repeat(2000))));
    }
  } finally {
    await client.close();
  }
  server.child.kill('SIGTERM');
  expect(await server.exited).toBe(0);
  const dataFile = join(dir.path, 'kv', 'data.mdb');
  expect(statSync(dataFile).size).toBeGreaterThan(100 * PAGE);
  return { dataDir: dir.path, dataFile };
}

async function expectRefused(args: string[], mentions: string): Promise<void> {
  const result = await runCli(['server', ...args]);
  // Exit code 1, not null (a null code is a death by signal: SIGBUS, SIGSEGV).
  expect(result.code, result.stderr).toBe(1);
  const lines = result.stderr.trim().split('\n');
  expect(lines, result.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(/^error: /);
  expect(lines[0]).toContain('(KV:Engine:Corrupted)');
  expect(lines[0]).toContain(mentions);
}

function zero(file: string, offset: number, length: number): void {
  const fd = openSync(file, 'r+');
  try {
    writeSync(fd, Buffer.alloc(length), 0, length, offset);
  } finally {
    closeSync(fd);
  }
}

describe('damaged data files are refused at start', () => {
  it('a data file truncated to 0 bytes: refused, not started as an empty store', async () => {
    const { dataDir, dataFile } = await storeWithData();
    truncateSync(dataFile, 0);
    await expectRefused(standaloneArgs(dataDir), `data file ${dataFile} is missing or empty, but the store's identity`);
  });

  it('a deleted data file: refused', async () => {
    const { dataDir, dataFile } = await storeWithData();
    rmSync(dataFile);
    await expectRefused(standaloneArgs(dataDir), 'is missing or empty');
    expect(existsSync(dataFile)).toBe(false);
  });

  it('a data file truncated to 4 KiB: refused', async () => {
    const { dataDir, dataFile } = await storeWithData();
    truncateSync(dataFile, 4 * 1024);
    await expectRefused(standaloneArgs(dataDir), 'shorter than its two 4096-byte meta pages');
  });

  it('a data file truncated to 8 KiB: refused', async () => {
    const { dataDir, dataFile } = await storeWithData();
    truncateSync(dataFile, 8 * 1024);
    await expectRefused(standaloneArgs(dataDir), 'is truncated');
  });

  it('a data file truncated to half: refused', async () => {
    const { dataDir, dataFile } = await storeWithData();
    truncateSync(dataFile, Math.floor(statSync(dataFile).size / 2));
    await expectRefused(standaloneArgs(dataDir), 'is truncated');
  });

  it('both meta pages zeroed: refused', async () => {
    const { dataDir, dataFile } = await storeWithData();
    zero(dataFile, 0, 2 * PAGE);
    await expectRefused(standaloneArgs(dataDir), 'neither meta page is valid');
  });

  it('one meta page zeroed: refused', async () => {
    const { dataDir, dataFile } = await storeWithData();
    zero(dataFile, PAGE, PAGE);
    await expectRefused(standaloneArgs(dataDir), 'meta page 1 is not marked as a meta page');
  });

  it('an undamaged store restarts and keeps its data', async () => {
    const { dataDir } = await storeWithData();
    const server = await startServerProcess(standaloneArgs(dataDir));
    servers.push(server);
    const get = await runCli(['ctl', 'raw', 'get', 'key-9-49', '--addr', server.addr]);
    expect(get.stdout.trim()).toBe('v'.repeat(2000));
  });

  it('a cluster store: its raft log emptied, its kv file truncated or its scheduler file emptied is refused', async () => {
    const dir = tempDir('tinykv-damaged-cluster-');
    dirs.push(dir);
    const server = await startServerProcess(clusterArgs(dir.path));
    servers.push(server);
    // A write through Raft (retried until the region has a leader), so both environments hold data.
    const client = await connect({ node: server.addr, requestTimeoutMs: 2_000, maxRetries: 0 });
    try {
      const deadline = Date.now() + 30_000;
      for (;;) {
        try {
          await client.put('cluster-key', 'value');
          break;
        } catch (err) {
          if (Date.now() > deadline) throw err;
          await new Promise((r) => setTimeout(r, 100));
        }
      }
    } finally {
      await client.close();
    }
    server.child.kill('SIGTERM');
    expect(await server.exited).toBe(0);
    const raftFile = join(dir.path, 'raft', 'data.mdb');
    const kvFile = join(dir.path, 'kv', 'data.mdb');
    const raftCopy = `${raftFile}.copy`;
    copyFileSync(raftFile, raftCopy);
    truncateSync(raftFile, 0);
    await expectRefused(clusterArgs(dir.path), `data file ${raftFile} is missing or empty`);
    copyFileSync(raftCopy, raftFile);
    const kvCopy = `${kvFile}.copy`;
    copyFileSync(kvFile, kvCopy);
    truncateSync(kvFile, 4 * 1024);
    await expectRefused(clusterArgs(dir.path), `data file ${kvFile} is damaged`);
    // The embedded scheduler's environment is checked the same way.
    copyFileSync(kvCopy, kvFile);
    const schedulerFile = join(dir.path, 'scheduler', 'scheduler', 'data.mdb');
    truncateSync(schedulerFile, 0);
    await expectRefused(clusterArgs(dir.path), `data file ${schedulerFile} is missing or empty`);
  });
});
