/**
 * The regions this store holds live, read from their RegionLocalState records in the kv engine.
 *
 * Decisions about key ranges (may a snapshot's range come in, which parts of a destroyed peer's
 * range stay) must see every region of the store, not only the peers of one raft poller: with
 * several pollers another poller's regions are only known from the shared kv engine. The records
 * there are also newer than any poller's view, because the apply threads write them (a split's
 * two regions, a snapshot's region) in the same batch as the data they govern.
 */
import type { Engine } from '../../engine/engine.js';
import type { Region } from '../../proto/metapb.js';
import { PeerState, RegionLocalState } from '../../proto/raft_serverpb.js';
import { REGION_META_MAX_KEY, REGION_META_MIN_KEY } from '../keys.js';

/** Every Normal region recorded in `kv`, except `exceptRegionId`'s. O(regions of the store). */
export function liveRegionsOnDisk(kv: Pick<Engine, 'snapshot'>, exceptRegionId: number): Region[] {
  const view = kv.snapshot();
  try {
    const live: Region[] = [];
    for (const { value } of view.scan('meta', { start: REGION_META_MIN_KEY, end: REGION_META_MAX_KEY })) {
      const state = RegionLocalState.decode(value);
      if (state.state === PeerState.Normal && state.region && state.region.id !== exceptRegionId) live.push(state.region);
    }
    return live;
  } finally {
    view.close();
  }
}

/**
 * The live region that starts where `region` ends (TinyKV's findSiblingRegion): an EpochNotMatch
 * after a split carries it beside the shrunk region, so a client whose key moved right finds its
 * region without asking a scheduler that may not have heard of it yet.
 */
export function siblingOnDisk(kv: Pick<Engine, 'snapshot'>, region: Region): Region | undefined {
  if (region.endKey.length === 0) return undefined;
  return liveRegionsOnDisk(kv, region.id).find((other) => Buffer.compare(Buffer.from(other.startKey), Buffer.from(region.endKey)) === 0);
}
