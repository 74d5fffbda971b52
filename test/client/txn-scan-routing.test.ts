// A transactional scan over regions whose bounds are stored keys: it finds each region by the
// encoded user key and, at a region's end, resumes at the first user key encoded at or after it,
// whether the bound is an encoded user key (a split checker cut) or a cut from raw data.
import { describe, expect, it } from 'vitest';
import { RegionCache } from '../../src/client/region-cache.js';
import { RequestSender } from '../../src/client/request-sender.js';
import type { LockResolver } from '../../src/client/lock-resolver.js';
import type { RegionLookup, RegionSource } from '../../src/client/scheduler-client.js';
import { Snapshot } from '../../src/client/snapshot.js';
import type { KvMethod, KvRequest, KvResponse, KvTransport } from '../../src/client/store-pool.js';
import { silentLogger } from '../../src/log/logger.js';
import { ScanResponse, type ScanRequest } from '../../src/proto/kvrpcpb.js';
import type { Region, Store } from '../../src/proto/metapb.js';
import { encodeBytes, encodeKey } from '../../src/txn/codec.js';

const b = (s: string) => Buffer.from(s, 'latin1');

/** Regions cut at `bounds` (stored keys), region i+1 on store 1. */
function regionsAt(bounds: Buffer[]): Region[] {
  const edges = [Buffer.alloc(0), ...bounds, Buffer.alloc(0)];
  return bounds.concat([Buffer.alloc(0)]).map((_, i) => ({
    id: i + 1,
    startKey: edges[i] ?? Buffer.alloc(0),
    endKey: edges[i + 1] ?? Buffer.alloc(0),
    regionEpoch: { confVer: 1, version: 1 },
    peers: [{ id: 10 + i, storeId: 1 }],
  }));
}

const inRange = (region: Region, storedKey: Buffer) =>
  Buffer.compare(region.startKey, storedKey) <= 0 && (region.endKey.length === 0 || Buffer.compare(storedKey, region.endKey) < 0);

class FakeCluster implements RegionSource, KvTransport {
  readonly scans: Array<[number, string]> = [];
  constructor(
    private readonly regions: Region[],
    /** Committed user keys, each stored at its encoding. */
    private readonly keys: Buffer[],
  ) {}

  async getRegion(key: Uint8Array): Promise<RegionLookup | undefined> {
    const region = this.regions.find((r) => inRange(r, Buffer.from(key)));
    return region && { region, leader: region.peers[0] };
  }
  async getRegionById(): Promise<RegionLookup | undefined> {
    return undefined;
  }
  async getStore(id: bigint): Promise<Store | undefined> {
    return { id: Number(id), address: 'store-1', state: 0 };
  }

  /** KvScan as a store serves it: only the keys whose records lie in the addressed region. */
  async call<M extends KvMethod>(_addr: string, method: M, request: KvRequest<M>): Promise<KvResponse<M>> {
    expect(method).toBe('kvScan');
    const scan = request as ScanRequest;
    const region = this.regions.find((r) => BigInt(r.id) === scan.context?.regionId);
    if (region === undefined) throw new Error(`no region ${scan.context?.regionId}`);
    this.scans.push([region.id, Buffer.from(scan.startKey).toString('latin1')]);
    const pairs = [...this.keys]
      .sort(Buffer.compare)
      .filter((key) => Buffer.compare(key, scan.startKey) >= 0 && inRange(region, encodeBytes(key)))
      .slice(0, scan.limit)
      .map((key) => ({ key, value: b('v') }));
    return ScanResponse.fromPartial({ pairs });
  }
}

async function scanAll(regions: Region[], keys: Buffer[]) {
  const cluster = new FakeCluster(regions, keys);
  const sender = new RequestSender(new RegionCache(cluster, 'unused', silentLogger()), cluster, { logger: silentLogger() });
  const snapshot = new Snapshot(10n, sender, {} as LockResolver, { logger: silentLogger(), lockWaitTimeoutMs: 100 });
  const seen: string[] = [];
  for await (const pair of snapshot.scan(b(''), undefined, 2)) seen.push(pair.key.toString('latin1'));
  return { seen, scans: cluster.scans };
}

describe('a transactional scan across regions', () => {
  it('crosses a split at an encoded user key, with long keys sharing their first 8 bytes', async () => {
    const keys = ['a', 'user0001-a', 'user0001-a\0', 'user0001-b', 'user0001-b-longer', 'user0001zz', 'z'].map(b);
    const { seen, scans } = await scanAll(regionsAt([encodeBytes(b('user0001-b'))]), keys);
    expect(seen).toEqual(keys.map((k) => k.toString('latin1')));
    // The second region is entered at the split key's user key.
    expect(scans).toContainEqual([2, 'user0001-b']);
  });

  it('crosses bounds that are not encodings: a raw-data cut and an MVCC key', async () => {
    const keys = ['k', 'l\xff\xff', 'm', 'm\0', 'q', 'q\0', 'r'].map(b);
    const { seen, scans } = await scanAll(regionsAt([b('m'), encodeKey(b('q'), 5n)]), keys);
    expect(seen).toEqual(keys.map((k) => k.toString('latin1')));
    expect(scans).toContainEqual([2, 'm']);
    expect(scans).toContainEqual([3, 'q\0']);
  });
});
