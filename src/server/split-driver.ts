/**
 * When a store splits its regions (TiKV's split-check tick, split-check worker and pd worker's
 * AskSplit, as one small loop on the main thread, which owns the scheduler connection).
 *
 * Every split-check tick, each region this store leads is checked on the split-check thread
 * (src/raftstore/split/split-checker.ts) if it has never been checked since this store led it, or
 * if writes of at least `checkDiffBytes` went through this node since its last check (TiKV's
 * region-split-check-diff: a sixteenth of the split size). A check answers the region's
 * approximate size and key count (region heartbeats carry them) and, past region-max-size, a split
 * key. Then, if this store still leads the region at the same epoch, it asks the scheduler for the
 * new region's ids (AskSplit) and proposes the Split admin command to the region; the region's
 * peers carry it out (src/raftstore/operation/split.ts).
 *
 * Writes are counted once applied through this node (when their answer arrives); writes proposed elsewhere (a previous
 * leader) are not seen here, which the first check after taking the lead makes up for.
 *
 * The scheduler may ask for a split too (an operator's split-region step, `requestSplit`): at the
 * first of its keys strictly inside the region, or, given none, where the split checker finds the
 * middle of the region's data. The scheduler re-sends the request until it sees the split, so the
 * Split command carries the epoch the scheduler decided on: once the region split, a repeat is
 * refused (a key outside the shrunk range is not even proposed).
 */
import type { Logger } from 'pino';
import type { Region, RegionEpoch } from '../proto/metapb.js';
import { CheckPolicy, type SplitRegion } from '../proto/schedulerpb.js';
import { encodeBytes } from '../txn/codec.js';
import { compareBytes } from '../util/bytes.js';
import { AdminCmdType, RaftCmdRequest, type RaftCmdResponse } from '../proto/raft_cmdpb.js';
import type { SplitCheckResult, SplitThresholds } from '../raftstore/split/split-check.js';
import type { SplitChecker } from '../raftstore/split/split-checker.js';
import { epochOf } from '../raftstore/region.js';
import type { RaftRouter } from '../raftstore/router/router.js';

export interface SplitDriverOptions {
  readonly router: Pick<RaftRouter, 'leaderRegions' | 'propose'>;
  readonly checker: Pick<SplitChecker, 'check'>;
  /** The store's max-size and split-size, for the first check of a region the scheduler asks to split. */
  readonly thresholds?: SplitThresholds;
  /** The scheduler's AskSplit: ids for the new region and one new peer id per peer. */
  readonly askSplit: (region: Region) => Promise<{ newRegionId: number; newPeerIds: number[] }>;
  /** Bytes written to a region since its last check that make it due for another. */
  readonly checkDiffBytes: number;
  /** How long a proposed Split may take before it is given up (the next check tries again). */
  readonly proposeTimeoutMs: number;
  readonly logger: Logger;
  readonly nowMs?: () => number;
}

/** Checks one tick starts at most; the split checker bounds those in flight too. */
const MAX_CHECKS_PER_TICK = 16;

/** A region's size as its last check saw it. */
export interface ApproximateSize {
  readonly sizeBytes: number;
  readonly keys: number;
}

export class SplitDriver {
  /** Bytes proposed to each region since its last check. */
  private readonly written = new Map<number, number>();
  private readonly sizes = new Map<number, ApproximateSize>();
  /** Regions being checked or split now: one at a time per region. */
  private readonly busy = new Set<number>();
  /** Splits carried out (for the node's status and tests). */
  splitCount = 0;
  /** Called with both regions once a split applied on the leader (the node heartbeats them at once). */
  onSplit: ((regions: readonly Region[]) => void) | undefined;

  constructor(private readonly options: SplitDriverOptions) {}

  /** A write of `sizeBytes` was proposed to the region on this node. */
  onWrite(regionId: number, sizeBytes: number): void {
    this.written.set(regionId, (this.written.get(regionId) ?? 0) + sizeBytes);
  }

  approximateSize(regionId: number): ApproximateSize | undefined {
    return this.sizes.get(regionId);
  }

  /** One split-check tick: starts the checks that are due. Returns when they are all done (tests await it). */
  async tick(): Promise<void> {
    const led = this.options.router.leaderRegions();
    const ids = new Set(led.map(({ region }) => region.id));
    // Sizes of regions led elsewhere now are that leader's to report.
    for (const id of this.sizes.keys()) if (!ids.has(id)) this.sizes.delete(id);
    for (const id of this.written.keys()) if (!ids.has(id)) this.written.delete(id);
    // A bounded number per tick: a store that just took the lead of many regions spreads their
    // first checks over several ticks (a checked region stops being due).
    const due = led.filter(({ region }) => !this.busy.has(region.id) && this.isDue(region.id)).slice(0, MAX_CHECKS_PER_TICK);
    await Promise.all(due.map(({ region }) => this.checkAndSplit(region)));
  }

  private isDue(regionId: number): boolean {
    return !this.sizes.has(regionId) || (this.written.get(regionId) ?? 0) >= this.options.checkDiffBytes;
  }

