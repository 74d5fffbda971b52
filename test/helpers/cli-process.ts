// Runs the compiled `tinykv` CLI as a child process, the way a user does.
import { spawn, type ChildProcess } from 'node:child_process';
import { resolve } from 'node:path';
import { connect, ClientError } from '../../src/client/index.js';
import { defined } from '../../src/util/assert.js';

export const CLI_PATH = resolve('dist/src/cli/main.js');

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export function runCli(args: string[], timeoutMs = 30_000): Promise<CliResult> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [CLI_PATH, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`tinykv ${args.join(' ')} timed out; stderr: ${stderr}`));
    }, timeoutMs);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolvePromise({ code, stdout, stderr });
    });
  });
}

export interface ServerProcess {
  child: ChildProcess;
  addr: string;
  stderr: () => string;
  /** What it printed so far (addresses, URLs). */
  stdout: () => string;
  exited: Promise<number | null>;
}

/** Starts `tinykv server` and resolves with its address once it prints that it listens. */
export function startServerProcess(args: string[], timeoutMs = 30_000): Promise<ServerProcess> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [CLI_PATH, 'server', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`server did not start; stderr: ${stderr}`));
    }, timeoutMs);
    child.stderr.on('data', (d) => (stderr += d));
    child.stdout.on('data', (d) => {
      stdout += d;
      const match = /listening on (\S+)/.exec(stdout);
      if (match) {
        clearTimeout(timer);
        resolvePromise({ child, addr: defined(match[1], 'match[1]'), stderr: () => stderr, stdout: () => stdout, exited });
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${code} before listening; stderr: ${stderr}`));
    });
  });
}

/**
 * Starts `tinykv scheduler` and resolves with its gRPC address and admin API URL (`http://host:port/pd/api/v1`) once it listens. `track` gets the child
 * at once, so the caller's cleanup kills it even when the start fails. `extraArgs` go after the
 * defaults (e.g. `--split-keys a,b`).
 */
export function startSchedulerProcess(
  dataDir: string,
  initialStores: number,
  track: (child: ChildProcess) => void,
  extraArgs: readonly string[] = [],
): Promise<{ child: ChildProcess; addr: string; adminUrl: string }> {
  return new Promise((resolvePromise, reject) => {
    const args = [
      'scheduler',
      '--addr',
      '127.0.0.1:0',
      '--data-dir',
      dataDir,
      '--initial-stores',
      String(initialStores),
      '--log-level',
      'warn',
      ...extraArgs,
    ];
    const child = spawn(process.execPath, [CLI_PATH, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
    track(child);
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
      // The admin API's line follows the gRPC one (its port differs from gRPC's + 1 when that is 0).
      const match = /listening on (\S+)/.exec(out);
      const admin = /admin API on (\S+)/.exec(out);
      if (match && admin) resolvePromise({ child, addr: defined(match[1], 'match[1]'), adminUrl: defined(admin[1], 'admin[1]') });
    });
    child.on('exit', (code) => reject(new Error(`scheduler exited ${code}`)));
  });
}

/** Puts through whichever store leads, retrying client errors and unreachable stores until the deadline. */
export async function putThroughAnyStore(stores: Iterable<ServerProcess>, key: string, value: string, deadlineMs = 20_000): Promise<void> {
  const deadline = Date.now() + deadlineMs;
  const candidates = [...stores]; // an iterator would be spent after the first pass
  for (;;) {
    for (const store of candidates) {
      const client = await connect({ node: store.addr, requestTimeoutMs: 2_000, maxRetries: 0 });
      try {
        await client.put(key, value);
        return;
      } catch (err) {
        if (!(err instanceof ClientError)) throw err;
      } finally {
        await client.close();
      }
    }
    if (Date.now() > deadline) throw new Error(`put ${key} found no leader`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
