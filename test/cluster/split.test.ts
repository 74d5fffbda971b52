// Region split on real threaded stores (TinyKV 3B OneSplit, shortened): a scheduler and three
// stores over gRPC on LMDB, two raft pollers each (so a new region's peer often starts on another
// poller than its parent's), a small region-max-size so writes split the key space. Everything is
// read back through tinykv/client, which follows the new layout on its own.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type TinyKvClient } from '../../src/client/index.js';
import type { Region } from '../../src/proto/metapb.js';
import { RaftKvStorage } from '../../src/storage/raft-kv-storage.js';
import { RegionError, RegionErrorCode } from '../../src/raftstore/router/errors.js';
import { InProcessCluster, waitUntil } from './harness.js';

let cluster: InProcessCluster;
let client: TinyKvClient;

const VALUE = Buffer.alloc(512, 'v');
const key = (i: number) => `key-${String(i).padStart(5, '0')}`;

beforeAll(async () => {
  cluster = await InProcessCluster.start({
    raftPollers: 2,
    regionMaxSizeBytes: 64 * 1024,
    regionSplitSizeBytes: 32 * 1024,
    splitRegionCheckTickIntervalMs: 100,
    regionHeartbeatIntervalMs: 200,
  });
  client = await connect({ scheduler: cluster.scheduler.addr, requestTimeoutMs: 5_000 });
  // Up once the bootstrap region has elected a leader and a write commits.
  for (const deadline = Date.now() + 30_000; ;) {
    const ok = await client.put('warm-up', '1').then(
      () => true,
      (err: unknown) => (Date.now() > deadline ? Promise.reject(err as Error) : false),
    );
    if (ok) break;
  }
});

afterAll(async () => {
  await client?.close();
  await cluster?.close();
});

function tiles(regions: readonly Region[]): boolean {
  const sorted = [...regions].sort((a, b) => Buffer.compare(a.startKey, b.startKey));
  if (sorted.length === 0 || sorted[0]?.startKey.length !== 0 || sorted.at(-1)?.endKey.length !== 0) return false;
  return sorted.every((region, i) => i === 0 || Buffer.compare(region.startKey, sorted[i - 1]?.endKey ?? Buffer.alloc(0)) === 0);
}

/** Every store holds the same regions at the same versions. */
function sameLayout(): boolean {
  const layouts = cluster.all().map((node) =>
    node.store
      .regions()
      .map((r) => `${r.id}@${r.regionEpoch?.version}`)
      .sort()
      .join(','),
  );
  return layouts.every((layout) => layout === layouts[0]);
}

const schedulerRegions = (): number => cluster.scheduler.core.scanRegions(Buffer.alloc(0), Buffer.alloc(0), 0).length;

describe('region split on threaded stores', () => {
  it('writes past region-max-size split the key space; every region serves its keys through the client', async () => {
    const total = 600; // about 300 KiB of values: several splits at 64 KiB
    for (let start = 0; start < total; start += 50) {
      await Promise.all(Array.from({ length: 50 }, (_, j) => client.put(key(start + j), VALUE)));
    }
    await waitUntil(() => cluster.all().every((node) => node.store.regions().length >= 3), 30_000, 100);
    expect(cluster.all().map((node) => node.store.regions().length >= 3)).toEqual([true, true, true]);
    // The scheduler learns the regions from the leaders' heartbeats.
    await waitUntil(() => schedulerRegions() >= 3, 15_000, 100);
    expect(schedulerRegions()).toBeGreaterThanOrEqual(3);
    // Once every store caught up: regions tile the key space alike on each (sorted, adjacent, the
    // first starting and the last ending unbounded).
    await waitUntil(() => cluster.all().every((node) => tiles(node.store.regions())) && sameLayout(), 20_000, 100);
    for (const node of cluster.all()) expect(tiles(node.store.regions())).toBe(true);
    expect(sameLayout()).toBe(true);
    for (let i = 0; i < total; i += 7) expect((await client.get(key(i)))?.equals(VALUE)).toBe(true);
    const scanned = await client.scan(key(0), Buffer.from('key-99999'), total + 10);
    expect(scanned.map((p) => p.key.toString())).toEqual(Array.from({ length: total }, (_, i) => key(i)));
    // Writes after the splits go to the new regions.
    await client.put('key-late', 'x');
    expect((await client.get('key-late'))?.toString()).toBe('x');
    cluster.assertNoFatal();
  });

  it('a store answers KeyNotInRegion for a key sent with a region that no longer holds it', async () => {
    const node = cluster.all()[0]!;
    const regions = node.store.regions().sort((a, b) => Buffer.compare(a.startKey, b.startKey));
    const first = regions[0]!;
    const storage = new RaftKvStorage(node.store);
    const context = { regionId: BigInt(first.id), regionEpoch: first.regionEpoch, peer: first.peers.find((p) => p.storeId === node.storeId) };
    const outside = Buffer.from(key(599));
    const error = await storage
      .write(context as never, [{ type: 'put', cf: 'default', key: outside, value: Buffer.from('x') }])
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RegionError);
    // NotLeader when this store does not lead it; else the key check.
    expect([RegionErrorCode.KeyNotInRegion, RegionErrorCode.NotLeader]).toContain((error as RegionError).code);
  });
});