  private async checkAndSplit(region: Region): Promise<void> {
    const regionId = region.id;
    this.busy.add(regionId);
    const writtenBefore = this.written.get(regionId) ?? 0;
    this.written.set(regionId, 0);
    try {
      const result = await this.options.checker.check(regionId, region);
      this.sizes.set(regionId, { sizeBytes: result.sizeBytes, keys: result.keys });
      if (result.splitKey) await this.split(region, result);
    } catch (err) {
      // Busy, timed out, or the scheduler unreachable: the next tick tries again.
      this.written.set(regionId, (this.written.get(regionId) ?? 0) + writtenBefore);
      this.options.logger.warn({ err, regionId }, 'region split check failed');
    } finally {
      this.busy.delete(regionId);
    }
  }

  /**
   * The scheduler asks this store (the region's leader) to split `regionId`, decided at `epoch`.
   * Ignored while the region is being checked or split, when it is not led here at that version,
   * or when no key is found inside it. Resolves when done (tests await it).
   */
  async requestSplit(regionId: number, epoch: RegionEpoch, request: SplitRegion): Promise<void> {
    if (this.busy.has(regionId)) return;
    const led = this.options.router.leaderRegions().find(({ region }) => region.id === regionId);
    if (!led || epochOf(led.region).version !== epoch.version) return;
    this.busy.add(regionId);
    try {
      const region = led.region;
      const splitKey = request.policy === CheckPolicy.USEKEY ? firstKeyInside(region, request.keys) : await this.middleKey(region);
      if (splitKey === undefined) return;
      const sizeBytes = this.sizes.get(regionId)?.sizeBytes ?? 0;
      await this.split(region, { splitKey, sizeBytes, keys: 0, complete: false }, epoch);
    } catch (err) {
      this.options.logger.warn({ err, regionId }, 'region split asked by the scheduler failed');
    } finally {
      this.busy.delete(regionId);
    }
  }

  /**
   * Where the region's data is halved, at a user-key boundary (the split checker's cut); a region
   * first measured here that is past max-size splits where the store's own check would.
   */
  private async middleKey(region: Region): Promise<Buffer | undefined> {
    let sizeBytes = this.sizes.get(region.id)?.sizeBytes;
    if (sizeBytes === undefined) {
      const measured = await this.options.checker.check(region.id, region, this.options.thresholds);
      this.sizes.set(region.id, { sizeBytes: measured.sizeBytes, keys: measured.keys });
      if (measured.splitKey) return measured.splitKey;
      sizeBytes = measured.sizeBytes;
    }
    // max-size 0: the check stops at the first boundary past half the data.
    const result = await this.options.checker.check(region.id, region, { maxSizeBytes: 0, splitSizeBytes: Math.floor(sizeBytes / 2) });
    return result.splitKey;
  }

  private async split(checked: Region, result: SplitCheckResult, decidedEpoch?: RegionEpoch): Promise<void> {
    const splitKey = result.splitKey;
    const current = this.ledNow(checked);
    // The key was found in the range checked: a region that split or moved since is checked again.
    if (!splitKey || !current) return;
    const started = this.now();
    const ids = await this.options.askSplit(current.region);
    const response = await this.propose(
      RaftCmdRequest.fromPartial({
        header: { regionId: checked.id, peer: current.leader, regionEpoch: decidedEpoch ?? epochOf(current.region) },
        adminRequest: { cmdType: AdminCmdType.Split, split: { splitKey, newRegionId: ids.newRegionId, newPeerIds: ids.newPeerIds } },
      }),
    );
    const error = response.header?.error;
    if (error) {
      this.options.logger.info({ regionId: checked.id, error: error.message }, 'region split not done');
      return;
    }
    const regions = response.adminResponse?.split?.regions ?? [];
    this.splitCount++;
    // The left part keeps about split-size; the new region is measured on the next tick it is led here.
    this.sizes.delete(checked.id);
    this.options.logger.info(
      {
        regionId: checked.id,
        newRegionId: ids.newRegionId,
        splitKey: Buffer.from(splitKey).toString('hex'),
        sizeBytes: result.sizeBytes,
        splitMs: this.now() - started,
      },
      'region split',
    );
    this.onSplit?.(regions);
  }

  /** The region as this store leads it now, if at the same version (range) as when it was checked. */
  private ledNow(checked: Region): { region: Region; leader: NonNullable<Region['peers'][number]> } | undefined {
    const led = this.options.router.leaderRegions().find(({ region }) => region.id === checked.id);
    if (!led || epochOf(led.region).version !== epochOf(checked).version) return undefined;
    return led;
  }

  private propose(request: RaftCmdRequest): Promise<RaftCmdResponse> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        cancel();
        reject(new Error(`split of region ${request.header?.regionId} not answered in ${this.options.proposeTimeoutMs} ms`));
      }, this.options.proposeTimeoutMs);
      const cancel = this.options.router.propose(request, (result) => {
        clearTimeout(timer);
        result.snapshot?.close();
        resolve(result.response);
      });
    });
  }

  private now(): number {
    return (this.options.nowMs ?? Date.now)();
  }
}

/**
 * The first of the scheduler's keys that cuts strictly inside `region`, as a stored key. Keys are
 * user keys as clients see them; the cut is the key's transactional encoding (docs/key-layout.md),
 * the boundary the split checker cuts transactional data at, so the key's lock and versions stay
 * together in the right-hand region, where clients route it.
 */
export function firstKeyInside(region: Region, userKeys: readonly Uint8Array[]): Buffer | undefined {
  for (const userKey of userKeys) {
    const key = encodeBytes(userKey);
    if (compareBytes(key, region.startKey) <= 0) continue;
    if (region.endKey.length > 0 && compareBytes(key, region.endKey) >= 0) continue;
    return key;
  }
  return undefined;
}
