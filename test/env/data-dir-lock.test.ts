// The data-directory lock is an OS file lock: a killed server's lock goes with its process (even
// an unreaped zombie), a live server's lock refuses a second one, and a pid in the file decides nothing.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DataDirLock, LOCK_FILE } from '../../src/env/data-dir-lock.js';
import { ErrorCode, isTinyKvError } from '../../src/util/errors.js';
import { loadConfig } from '../../src/config/config.js';
import { ClusterNode } from '../../src/server/cluster-node.js';
import { silentLogger } from '../../src/log/logger.js';
import { CLI_PATH, runCli, startServerProcess, type ServerProcess } from '../helpers/cli-process.js';
import { tempDir } from '../helpers/tmp.js';

const servers: ServerProcess[] = [];
const children: ChildProcess[] = [];
const dirs: Array<ReturnType<typeof tempDir>> = [];

afterEach(() => {
  for (const s of servers.splice(0)) s.child.kill('SIGKILL');
  for (const c of children.splice(0)) c.kill('SIGKILL');
  for (const d of dirs.splice(0)) d.cleanup();
});

function newDir(): string {
  const dir = tempDir('tinykv-lock-');
  dirs.push(dir);
  return dir.path;
}

function serverArgs(dataDir: string): string[] {
  return ['--standalone', '--addr', '127.0.0.1:0', '--data-dir', dataDir, '--log-level', 'warn'];
}

async function start(dataDir: string): Promise<ServerProcess> {
  const server = await startServerProcess(serverArgs(dataDir));
  servers.push(server);
  return server;
}

/** The process state letter from /proc (Z: a zombie, dead but not yet reaped by its parent). */
function procState(pid: number): string | undefined {
  try {
    return /\) (\S)/.exec(readFileSync(`/proc/${pid}/stat`, 'utf8'))?.[1];
  } catch {
    return undefined;
  }
}

async function waitFor(condition: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * Starts a server under a parent that never reaps it: `sh` backgrounds the server, prints its pid,
 * and execs `sleep`, which becomes the server's parent and never waits for it.
 */
async function startUnreapedServer(dataDir: string): Promise<{ pid: number; parent: ChildProcess }> {
  const quoted = [process.execPath, CLI_PATH, 'server', ...serverArgs(dataDir)].map((a) => `'${a}'`).join(' ');
  const parent = spawn('sh', ['-c', `${quoted} & echo "server-pid $!"; exec sleep 120`], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(parent);
  let stdout = '';
  let stderr = '';
  parent.stdout.on('data', (d) => (stdout += d));
  parent.stderr.on('data', (d) => (stderr += d));
  await waitFor(() => /listening on/.test(stdout), 30_000, `the server to listen; stderr: ${stderr}`);
  return { pid: Number(/server-pid (\d+)/.exec(stdout)![1]), parent };
}

describe('data directory lock', () => {
  it('restarts at once after kill -9 while the killed server is still an unreaped zombie', async () => {
    const dataDir = newDir();
    const { pid } = await startUnreapedServer(dataDir);
    expect(readFileSync(join(dataDir, LOCK_FILE), 'utf8').trim()).toBe(String(pid));
    process.kill(pid, 'SIGKILL');
    await waitFor(() => procState(pid) === 'Z', 10_000, `process ${pid} to become a zombie`);
    // The zombie still holds its pid (kill(pid, 0) succeeds) but no longer holds any file.
    const restarted = await start(dataDir);
    expect(restarted.addr).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(procState(pid)).toBe('Z');
    expect(readFileSync(join(dataDir, LOCK_FILE), 'utf8').trim()).toBe(String(restarted.child.pid));
  });

  it('refuses a second live server on the same data directory, naming the holder', async () => {
    const dataDir = newDir();
    const first = await start(dataDir);
    const second = await runCli(['server', ...serverArgs(dataDir)]);
    expect(second.code).toBe(1);
    expect(second.stderr).toContain(`data directory ${dataDir} is in use by process ${first.child.pid}`);
    expect(second.stderr.trim().split('\n')).toHaveLength(1);
  });

  it('is not blocked by a stale lock file naming a live process (a reused pid)', async () => {
    const dataDir = newDir();
    // This test's own process is alive, as a pid the OS handed to an unrelated process would be.
    writeFileSync(join(dataDir, LOCK_FILE), `${process.pid}\n`);
    const server = await start(dataDir);
    expect(readFileSync(join(dataDir, LOCK_FILE), 'utf8').trim()).toBe(String(server.child.pid));
  });

  it('in one process: a second acquire is refused until the first releases; release removes the file', () => {
    const dataDir = newDir();
    const lock = DataDirLock.acquire(dataDir);
    let refused: unknown;
    try {
      DataDirLock.acquire(dataDir);
    } catch (err) {
      refused = err;
    }
    expect(isTinyKvError(refused) && refused.message).toBe(`data directory ${dataDir} is in use by process ${process.pid}`);
    lock.release();
    expect(existsSync(join(dataDir, LOCK_FILE))).toBe(false);
    const again = DataDirLock.acquire(dataDir);
    again.release();
    again.release();
  });

  it('is given back when an embedded cluster store refuses to start on a damaged data file', async () => {
    const dataDir = newDir();
    mkdirSync(join(dataDir, 'kv'), { recursive: true });
    // Not an LMDB file: neither meta page is valid, so the start is refused before anything runs.
    writeFileSync(join(dataDir, 'kv', 'data.mdb'), Buffer.alloc(16 * 1024, 0x5a));
    const config = loadConfig({ overrides: { standalone: false, dataDir, addr: '127.0.0.1:0', scheduler: '127.0.0.1:1' } });
    await expect(ClusterNode.start(config, silentLogger())).rejects.toMatchObject({ code: ErrorCode.EngineCorrupted });
    // The embedding process can take the directory again (e.g. after restoring it).
    DataDirLock.acquire(dataDir).release();
  });
});
