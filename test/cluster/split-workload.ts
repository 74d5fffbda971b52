// Helpers for TinyKV's 3B split scenarios on the threaded in-process cluster:
// - a scenario client routed by key through the regions (tinykv/client on the scheduler), since
//   a scan crosses region boundaries once the key space is split;
// - convergence checks: regions tile the key space alike on every store, and every store holds the
//   same data.
import { createHash } from 'node:crypto';
import { connect, ClientError, type TinyKvClient } from '../../src/client/index.js';
import { DATA_COLUMN_FAMILIES } from '../../src/engine/engine.js';
import type { Region } from '../../src/proto/metapb.js';
import type { ClusterNode } from '../../src/server/cluster-node.js';
import { ScenarioClient, sleep, type Attempt } from './workload.js';

/**
 * A ScenarioClient whose calls go through tinykv/client connected to the scheduler: each key (and
 * each page of a scan) goes to the leader of its region, following splits through region errors
 * and the scheduler. The node-mode ScenarioClient sends everything to one store, which routes by
 * key but serves a scan only up to the end of the start key's region.
 *
 * A subclass so the append and register clients of workload.ts take it as they are.
 */
export class RoutedScenarioClient extends ScenarioClient {
  private routed: TinyKvClient | undefined;

  constructor(
    private readonly schedulerAddr: string,
    private readonly callTimeoutMs = 1_000,
    /** Tries per call inside the client (region errors, unreachable stores) before the attempt fails. */
    private readonly triesPerAttempt = 4,
  ) {
    super(() => [], callTimeoutMs);
  }

  override async attempt<T>(op: (client: TinyKvClient) => Promise<T>): Promise<Attempt<T>> {
    try {
      this.routed ??= await connect({ scheduler: this.schedulerAddr, requestTimeoutMs: this.callTimeoutMs, maxRetries: this.triesPerAttempt - 1 });
      return { ok: true, value: await op(this.routed) };
    } catch (error) {
      if (!(error instanceof ClientError)) throw error;
      await sleep(10);
      return { ok: false, error };
    }
  }

  override close(): void {
    void this.routed?.close();
    this.routed = undefined;
  }
}

const byStartKey = (a: Region, b: Region) => Buffer.compare(a.startKey, b.startKey);

/** The regions, sorted, cover the whole key space with no gap and no overlap. */
export function tiles(regions: readonly Region[]): boolean {
  const sorted = [...regions].sort(byStartKey);
  if (sorted.length === 0 || sorted[0]?.startKey.length !== 0 || sorted.at(-1)?.endKey.length !== 0) return false;
  return sorted.every((region, i) => i === 0 || Buffer.compare(region.startKey, sorted[i - 1]?.endKey ?? Buffer.alloc(0)) === 0);
}

/** A store's regions as "id@version[start,end)", in key order: equal strings mean equal layouts. */
export function layoutOf(node: ClusterNode): string {
  return node.store
    .regions()
    .sort(byStartKey)
    .map((r) => `${r.id}@${r.regionEpoch?.version}[${Buffer.from(r.startKey).toString('hex')},${Buffer.from(r.endKey).toString('hex')})`)
    .join(' ');
}

/** A digest of every pair of the store's data families (not its Raft metadata). */
export function dataDigest(node: ClusterNode): string {
  const hash = createHash('sha256');
  const snapshot = node.engines.kv.snapshot();
  try {
    for (const cf of DATA_COLUMN_FAMILIES) {
      hash.update(`|${cf}|`);
      for (const { key, value } of snapshot.scan(cf)) {
        hash.update(`${key.length}:`).update(key).update(`${value.length}:`).update(value);
      }
    }
  } finally {
    snapshot.close();
  }
  return hash.digest('hex');
}

/** What differs between the stores, or undefined once they all tile the key space alike and hold the same data. */
export function divergence(nodes: readonly ClusterNode[]): string | undefined {
  const untiled = nodes.filter((node) => !tiles(node.store.regions()));
  if (untiled.length > 0) {
    const layouts = nodes.map((n) => `  store ${n.storeId}: ${layoutOf(n)}`).join('\n');
    return `regions do not tile the key space on stores ${untiled.map((n) => n.storeId).join(', ')}; layouts:\n${layouts}`;
  }
  const layouts = nodes.map(layoutOf);
  if (layouts.some((layout) => layout !== layouts[0]))
    return `layouts differ:\n${nodes.map((n, i) => `  store ${n.storeId}: ${layouts[i]}`).join('\n')}`;
  const digests = nodes.map(dataDigest);
  if (digests.some((digest) => digest !== digests[0]))
    return `data differs: ${nodes.map((n, i) => `store ${n.storeId} ${digests[i]?.slice(0, 12)}`).join(', ')}`;
  return undefined;
}
