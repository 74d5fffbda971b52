/**
 * Which region (and which store address) serves a key.
 *
 * Regions are kept sorted by start key and loaded on demand from the scheduler (GetRegion, then
 * GetStore for the leader's address). Region bounds are stored keys: a raw key is looked up as it
 * is, a transactional key by its encoding (key-space.ts). A standalone node answers GetRegion with
 * UNIMPLEMENTED; the cache then serves one region (id 0) covering every key, at the node's address.
 *
 * Region errors update the cache: NotLeader switches to the hinted leader (or the next peer);
 * EpochNotMatch replaces the region by the current ones; RegionNotFound, KeyNotInRegion,
 * StaleCommand and StoreNotMatch drop the entry so the next lookup reloads it.
 */
import type { Logger } from 'pino';
import type { Error as RegionErrorPb } from '../proto/errorpb.js';
import { Context } from '../proto/kvrpcpb.js';
import type { Peer, Region, RegionEpoch } from '../proto/metapb.js';
import { ClientError, ClientErrorCode } from './errors.js';
import { isUnimplemented, type RegionSource } from './scheduler-client.js';
import { routingKey, type KeySpace } from './key-space.js';
import { keyId } from './util.js';
import { defined } from '../util/assert.js';

export interface RegionInfo {
  readonly id: bigint;
  readonly startKey: Buffer;
  /** Exclusive; empty means unbounded. */
  readonly endKey: Buffer;
  readonly epoch: RegionEpoch | undefined;
  readonly peers: readonly Peer[];
  /** The peer requests go to (the leader as far as we know); undefined on a standalone node. */
  readonly peer: Peer | undefined;
  /** The address of `peer`'s store. */
  readonly addr: string;
}

/** Whether the stored key `key` (a raw key, or a transactional key's encoding) is in `region`. */
export function regionContains(region: Pick<RegionInfo, 'startKey' | 'endKey'>, key: Buffer): boolean {
  return Buffer.compare(region.startKey, key) <= 0 && (region.endKey.length === 0 || Buffer.compare(key, region.endKey) < 0);
}

/** The kvrpcpb Context that addresses `region`. */
export function contextOf(region: RegionInfo): Context {
  return Context.fromPartial({ regionId: region.id, regionEpoch: region.epoch, peer: region.peer });
}

export interface KeyGroup {
  readonly region: RegionInfo;
  readonly keys: Buffer[];
}

export type CacheMode = 'unknown' | 'standalone' | 'cluster';

/** A key the scheduler maps to no region is asked again this many times, waiting 1, 2, ... times this long (about 5 s in all). */
const MISSING_REGION_RETRIES = 10;
const MISSING_REGION_RETRY_MS = 100;
/** Regions whose RegionNotFound answers are counted at once; past it the counts start over (a bound, not a limit met in use). */
const MAX_NOT_FOUND_TRACKED = 4096;

export class RegionCache {
  /** Sorted by start key, non-overlapping. */
  private regions: RegionInfo[] = [];
  private readonly storeAddrs = new Map<number, string>();
  private modeValue: CacheMode = 'unknown';
  /** RegionNotFound answers in a row per region id (bounded by the cached regions: cleared on invalidate). */
  private readonly notFound = new Map<bigint, number>();
  /** Region loads are shared by concurrent lookups of keys that miss the cache at once. */
  private readonly loading = new Map<string, Promise<RegionInfo>>();

  constructor(
    private readonly source: RegionSource,
    /** The address a standalone node is reached at. */
    private readonly standaloneAddr: string,
    private readonly logger: Logger,
  ) {}

  get mode(): CacheMode {
    return this.modeValue;
  }

  /** Cached regions, for tests and diagnostics. */
  snapshot(): readonly RegionInfo[] {
    return [...this.regions];
  }

  /** The region serving `key` of key space `space` (a transactional key is found by its encoding). */
  locate(key: Buffer, space: KeySpace): Promise<RegionInfo> {
    return this.locateStored(routingKey(space, key));
  }

  /** Groups keys by region, keeping the order of each region's first key (so the first key's group comes first). */
  async groupKeys(keys: readonly Buffer[], space: KeySpace): Promise<KeyGroup[]> {
    const groups = new Map<RegionInfo, KeyGroup>();
    for (const key of keys) {
      const region = await this.locate(key, space);
      let group = groups.get(region);
      if (group === undefined) {
        group = { region, keys: [] };
        groups.set(region, group);
      }
      group.keys.push(key);
    }
    return [...groups.values()];
  }

