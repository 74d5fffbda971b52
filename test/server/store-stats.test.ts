import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { collectStoreStats, type StoreStatsSource } from '../../src/server/store-stats.js';
import { FlowCounter } from '../../src/server/flow-stats.js';
import { tempDir } from '../helpers/tmp.js';

const dirs: Array<ReturnType<typeof tempDir>> = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) dir.cleanup();
});

function source(dataDir: string, engineDirs: readonly string[], busy = false, flow = new FlowCounter()): StoreStatsSource {
  return {
    flow: () => flow.take(),
    busy: () => busy,
    storeId: 7,
    dataDir,
    engineDirs,
    startTimeSec: 1_700_000_000,
    regionCount: () => 3,
    snapshotStreams: () => ({ sending: 2, receiving: 1 }),
  };
}

describe('collectStoreStats', () => {
  it("reports the filesystem's capacity and free space, the engines' bytes on disk, and what the store says", async () => {
    const dir = tempDir('tinykv-store-stats-');
    dirs.push(dir);
    for (const [name, bytes] of [
      ['raft', 64 * 1024],
      ['kv', 128 * 1024],
    ] as const) {
      mkdirSync(join(dir.path, name));
      writeFileSync(join(dir.path, name, 'data.mdb'), Buffer.alloc(bytes, 1));
    }
    // Not an engine file: left out.
    writeFileSync(join(dir.path, 'IDENT'), Buffer.alloc(1024 * 1024, 1));
    const stats = await collectStoreStats(source(dir.path, ['raft', 'kv', 'missing']), 1_700_000_100, 1_700_000_110);
    expect(stats.storeId).toBe(7n);
    expect(stats.capacity).toBeGreaterThanOrEqual(stats.available);
    expect(stats.available).toBeGreaterThan(0n);
    // Written files are fully allocated (not sparse): exactly their sizes.
    expect(stats.usedSize).toBe(BigInt(192 * 1024));
    expect(stats.regionCount).toBe(3);
    expect(stats.sendingSnapCount).toBe(2);
    expect(stats.receivingSnapCount).toBe(1);
    expect(stats.applyingSnapCount).toBe(0);
    expect(stats.isBusy).toBe(false);
    expect(stats.startTime).toBe(1_700_000_000);
    expect(stats.interval).toEqual({ startTimestamp: 1_700_000_100n, endTimestamp: 1_700_000_110n });
  });
});

describe('is_busy', () => {
  it('is what the store says: its commands in flight past the high-water mark', async () => {
    const dir = tempDir('tinykv-store-stats-');
    dirs.push(dir);
    expect((await collectStoreStats(source(dir.path, [], true), 1, 2)).isBusy).toBe(true);
    expect((await collectStoreStats(source(dir.path, [], false), 1, 2)).isBusy).toBe(false);
  });
});

describe('flow', () => {
  it('reports what clients wrote and read since the previous heartbeat, then counts from zero', async () => {
    const dir = tempDir('tinykv-store-stats-');
    dirs.push(dir);
    const flow = new FlowCounter();
    flow.wrote(1, 30);
    flow.wrote(2, 70);
    flow.read(5, 500);
    const first = await collectStoreStats(source(dir.path, [], false, flow), 1, 2);
    expect([first.keysWritten, first.bytesWritten, first.keysRead, first.bytesRead]).toEqual([3n, 100n, 5n, 500n]);
    flow.read(1, 9);
    const second = await collectStoreStats(source(dir.path, [], false, flow), 2, 3);
    expect([second.keysWritten, second.bytesWritten, second.keysRead, second.bytesRead]).toEqual([0n, 0n, 1n, 9n]);
  });
});
