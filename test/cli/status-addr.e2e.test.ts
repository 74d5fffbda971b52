// `tinykv server --status-addr` serves the status endpoints from the real process, announces the
// address it took, and stops serving them when the process stops.
import { spawn } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { CLI_PATH } from '../helpers/cli-process.js';
import { tempDir } from '../helpers/tmp.js';

const cleanups: Array<() => void> = [];

afterEach(() => {
  for (const cleanup of cleanups.splice(0)) cleanup();
});

describe('tinykv server --status-addr', () => {
  it('serves /livez, /readyz and /metrics on the address it prints', async () => {
    const dir = tempDir();
    cleanups.push(dir.cleanup);
    const child = spawn(
      process.execPath,
      [CLI_PATH, 'server', '--standalone', '--addr', '127.0.0.1:0', '--status-addr', '127.0.0.1:0', '--data-dir', dir.path, '--log-level', 'warn'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    cleanups.push(() => child.kill('SIGKILL'));
    let stdout = '';
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    const statusUrl = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no status line; stderr: ${stderr}`)), 30_000);
      child.stdout.on('data', (d) => {
        stdout += d;
        const match = /status server on (\S+)[\s\S]*listening on/.exec(stdout);
        if (match?.[1]) {
          clearTimeout(timer);
          resolve(match[1]);
        }
      });
    });
    const livez = await fetch(`${statusUrl}/livez`);
    expect(livez.status).toBe(200);
    expect((await fetch(`${statusUrl}/readyz`)).status).toBe(200);
    expect(await (await fetch(`${statusUrl}/metrics`)).text()).toContain('# TYPE tinykv_grpc_requests_total counter');
    child.kill('SIGINT');
    expect(await exited).toBe(0);
    await expect(fetch(`${statusUrl}/livez`)).rejects.toThrow();
  }, 60_000);

  it('refuses a malformed address before starting', async () => {
    const dir = tempDir();
    cleanups.push(dir.cleanup);
    const child = spawn(process.execPath, [CLI_PATH, 'server', '--standalone', '--status-addr', 'nowhere', '--data-dir', dir.path], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
    expect(code).toBe(2);
    expect(stderr).toContain('invalid address "nowhere"');
  }, 30_000);
});
