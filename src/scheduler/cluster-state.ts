/**
 * The scheduler's in-memory view of the cluster: stores, regions (a tree keyed by start key), region
 * leaders and per-store counts. Pure and deterministic: no I/O, time only from the injected Clock.
 * Callers persist what the methods report as changed.
 *
 * Region heartbeats follow TinyKV/PD's `processRegionHeartbeat` (reference §8.1):
 *   1. a heartbeat whose epoch is older than the known region with the same id (version or conf_ver
 *      lower) is stale;
 *   2. so is one older than any region whose range it overlaps. Equal epochs pass, so the two halves
 *      of a split may report in either order;
 *   3. an accepted heartbeat replaces the region with its id and removes every region it overlaps.
 * A heartbeat with the same epoch but different peers or leader is accepted (a shrunk peer list
 * must still be recorded, TestRegionRemovePeers3C). Note that rule 2 compares conf_ver across
 * regions too, so a region created by a split must carry its parent's conf_ver (as TiKV does).
 */
import { Peer, Region, RegionEpoch, Store, StoreState } from '../proto/metapb.js';
import type { StoreStats } from '../proto/schedulerpb.js';
import type { Clock } from '../env/clock.js';
import { compareBytes } from '../util/bytes.js';
import { assert, defined } from '../util/assert.js';
import { SchedulerError, SchedulerErrorCode, invalidArgument } from './errors.js';
import { checkEpochStep, checkStoreAddress } from './input-checks.js';
import { StoreRegionSets } from './store-region-sets.js';
import type { RegionRole } from './schedule/cluster-view.js';

const KNOWN_STORE_STATES: ReadonlySet<StoreState> = new Set([StoreState.Up, StoreState.Offline, StoreState.Tombstone]);

export interface RegionInfo {
  readonly region: Region;
  /** The leader peer of the last accepted heartbeat; undefined until a leader reports. */
  readonly leader: Peer | undefined;
  /** Followers that need a snapshot to catch up, as the last accepted heartbeat said. */
  readonly pendingPeers: readonly Peer[];
  /** Followers the leader had not heard from for its max-peer-down-duration, as the last accepted heartbeat said. */
  readonly downPeers: readonly DownPeer[];
  readonly approximateSizeBytes: number;
  readonly approximateKeys: number;
}

export interface DownPeer {
  readonly peer: Peer;
  readonly downSeconds: number;
}

/**
 * What a heartbeat says beside region and leader. Pending and down peers replace what was known
 * (absent: none); an absent size or key count keeps the last one reported (PD's Inherit).
 */
export interface RegionHeartbeatExtras {
  readonly pendingPeers?: readonly Peer[];
  readonly downPeers?: readonly DownPeer[];
  readonly approximateSizeBytes?: number;
  readonly approximateKeys?: number;
}

export interface RegionHeartbeatResult {
  /** Range, epoch or peers differ from what was known (or the region is new): persist it. */
  readonly metaChanged: boolean;
  readonly leaderChanged: boolean;
  /** Regions that the accepted one overlapped and that were dropped: delete them from storage. */
  readonly removed: readonly RegionInfo[];
  readonly region: RegionInfo;
}

export interface StoreInfo {
  readonly store: Store;
  readonly stats: StoreStats | undefined;
  readonly lastHeartbeatMs: number | undefined;
  readonly regionCount: number;
  readonly leaderCount: number;
  readonly pendingPeerCount: number;
  readonly regionSizeBytes: number;
  readonly leaderSizeBytes: number;
}

/** A store state transition; `changed` false when the store already was in the target state (persist nothing). */
export interface StoreStateChange {
  readonly store: Store;
  readonly changed: boolean;
}

interface StoreRecord {
  store: Store;
  stats: StoreStats | undefined;
  lastHeartbeatMs: number | undefined;
  /** Where its silence counts from until its first heartbeat: when it registered, or when this view was made for a store loaded from storage. */
  readonly knownSinceMs: number;
}

interface StoreCounts {
  regionCount: number;
  leaderCount: number;
  pendingPeerCount: number;
  regionSizeBytes: number;
  leaderSizeBytes: number;
}

function emptyCounts(): StoreCounts {
  return { regionCount: 0, leaderCount: 0, pendingPeerCount: 0, regionSizeBytes: 0, leaderSizeBytes: 0 };
}

/** What a region known from storage or bootstrap carries until its leader reports. */
const NO_HEARTBEAT_EXTRAS = { pendingPeers: [], downPeers: [], approximateSizeBytes: 0, approximateKeys: 0 } as const;