  /**
   * Updates the cache after `error` came back from `region`. Returns whether an immediate retry is
   * likely to succeed (the cache now points elsewhere) rather than needing a backoff first.
   */
  async onRegionError(region: RegionInfo, error: RegionErrorPb): Promise<boolean> {
    this.logger.debug({ regionId: region.id, error }, 'region error');
    if (error.notLeader !== undefined) {
      const leader = error.notLeader.leader;
      if (leader !== undefined && leader.storeId !== 0) {
        await this.switchPeer(region, leader);
        return true;
      }
      await this.switchToNextPeer(region);
      return false;
    }
    if (error.epochNotMatch !== undefined && error.epochNotMatch.currentRegions.length > 0) {
      await this.replace(region, error.epochNotMatch.currentRegions);
      // When the answer leaves part of the old range uncovered (it split more than once), that part
      // comes from the scheduler, which learns new regions from heartbeats: back off first.
      return covers(error.epochNotMatch.currentRegions, region);
    }
    const notFound = error.regionNotFound !== undefined ? (this.notFound.get(region.id) ?? 0) + 1 : 0;
    if (error.regionNotFound !== undefined && notFound < region.peers.length) {
      // The store lost its peer (removed, or not created yet): another peer of the region is a
      // better guess than the scheduler, which may still name this one until the next heartbeat.
      // Once every peer said so, the entry is stale: it goes, and the scheduler is asked again.
      if (this.notFound.size >= MAX_NOT_FOUND_TRACKED) this.notFound.clear();
      this.notFound.set(region.id, notFound);
      await this.switchToNextPeer(region);
      return false;
    }
    this.notFound.delete(region.id);
    if (error.storeNotMatch !== undefined && region.peer !== undefined) this.storeAddrs.delete(region.peer.storeId);
    this.invalidate(region);
    return error.regionNotFound !== undefined || error.keyNotInRegion !== undefined || error.epochNotMatch !== undefined;
  }

  /** After a transport failure to the region's store: try the next peer next time (cluster mode). */
  async onSendFail(region: RegionInfo): Promise<void> {
    if (this.modeValue !== 'cluster') return;
    if (region.peer !== undefined) this.storeAddrs.delete(region.peer.storeId);
    await this.switchToNextPeer(region);
  }

  invalidate(region: RegionInfo): void {
    if (!this.regions.some((r) => r !== region && r.id === region.id)) this.notFound.delete(region.id);
    const index = this.regions.indexOf(region);
    if (index >= 0) this.regions.splice(index, 1);
  }

  // ---- internals ----

  /** The region whose byte range holds the stored key `storedKey`. */
  private async locateStored(storedKey: Buffer): Promise<RegionInfo> {
    const cached = this.find(storedKey);
    if (cached !== undefined) return cached;
    if (this.modeValue === 'standalone') return this.standaloneRegion();
    const id = keyId(storedKey);
    let load = this.loading.get(id);
    if (load === undefined) {
      load = this.load(storedKey).finally(() => this.loading.delete(id));
      this.loading.set(id, load);
    }
    return load;
  }

