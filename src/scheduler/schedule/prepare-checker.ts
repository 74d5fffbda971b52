/**
 * PD's prepareChecker: after a restart the scheduler knows the regions from storage but not their
 * leaders, sizes or pending peers until each reports again. Scheduling on that partial picture
 * would move regions on stale facts, so the coordinator waits until most regions reported since
 * start (PREPARE_REGION_RATIO of all regions, and of every store's regions), or PREPARE_MAX_WAIT_MS
 * passed. A fresh cluster (nothing in storage at start) has nothing stale and is prepared at once.
 *
 * Deviation from PD: instead of counting heartbeats in a collect() hook, a region counts as
 * reported when it has a leader, which the cluster state records only from a heartbeat (regions
 * loaded from storage or made by bootstrap have none). Distinct regions are counted, so a region
 * that reports often cannot stand in for one that never did.
 *
 * Pure: time comes from the caller; prepared, once reached, stays.
 */
import type { RegionInfo } from '../cluster-state.js';

export const PREPARE_REGION_RATIO = 0.8;
export const PREPARE_MAX_WAIT_MS = 5 * 60_000;

export interface PrepareCheckerOptions {
  /** When the scheduler started (ms, the scheduler's clock). */
  readonly startMs: number;
  /** Regions loaded from storage at start; 0 means a fresh cluster. */
  readonly loadedRegionCount: number;
  readonly ratio?: number;
  readonly maxWaitMs?: number;
}

export class PrepareChecker {
  private isPrepared: boolean;
  private readonly startMs: number;
  private readonly ratio: number;
  private readonly maxWaitMs: number;

  constructor(options: PrepareCheckerOptions) {
    this.startMs = options.startMs;
    this.ratio = options.ratio ?? PREPARE_REGION_RATIO;
    this.maxWaitMs = options.maxWaitMs ?? PREPARE_MAX_WAIT_MS;
    this.isPrepared = options.loadedRegionCount === 0;
  }

  get prepared(): boolean {
    return this.isPrepared;
  }

  /** Re-evaluates over every region known now; O(regions x peers), called every few seconds until prepared. */
  check(nowMs: number, regions: readonly RegionInfo[]): boolean {
    if (this.isPrepared) return true;
    if (nowMs - this.startMs >= this.maxWaitMs || this.mostReported(regions)) this.isPrepared = true;
    return this.isPrepared;
  }

  private mostReported(regions: readonly RegionInfo[]): boolean {
    let reported = 0;
    const perStore = new Map<number, { total: number; reported: number }>();
    for (const info of regions) {
      const hasReported = info.leader !== undefined;
      if (hasReported) reported++;
      for (const peer of info.region.peers) {
        let counts = perStore.get(peer.storeId);
        if (!counts) perStore.set(peer.storeId, (counts = { total: 0, reported: 0 }));
        counts.total++;
        if (hasReported) counts.reported++;
      }
    }
    if (reported < regions.length * this.ratio) return false;
    for (const counts of perStore.values()) if (counts.reported < counts.total * this.ratio) return false;
    return true;
  }
}