/**
 * An empty or not yet measured region counts as 1 MiB in the stores' region sizes (PD's
 * EmptyRegionApproximateSize): balancing by size must still spread regions that hold little data,
 * and a store gaining twelve empty regions is not "empty".
 */
export const EMPTY_REGION_SIZE_BYTES = 1024 * 1024;

/** The size a region counts for in its stores' region and leader sizes. */
export function regionScoreSizeBytes(info: Pick<RegionInfo, 'approximateSizeBytes'>): number {
  return Math.max(info.approximateSizeBytes, EMPTY_REGION_SIZE_BYTES);
}

/** Upper bound of one ScanRegions answer, also when the caller asks for "no limit". */
export const SCAN_REGIONS_MAX = 10_000;

export class ClusterState {
  private readonly stores = new Map<number, StoreRecord>();
  private readonly counts = new Map<number, StoreCounts>();
  private readonly regionsById = new Map<number, RegionInfo>();
  /** Regions sorted by start key; ranges never overlap. */
  private readonly regionsByStart: RegionInfo[] = [];
  /** Per store, the regions it leads, follows or has a pending peer in; kept with the counts. */
  private readonly roles = new StoreRegionSets();
  /** The highest conf_ver and version of any region recorded so far (the epoch reference of a region in a gap). */
  private highestEpoch = RegionEpoch.fromPartial({ confVer: 0, version: 0 });
  /** When this view was made: a store loaded from storage and not heard from since counts its silence from here (PD does the same after a restart). */
  private readonly startedMs: number;

  constructor(private readonly clock: Clock) {
    this.startedMs = clock.nowMs();
  }

  // ---- stores -------------------------------------------------------------------------------

  /**
   * Registers a store or updates its address. The address must be a valid host:port (input-checks);
   * no store registers as (or declares itself) a tombstone, and a tombstoned store cannot come back;
   * an address may belong to only one store that is not a tombstone. An update keeps the stored state.
   */
  putStore(input: Store): Store {
    const id = input.id;
    if (!Number.isSafeInteger(id) || id <= 0) throw invalidArgument(`invalid store id ${id}`);
    if (!KNOWN_STORE_STATES.has(input.state)) {
      throw invalidArgument(`store ${id} has an unknown state ${input.state}`, { storeId: id });
    }
    checkStoreAddress(input.address);
    const existing = this.stores.get(id);
    if (existing?.store.state === StoreState.Tombstone) {
      throw new SchedulerError(SchedulerErrorCode.StoreTombstone, `store ${id} is a tombstone`, { storeId: id });
    }
    if (input.state === StoreState.Tombstone) {
      // A store is made a tombstone by its removal from the cluster, never by its own PutStore.
      throw new SchedulerError(SchedulerErrorCode.StoreTombstone, `store ${id} cannot register as a tombstone`, { storeId: id });
    }
    this.checkAddressFree(id, input.address);
    const store = existing ? { ...existing.store, address: input.address } : cloneStore(input);
    if (existing) existing.store = store;
    // A store that just joined is not Down before its first heartbeat came due (PD's, too).
    else this.stores.set(id, { store, stats: undefined, lastHeartbeatMs: undefined, knownSinceMs: this.clock.nowMs() });
    return cloneStore(store);
  }

  /** Puts a store loaded from storage, without the update rules. */
  loadStore(store: Store): void {
    this.stores.set(store.id, { store: cloneStore(store), stats: undefined, lastHeartbeatMs: undefined, knownSinceMs: this.startedMs });
  }

  getStore(id: number): StoreInfo | undefined {
    const record = this.stores.get(id);
    return record ? this.storeInfo(record) : undefined;
  }

  /** Every store, ordered by id. */
  getStores(options: { excludeTombstones?: boolean } = {}): StoreInfo[] {
    const records = [...this.stores.values()].sort((a, b) => a.store.id - b.store.id);
    return records.filter((r) => !(options.excludeTombstones && r.store.state === StoreState.Tombstone)).map((r) => this.storeInfo(r));
  }

  /** Records a store's statistics and the time of its heartbeat. */
  storeHeartbeat(storeId: number, stats: StoreStats): void {
    const record = this.requireStore(storeId);
    if (record.store.state === StoreState.Tombstone) {
      throw new SchedulerError(SchedulerErrorCode.StoreTombstone, `store ${storeId} is a tombstone`, { storeId });
    }
    record.stats = stats;
    record.lastHeartbeatMs = this.clock.nowMs();
  }

