/**
 * Reads served on the main thread (TiKV's LocalReader): a Get or Snap for a region whose peer here
 * leads and holds a lease (peer/leader-lease.ts) is answered from a fresh kv read transaction at
 * once, with no frame to a poller, no quorum round and no apply-thread hop.
 *
 * What it relies on: the poller's region report names, for each leading peer, its term, region
 * and the lease's slot and generation in that poller's lease table (lease-table.ts); the poller
 * publishes a lease only once its peer has applied its term's first entry, so the kv engine holds
 * every write any leader acknowledged, and it ends the lease with an atomic store the moment its
 * peer may no longer serve (a step-down, a leader transfer). A report older than the lease's
 * generation (the region split or changed members since) matches nothing and the read takes the
 * poller's path, which answers with the right error if there is one.
 *
 * The read transaction is opened before the lease is checked: the read's point in time is then
 * inside the lease.
 */
import type { Engine } from '../../engine/engine.js';
import type { MonotonicClock } from '../../env/clock.js';
import type { Region } from '../../proto/metapb.js';
import type { RaftCmdRequest } from '../../proto/raft_cmdpb.js';
import type { CommandResult } from '../router/command-callback.js';
import { isReadOnly, keyOf } from '../operation/command.js';
import { serveRead } from '../operation/read.js';
import { keyInRegion } from '../region.js';
import type { LeaseTable } from './lease-table.js';

/** A leading peer's region as its poller last reported it. */
export interface LeaseReport {
  readonly region: Region;
  readonly peerId: number;
  readonly leader: boolean;
  readonly term: number;
  readonly leaseSlot: number;
  readonly leaseGeneration: number;
}

interface LocalRegion {
  readonly region: Region;
  readonly term: number;
  readonly table: LeaseTable;
  readonly slot: number;
  readonly generation: number;
}

export class LocalReader {
  private readonly regions = new Map<number, LocalRegion>();
  /** The regions each poller's last report listed as leased, to drop when the next report lacks them. */
  private readonly byPoller = new Map<number, number[]>();
  /** Reads served here, and reads of a leased region that found no lease and went to the poller. */
  readonly counts = { served: 0, expired: 0 };

  constructor(
    private readonly storeId: number,
    private readonly kv: Engine,
    private readonly tables: readonly LeaseTable[],
    private readonly clock: MonotonicClock,
  ) {}

  /** A poller's new region report. */
  onReport(pollerIndex: number, reports: readonly LeaseReport[]): void {
    for (const regionId of this.byPoller.get(pollerIndex) ?? []) this.regions.delete(regionId);
    const table = this.tables[pollerIndex];
    const leased: number[] = [];
    if (table) {
      for (const report of reports) {
        if (!report.leader || report.leaseSlot < 0) continue;
        this.regions.set(report.region.id, {
          region: report.region,
          term: report.term,
          table,
          slot: report.leaseSlot,
          generation: report.leaseGeneration,
        });
        leased.push(report.region.id);
      }
    }
    this.byPoller.set(pollerIndex, leased);
  }

  /** The answer to a read served here, or undefined: the poller must take it. */
  read(request: RaftCmdRequest): CommandResult | undefined {
    const header = request.header;
    if (!header || !isReadOnly(request)) return undefined;
    const local = this.regions.get(header.regionId);
    if (!local) return undefined;
    // The checks a peer makes (operation/command.ts checkCommand); a read failing one goes to the
    // poller, which answers it with the region error.
    const storeId = header.peer?.storeId ?? 0;
    if (storeId !== 0 && storeId !== this.storeId) return undefined;
    if (header.term !== 0 && local.term > header.term + 1) return undefined;
    if (header.regionEpoch && header.regionEpoch.version !== local.region.regionEpoch?.version) return undefined;
    for (const r of request.requests) {
      const key = keyOf(r);
      if (key && !keyInRegion(key, local.region)) return undefined;
    }
    const snapshot = this.kv.snapshot();
    if (!local.table.holds(local.slot, local.generation, this.clock.nowMs())) {
      snapshot.close();
      this.counts.expired++;
      return undefined;
    }
    this.counts.served++;
    // The report's region is replaced, never changed: the answer shares it.
    return serveRead(snapshot, local.region, request);
  }
}
