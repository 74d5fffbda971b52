/**
 * What a store tells the scheduler about itself in its StoreHeartbeat (PD's StoreStats): disk
 * capacity and free space of the data dir's filesystem (statfs), bytes the LMDB environments use,
 * regions hosted, start time, the interval the report covers and what clients wrote and read in it
 * (flow-stats.ts; an extension with PD's field numbers).
 *
 * Snapshot streams sent and received count from the main thread's transport and gRPC service.
 * is_busy: the store has more commands in flight than BUSY_PENDING_COMMANDS (the raftstore is far
 * behind its callers); the scheduler then moves nothing onto or off it.
 * Not measured (always 0): applying_snap_count. Snapshots apply on the poller threads, which keep
 * no count the main thread can read; asking them each heartbeat would cost a round trip per
 * poller for a number no scheduler here uses.
 */
import { statfs } from 'node:fs/promises';
import { join } from 'node:path';
import { StoreStats } from '../proto/schedulerpb.js';
import { directoryBytes } from '../env/disk-usage.js';
import type { FlowTotals } from './flow-stats.js';

export interface StoreStatsSource {
  readonly storeId: number;
  readonly dataDir: string;
  /** The LMDB environments' directories under dataDir (`raft`, `kv`). */
  readonly engineDirs: readonly string[];
  /** Unix seconds the store started at. */
  readonly startTimeSec: number;
  /** Region peers this store hosts now. */
  regionCount(): number;
  /** The store is overloaded (StoreStats.is_busy). */
  busy(): boolean;
  /** Snapshot streams in flight now, out to other stores and in from them. */
  snapshotStreams(): { readonly sending: number; readonly receiving: number };
  /** What clients wrote and read since the previous call (the heartbeat's interval). */
  flow(): FlowTotals;
}

/** One heartbeat's stats; `intervalStartSec` is when the previous one was taken (or the start). */
export async function collectStoreStats(source: StoreStatsSource, intervalStartSec: number, nowSec: number): Promise<StoreStats> {
  const disk = await statfs(source.dataDir);
  const capacityBytes = disk.blocks * disk.bsize;
  const availableBytes = disk.bavail * disk.bsize;
  const snapshots = source.snapshotStreams();
  const usedBytes = (await Promise.all(source.engineDirs.map((dir) => directoryBytes(join(source.dataDir, dir))))).reduce((a, b) => a + b, 0);
  // Taken last, with nothing awaited after it: the totals belong to this interval.
  const flow = source.flow();
  return StoreStats.fromPartial({
    storeId: BigInt(source.storeId),
    capacity: BigInt(capacityBytes),
    available: BigInt(availableBytes),
    usedSize: BigInt(usedBytes),
    regionCount: source.regionCount(),
    sendingSnapCount: snapshots.sending,
    receivingSnapCount: snapshots.receiving,
    startTime: source.startTimeSec,
    isBusy: source.busy(),
    bytesWritten: BigInt(flow.bytesWritten),
    keysWritten: BigInt(flow.keysWritten),
    bytesRead: BigInt(flow.bytesRead),
    keysRead: BigInt(flow.keysRead),
    interval: { startTimestamp: BigInt(intervalStartSec), endTimestamp: BigInt(nowSec) },
  });
}