  /** Ms since the store's last heartbeat; before its first, since it registered (or since this view was made, for a store loaded from storage). */
  storeDownMs(info: StoreInfo): number {
    const knownSinceMs = this.stores.get(info.store.id)?.knownSinceMs ?? this.startedMs;
    return Math.max(0, this.clock.nowMs() - (info.lastHeartbeatMs ?? knownSinceMs));
  }

  /**
   * Up -> Offline: an operator removes the store; its replicas are to move away. Offline stays
   * Offline (changed: false); a tombstone cannot be deleted again.
   */
  setStoreOffline(storeId: number): StoreStateChange {
    const record = this.requireStore(storeId);
    if (record.store.state === StoreState.Tombstone) {
      throw new SchedulerError(SchedulerErrorCode.StoreTombstone, `store ${storeId} is already a tombstone`, { storeId });
    }
    if (record.store.state === StoreState.Offline) return { store: cloneStore(record.store), changed: false };
    record.store = { ...record.store, state: StoreState.Offline };
    return { store: cloneStore(record.store), changed: true };
  }

  /**
   * Offline -> Tombstone once no region has a peer on the store. A tombstone stays one (changed:
   * false); an Up store, or one still holding peers, is refused (StoreNotDrained).
   */
  setStoreTombstone(storeId: number): StoreStateChange {
    const record = this.requireStore(storeId);
    if (record.store.state === StoreState.Tombstone) return { store: cloneStore(record.store), changed: false };
    if (record.store.state !== StoreState.Offline) {
      throw new SchedulerError(SchedulerErrorCode.StoreNotDrained, `store ${storeId} is not offline; delete it first`, { storeId });
    }
    const regionCount = this.counts.get(storeId)?.regionCount ?? 0;
    if (regionCount > 0) {
      throw new SchedulerError(SchedulerErrorCode.StoreNotDrained, `store ${storeId} still holds ${regionCount} region peers`, {
        storeId,
        regionCount,
      });
    }
    record.store = { ...record.store, state: StoreState.Tombstone };
    return { store: cloneStore(record.store), changed: true };
  }

  private requireStore(storeId: number): StoreRecord {
    const record = this.stores.get(storeId);
    if (!record) throw new SchedulerError(SchedulerErrorCode.StoreNotFound, `store ${storeId} not found`, { storeId });
    return record;
  }

  private checkAddressFree(id: number, address: string): void {
    for (const other of this.stores.values()) {
      if (other.store.id === id || other.store.state === StoreState.Tombstone) continue;
      if (other.store.address === address) {
        throw new SchedulerError(SchedulerErrorCode.DuplicateStoreAddress, `address ${address} is already registered by store ${other.store.id}`, {
          storeId: id,
          ownerStoreId: other.store.id,
          address,
        });
      }
    }
  }

  private storeInfo(record: StoreRecord): StoreInfo {
    const counts = this.counts.get(record.store.id) ?? emptyCounts();
    return { store: cloneStore(record.store), stats: record.stats, lastHeartbeatMs: record.lastHeartbeatMs, ...counts };
  }

  // ---- regions ------------------------------------------------------------------------------

  get regionCount(): number {
    return this.regionsById.size;
  }

  /**
   * Applies a region heartbeat: rejects a stale epoch with KV:Scheduler:StaleRegion and leaves the
   * state unchanged; otherwise records the region and its leader, dropping overlapped regions.
   * Also refused, so one bad heartbeat cannot wipe or freeze real regions: an epoch more than
   * MAX_EPOCH_STEP ahead of what is known (InvalidArgument), and a range overlapping another
   * region that the reporting leader's store may not replace (RegionConflict, see checkMayReplace).
   */
  processRegionHeartbeat(region: Region, leader: Peer | undefined, extras: RegionHeartbeatExtras = {}): RegionHeartbeatResult {
    validateRegion(region, leader);
    const epoch = epochOf(region);
    const origin = this.regionsById.get(region.id);
    if (origin && isStale(epoch, epochOf(origin.region))) throw staleError(region, origin.region);
    const overlaps = this.overlapping(region.startKey, region.endKey).filter((r) => r.region.id !== region.id);
    checkEpochStep(region.id, epoch, this.epochReference(origin, overlaps));
    for (const overlap of overlaps) {
      if (isStale(epoch, epochOf(overlap.region))) throw staleError(region, overlap.region);
      if (leader) checkMayReplace(region, leader, overlap);
    }
    const info: RegionInfo = {
      region: cloneRegion(region),
      leader: leader ? clonePeer(leader) : undefined,
      pendingPeers: (extras.pendingPeers ?? []).map(clonePeer),
      downPeers: (extras.downPeers ?? []).map((down) => ({ peer: clonePeer(down.peer), downSeconds: down.downSeconds })),
      approximateSizeBytes: extras.approximateSizeBytes ?? origin?.approximateSizeBytes ?? 0,
      approximateKeys: extras.approximateKeys ?? origin?.approximateKeys ?? 0,
    };
    const metaChanged = !origin || !sameRegionMeta(origin.region, info.region) || overlaps.length > 0;
    const leaderChanged = origin?.leader?.id !== info.leader?.id;
    this.putRegion(info);
    return { metaChanged, leaderChanged, removed: overlaps, region: info };
  }