  private find(key: Buffer): RegionInfo | undefined {
    let lo = 0;
    let hi = this.regions.length - 1;
    let found: RegionInfo | undefined;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const region = defined(this.regions[mid], 'cached region');
      if (Buffer.compare(region.startKey, key) <= 0) {
        found = region;
        lo = mid + 1;
      } else {
        hi = mid - 1;
      }
    }
    return found !== undefined && regionContains(found, key) ? found : undefined;
  }

  private standaloneRegion(): RegionInfo {
    const region: RegionInfo = {
      id: 0n,
      startKey: Buffer.alloc(0),
      endKey: Buffer.alloc(0),
      epoch: undefined,
      peers: [],
      peer: undefined,
      addr: this.standaloneAddr,
    };
    this.regions = [region];
    return region;
  }

  private async load(key: Buffer): Promise<RegionInfo> {
    let lookup;
    try {
      lookup = await this.source.getRegion(key);
      // Right after a split the scheduler may know the shrunk region before the new one's first
      // heartbeat: a short hole in its map, not a missing region. Ask again a few times.
      for (let attempt = 0; lookup === undefined && attempt < MISSING_REGION_RETRIES; attempt++) {
        await new Promise((resolve) => setTimeout(resolve, MISSING_REGION_RETRY_MS * (attempt + 1)));
        lookup = await this.source.getRegion(key);
      }
    } catch (err) {
      if (isUnimplemented(err) && this.modeValue !== 'cluster') {
        this.logger.debug({ addr: this.standaloneAddr }, 'GetRegion unimplemented: standalone node');
        this.modeValue = 'standalone';
        return this.standaloneRegion();
      }
      throw err;
    }
    this.modeValue = 'cluster';
    if (lookup === undefined) {
      throw new ClientError(ClientErrorCode.RegionUnavailable, `the scheduler knows no region for key ${key.toString('hex')}`);
    }
    const leader = lookup.leader !== undefined && lookup.leader.storeId !== 0 ? lookup.leader : lookup.region.peers[0];
    const info = await this.toInfo(lookup.region, leader);
    this.insert(info);
    return info;
  }

  private async toInfo(region: Region, peer: Peer | undefined): Promise<RegionInfo> {
    if (peer === undefined) {
      throw new ClientError(ClientErrorCode.RegionUnavailable, `region ${region.id} has no peers`, { details: { regionId: region.id } });
    }
    return {
      id: BigInt(region.id),
      startKey: Buffer.from(region.startKey),
      endKey: Buffer.from(region.endKey),
      epoch: region.regionEpoch,
      peers: region.peers,
      peer,
      addr: await this.storeAddr(peer.storeId),
    };
  }

  private async storeAddr(storeId: number): Promise<string> {
    const cached = this.storeAddrs.get(storeId);
    if (cached !== undefined) return cached;
    const store = await this.source.getStore(BigInt(storeId));
    if (store === undefined || store.address === '') {
      throw new ClientError(ClientErrorCode.RegionUnavailable, `store ${storeId} is unknown to the scheduler`, { details: { storeId } });
    }
    this.storeAddrs.set(storeId, store.address);
    return store.address;
  }

  /** Inserts `info`, removing every cached region it overlaps. */
  private insert(info: RegionInfo): void {
    const kept = this.regions.filter((r) => !overlaps(r, info));
    let index = kept.findIndex((r) => Buffer.compare(r.startKey, info.startKey) > 0);
    if (index < 0) index = kept.length;
    kept.splice(index, 0, info);
    this.regions = kept;
  }

  private async switchPeer(region: RegionInfo, peer: Peer): Promise<void> {
    const known = region.peers.find((p) => p.storeId === peer.storeId) ?? peer;
    const addr = await this.storeAddr(known.storeId);
    this.replaceEntry(region, { ...region, peer: known, addr });
  }

  private async switchToNextPeer(region: RegionInfo): Promise<void> {
    const current = region.peer;
    if (region.peers.length < 2 || current === undefined) {
      this.invalidate(region);
      return;
    }
    const index = region.peers.findIndex((p) => p.id === current.id);
    const next = defined(region.peers[(index + 1) % region.peers.length], 'next peer');
    try {
      await this.switchPeer(region, next);
    } catch {
      this.invalidate(region);
    }
  }

  private async replace(region: RegionInfo, current: readonly Region[]): Promise<void> {
    this.invalidate(region);
    for (const fresh of current) {
      // Keep talking to the same store if it still holds a peer (it was the leader as far as we knew).
      const peer = fresh.peers.find((p) => p.storeId === region.peer?.storeId) ?? fresh.peers[0];
      try {
        this.insert(await this.toInfo(fresh, peer));
      } catch (err) {
        this.logger.debug({ err, regionId: fresh.id }, 'could not cache a region from EpochNotMatch');
      }
    }
  }

  private replaceEntry(old: RegionInfo, fresh: RegionInfo): void {
    // If `old` is gone, a concurrent update already replaced it; the next lookup reloads.
    const index = this.regions.indexOf(old);
    if (index >= 0) this.regions[index] = fresh;
  }
}

/** Whether `regions` (sorted or not) together cover `range` without a gap. */
function covers(regions: readonly Region[], range: Pick<RegionInfo, 'startKey' | 'endKey'>): boolean {
  const sorted = [...regions].sort((a, b) => Buffer.compare(a.startKey, b.startKey));
  let reached = Buffer.from(range.startKey);
  for (const region of sorted) {
    if (Buffer.compare(region.startKey, reached) > 0) return false;
    if (region.endKey.length === 0) return true;
    if (Buffer.compare(region.endKey, reached) > 0) reached = Buffer.from(region.endKey);
    if (range.endKey.length > 0 && Buffer.compare(reached, range.endKey) >= 0) return true;
  }
  return false;
}

function overlaps(a: Pick<RegionInfo, 'startKey' | 'endKey'>, b: Pick<RegionInfo, 'startKey' | 'endKey'>): boolean {
  const aBeforeB = a.endKey.length > 0 && Buffer.compare(a.endKey, b.startKey) <= 0;
  const bBeforeA = b.endKey.length > 0 && Buffer.compare(b.endKey, a.startKey) <= 0;
  return !aBeforeB && !bBeforeA;
}
