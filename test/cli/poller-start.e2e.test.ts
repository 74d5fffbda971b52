// A real `tinykv server` whose raft poller fails during its initialisation (a damaged region
// record in its data directory) does not come up with a dead poller: it exits 1 promptly with one
// line naming the thread and the error, and frees its data directory.
import type { ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { LmdbEngine } from '../../src/engine/lmdb-engine.js';
import { PeerState, RegionLocalState } from '../../src/proto/raft_serverpb.js';
import { regionStateKey } from '../../src/raftstore/keys.js';
import { storeEngineOptions } from '../../src/raftstore/batch/store-engines.js';
import { runCli, startSchedulerProcess } from '../helpers/cli-process.js';
import { tempDir } from '../helpers/tmp.js';

const dirs: Array<ReturnType<typeof tempDir>> = [];
const children: ChildProcess[] = [];

afterAll(() => {
  for (const child of children) child.kill('SIGKILL');
  for (const dir of dirs) dir.cleanup();
});

function newDir(): string {
  const dir = tempDir('tinykv-poller-start-e2e-');
  dirs.push(dir);
  return dir.path;
}

describe('tinykv server with a raft poller that cannot start', () => {
  it('exits 1 promptly with one line naming the poller and the error, and frees the data directory', async () => {
    const scheduler = await startSchedulerProcess(join(newDir(), 'scheduler'), 1, (child) => children.push(child));
    const dataDir = newDir();
    // Region 5's record names no peer at all (no region can have none): loading it breaks the store's invariant.
    const kv = new LmdbEngine(storeEngineOptions(dataDir, false).kv);
    const state = RegionLocalState.fromPartial({
      state: PeerState.Normal,
      region: {
        id: 5,
        startKey: Buffer.alloc(0),
        endKey: Buffer.alloc(0),
        regionEpoch: { confVer: 1, version: 1 },
        peers: [],
      },
    });
    await kv.write([{ type: 'put', cf: 'meta', key: regionStateKey(5), value: Buffer.from(RegionLocalState.encode(state).finish()) }]);
    await kv.close();

    const started = Date.now();
    // Before the fix the server came up and served (its poller dead), so this timed out.
    const result = await runCli(
      ['server', '--scheduler', scheduler.addr, '--addr', '127.0.0.1:0', '--data-dir', dataDir, '--raft-pollers', '1'],
      30_000,
    );
    const tookMs = Date.now() - started;
    expect(result.code, result.stderr).toBe(1);
    const plain = result.stderr.split('\n').filter((line) => line.trim() !== '' && !line.startsWith('{'));
    expect(plain, result.stderr).toEqual([
      expect.stringMatching(/^error: raft poller 0 failed to start: assertion failed: region 5 has no peers \(KV:Internal:AssertionFailed\)$/),
    ]);
    expect(result.stdout).not.toContain('listening');
    expect(tookMs, result.stderr).toBeLessThan(20_000);
    expect(existsSync(join(dataDir, 'tinykv.pid'))).toBe(false);
  });
});