  /** What a heartbeat's epoch may step from: its own region, else the regions it overlaps, else the highest seen. */
  private epochReference(origin: RegionInfo | undefined, overlaps: readonly RegionInfo[]): RegionEpoch {
    if (origin) return epochOf(origin.region);
    if (overlaps.length === 0) return this.highestEpoch;
    return RegionEpoch.fromPartial({
      confVer: Math.max(...overlaps.map((o) => epochOf(o.region).confVer)),
      version: Math.max(...overlaps.map((o) => epochOf(o.region).version)),
    });
  }

  /** Puts a region loaded from storage or created by bootstrap, replacing anything it overlaps. */
  loadRegion(region: Region, leader?: Peer): RegionInfo[] {
    validateRegion(region, leader);
    const removed = this.overlapping(region.startKey, region.endKey).filter((r) => r.region.id !== region.id);
    this.putRegion({ region: cloneRegion(region), leader: leader && clonePeer(leader), ...NO_HEARTBEAT_EXTRAS });
    return removed;
  }

  getRegionById(id: number): RegionInfo | undefined {
    return this.regionsById.get(id);
  }

  /** The region whose range holds `key`. */
  getRegion(key: Uint8Array): RegionInfo | undefined {
    const index = this.indexContaining(key);
    return index === -1 ? undefined : this.regionsByStart[index];
  }

  /** The region right before the one holding `key`, if the two are adjacent (PD's searchPrev). */
  getPrevRegion(key: Uint8Array): RegionInfo | undefined {
    const index = this.indexContaining(key);
    if (index <= 0) return undefined;
    const current = defined(this.regionsByStart[index], 'region at index');
    const previous = defined(this.regionsByStart[index - 1], 'region before index');
    return compareBytes(previous.region.endKey, current.region.startKey) === 0 ? previous : undefined;
  }

  /**
   * Regions from the one holding `startKey` (or the first after it) while their start is below
   * `endKey` (empty: unbounded), at most `limit` (<= 0: SCAN_REGIONS_MAX).
   */
  scanRegions(startKey: Uint8Array, endKey: Uint8Array, limit: number): RegionInfo[] {
    const max = limit > 0 ? Math.min(limit, SCAN_REGIONS_MAX) : SCAN_REGIONS_MAX;
    const out: RegionInfo[] = [];
    for (let i = this.firstIndexFrom(startKey); i < this.regionsByStart.length && out.length < max; i++) {
      const info = defined(this.regionsByStart[i], 'region in scan');
      if (endKey.length > 0 && compareBytes(info.region.startKey, endKey) >= 0) break;
      out.push(info);
    }
    return out;
  }

  /** Every region in key order. */
  allRegions(): readonly RegionInfo[] {
    return [...this.regionsByStart];
  }

  /** A uniformly random region in which `storeId` plays `role` (pending peer, follower, leader), or undefined. */
  randomRegionOf(storeId: number, role: RegionRole, random: () => number): RegionInfo | undefined {
    const regionId = this.roles.pick(storeId, role, random);
    return regionId === undefined ? undefined : defined(this.regionsById.get(regionId), `region ${regionId} of store ${storeId}`);
  }

  /**
   * AskSplit's check (PD validRequestRegion): the region holding the request's start key must exist
   * and the request's epoch must not be older than it.
   */
  checkRequestRegion(region: Region): RegionInfo {
    const known = this.getRegion(region.startKey);
    if (!known) {
      const hex = Buffer.from(region.startKey).toString('hex');
      throw new SchedulerError(SchedulerErrorCode.UnknownRegion, `no region holds key 0x${hex}`, { regionId: region.id });
    }
    const epoch = region.regionEpoch ?? { confVer: 0, version: 0 };
    if (isStale(epoch, epochOf(known.region))) throw staleError(region, known.region);
    return known;
  }

