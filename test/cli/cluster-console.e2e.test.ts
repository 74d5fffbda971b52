// `tinykv cluster` with real processes, driven through its standard input: a store added while it
// runs joins the scheduler under a new id, `stores` and `leaders` answer from the scheduler, `stop`
// ends one store process, and Ctrl-C still stops everything.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CLI_PATH } from '../helpers/cli-process.js';
import { tempDir } from '../helpers/tmp.js';
import { waitUntil } from '../cluster/harness.js';
import { defined } from '../../src/util/assert.js';

const dir = tempDir('tinykv-cluster-console-');
afterAll(() => dir.cleanup());

describe('tinykv cluster console', () => {
  it('adds a store, lists stores and leaders, stops a store', async () => {
    const base = 21_000 + Math.floor(Math.random() * 9_000);
    const args = ['cluster', '--stores', '1', '--data-dir', dir.path, '--scheduler-port', String(base), '--base-port', String(base + 1)];
    const child = spawn(process.execPath, [CLI_PATH, ...args, '--raft-pollers', '0'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      await waitUntil(() => out.includes('cluster ready') || child.exitCode !== null, 90_000, 50);
      expect(out, err).toContain('cluster ready');
      const first = Number(defined(/^store (\d+) /m.exec(out), 'first store line')[1]);

      child.stdin.write('add\n');
      // base: scheduler, base + 1: the first store, base + 2: the admin API (the port after the
      // scheduler's is a store's), so the added store takes base + 3.
      const addedLine = new RegExp(`^store (\\d+)\\s+127\\.0\\.0\\.1:${base + 3}\\s+${join(dir.path, 'store-2')}$`, 'm');
      await waitUntil(() => addedLine.test(out), 60_000, 50);
      const added = Number(defined(addedLine.exec(out), 'added store line')[1]);
      expect(added).not.toBe(first);

      // The bootstrap region's only peer is on the first store; it leads once elected and reported.
      const leaderRow = new RegExp(`^${first}\\s+1\\s+\\d+$`, 'm');
      await waitUntil(
        () => {
          if (!leaderRow.test(out)) child.stdin.write('leaders\n');
          return leaderRow.test(out);
        },
        60_000,
        500,
      );
      child.stdin.write('stores\n');
      const upRow = (id: number) => new RegExp(`^${id}\\s+127\\.0\\.0\\.1:\\d+\\s+Up\\s+`, 'm');
      await waitUntil(() => upRow(first).test(out) && upRow(added).test(out), 20_000, 50);

      child.stdin.write(`stop ${added}\n`);
      await waitUntil(() => out.includes(`store ${added} exited (0)`) || err.includes(`store ${added} exited (0)`), 30_000, 50);
    } finally {
      child.kill('SIGINT');
    }
    expect(await exited).toBe(0);
    expect(out).toContain('cluster stopped');
  });
});