  // ---- region tree --------------------------------------------------------------------------

  private putRegion(info: RegionInfo): void {
    const origin = this.regionsById.get(info.region.id);
    if (origin) this.removeRegion(origin);
    for (const overlap of this.overlapping(info.region.startKey, info.region.endKey)) this.removeRegion(overlap);
    const at = this.upperBound(info.region.startKey);
    this.regionsByStart.splice(at, 0, info);
    this.regionsById.set(info.region.id, info);
    this.adjustCounts(info, +1);
    const epoch = epochOf(info.region);
    this.highestEpoch = RegionEpoch.fromPartial({
      confVer: Math.max(this.highestEpoch.confVer, epoch.confVer),
      version: Math.max(this.highestEpoch.version, epoch.version),
    });
    assert(at === 0 || rangesDisjoint(defined(this.regionsByStart[at - 1], 'left neighbour').region, info.region), 'region tree overlap (left)');
    assert(
      at + 1 >= this.regionsByStart.length || rangesDisjoint(info.region, defined(this.regionsByStart[at + 1], 'right neighbour').region),
      'region tree overlap (right)',
    );
  }

  private removeRegion(info: RegionInfo): void {
    const index = this.regionsByStart.indexOf(info);
    assert(index !== -1, `region ${info.region.id} is missing from the tree`);
    this.regionsByStart.splice(index, 1);
    this.regionsById.delete(info.region.id);
    this.adjustCounts(info, -1);
  }

  private adjustCounts(info: RegionInfo, sign: 1 | -1): void {
    if (sign > 0) this.roles.add(info);
    else this.roles.remove(info);
    const size = regionScoreSizeBytes(info);
    for (const peer of info.region.peers) {
      const counts = this.countsOf(peer.storeId);
      counts.regionCount += sign;
      counts.regionSizeBytes += sign * size;
      if (info.leader && info.leader.id === peer.id) {
        counts.leaderCount += sign;
        counts.leaderSizeBytes += sign * size;
      }
    }
    for (const pending of info.pendingPeers) this.countsOf(pending.storeId).pendingPeerCount += sign;
  }

  private countsOf(storeId: number): StoreCounts {
    let counts = this.counts.get(storeId);
    if (!counts) this.counts.set(storeId, (counts = emptyCounts()));
    return counts;
  }

  /** Index of the first region whose start key is greater than `key`. */
  private upperBound(key: Uint8Array): number {
    let low = 0;
    let high = this.regionsByStart.length;
    while (low < high) {
      const mid = (low + high) >>> 1;
      if (compareBytes(defined(this.regionsByStart[mid], 'region at mid').region.startKey, key) <= 0) low = mid + 1;
      else high = mid;
    }
    return low;
  }

  private indexContaining(key: Uint8Array): number {
    const index = this.upperBound(key) - 1;
    if (index < 0) return -1;
    return containsKey(defined(this.regionsByStart[index], 'region at index').region, key) ? index : -1;
  }

  /** Index of the region holding `key`, or of the first region after it. */
  private firstIndexFrom(key: Uint8Array): number {
    const at = this.upperBound(key);
    return at > 0 && containsKey(defined(this.regionsByStart[at - 1], 'region before key').region, key) ? at - 1 : at;
  }

  private overlapping(startKey: Uint8Array, endKey: Uint8Array): RegionInfo[] {
    const out: RegionInfo[] = [];
    for (let i = this.firstIndexFrom(startKey); i < this.regionsByStart.length; i++) {
      const info = defined(this.regionsByStart[i], 'region in scan');
      if (endKey.length > 0 && compareBytes(info.region.startKey, endKey) >= 0) break;
      out.push(info);
    }
    return out;
  }
}

// ---- helpers ------------------------------------------------------------------------------------

export function isStale(incoming: RegionEpoch, known: RegionEpoch): boolean {
  return incoming.version < known.version || incoming.confVer < known.confVer;
}

function staleError(region: Region, known: Region): SchedulerError {
  const epoch = region.regionEpoch;
  const knownEpoch = epochOf(known);
  return new SchedulerError(
    SchedulerErrorCode.StaleRegion,
    `region ${region.id} epoch {conf_ver:${epoch?.confVer ?? 0}, version:${epoch?.version ?? 0}} is older than region ` +
      `${known.id} {conf_ver:${knownEpoch.confVer}, version:${knownEpoch.version}}`,
    { regionId: region.id, knownRegionId: known.id },
  );
}

/**
 * A heartbeat may replace an overlapped region of another id only when it comes from that region's
 * side: from the store of its known leader, or, while its leader is unknown, from a store holding
 * one of its peers. A split child's peers sit on its parent's stores, so a real child qualifies (or
 * its parent's own heartbeat shrinks the parent first); a made-up region reported from elsewhere
 * never removes a real one.
 */
function checkMayReplace(region: Region, leader: Peer, overlap: RegionInfo): void {
  const known = overlap.region;
  const ok = overlap.leader ? overlap.leader.storeId === leader.storeId : known.peers.some((p) => p.storeId === leader.storeId);
  if (ok) return;
  const from = overlap.leader ? `its leader's store ${overlap.leader.storeId}` : `a store holding one of its peers`;
  throw new SchedulerError(
    SchedulerErrorCode.RegionConflict,
    `region ${region.id} reported from store ${leader.storeId} overlaps region ${known.id}, which only ${from} may replace`,
    { regionId: region.id, knownRegionId: known.id, storeId: leader.storeId },
  );
}

/** Every region the tree holds passed validateRegion, which requires an epoch. */
function epochOf(region: Region): RegionEpoch {
  return defined(region.regionEpoch, 'region epoch');
}

export function containsKey(region: Region, key: Uint8Array): boolean {
  return compareBytes(region.startKey, key) <= 0 && (region.endKey.length === 0 || compareBytes(key, region.endKey) < 0);
}

/** `left` ends at or before `right` starts (left sorts first). */
function rangesDisjoint(left: Region, right: Region): boolean {
  return left.endKey.length > 0 && compareBytes(left.endKey, right.startKey) <= 0;
}

function validateRegion(region: Region, leader: Peer | undefined): void {
  const id = region.id;
  if (!Number.isSafeInteger(id) || id <= 0) throw invalidArgument(`invalid region id ${id}`);
  if (!region.regionEpoch) throw invalidArgument(`region ${id} has no epoch`, { regionId: id });
  if (region.endKey.length > 0 && compareBytes(region.startKey, region.endKey) >= 0) {
    throw invalidArgument(`region ${id} has an empty or inverted range`, { regionId: id });
  }
  if (region.peers.length === 0) throw invalidArgument(`region ${id} has no peers`, { regionId: id });
  const peerIds = new Set<number>();
  const storeIds = new Set<number>();
  for (const peer of region.peers) {
    if (!(peer.id > 0) || !(peer.storeId > 0)) throw invalidArgument(`region ${id} has an invalid peer`, { regionId: id });
    peerIds.add(peer.id);
    storeIds.add(peer.storeId);
  }
  if (peerIds.size !== region.peers.length || storeIds.size !== region.peers.length) {
    throw invalidArgument(`region ${id} has two peers with one id or on one store`, { regionId: id });
  }
  if (leader && !region.peers.some((p) => p.id === leader.id && p.storeId === leader.storeId)) {
    throw invalidArgument(`leader ${leader.id} is not a peer of region ${id}`, { regionId: id });
  }
}

function sameRegionMeta(a: Region, b: Region): boolean {
  return (
    compareBytes(a.startKey, b.startKey) === 0 &&
    compareBytes(a.endKey, b.endKey) === 0 &&
    epochOf(a).confVer === epochOf(b).confVer &&
    epochOf(a).version === epochOf(b).version &&
    a.peers.length === b.peers.length &&
    a.peers.every((p, i) => p.id === b.peers[i]?.id && p.storeId === b.peers[i]?.storeId)
  );
}

export function clonePeer(peer: Peer): Peer {
  return Peer.fromPartial({ id: peer.id, storeId: peer.storeId });
}

export function cloneRegion(region: Region): Region {
  return Region.fromPartial({
    id: region.id,
    startKey: Buffer.from(region.startKey),
    endKey: Buffer.from(region.endKey),
    regionEpoch: region.regionEpoch && RegionEpoch.fromPartial(region.regionEpoch),
    peers: region.peers.map(clonePeer),
  });
}

export function cloneStore(store: Store): Store {
  return Store.fromPartial({ id: store.id, address: store.address, state: store.state });
}
