/**
 * Destroying a peer (TinyKV's destroyPeer): a peer removed from its region, or one that learned
 * from a newer epoch that it is stale, leaves a tombstone (`PeerState.Tombstone` with its region in
 * RegionLocalState, so a restart does not load it and stale messages are recognised) and nothing
 * else: its apply state and data range on the kv engine (written by the apply system, in order after
 * everything handed to it), then its raft log and raft state on the raft engine.
 *
 * Data keys that another live region of the store owns now (a region this stale peer's range still
 * covers, e.g. after a split it missed) stay.
 */
import type { WriteOp } from '../../engine/engine.js';
import type { Region } from '../../proto/metapb.js';
import { PeerState, RegionLocalState } from '../../proto/raft_serverpb.js';
import { compareBytes } from '../../util/bytes.js';
import { applyStateKey, regionStateKey } from '../keys.js';
import { clearRangeOps, putProto } from './peer-storage.js';

/** A key range [startKey, endKey); an empty end key is unbounded. */
export interface KeyRange {
  readonly startKey: Buffer;
  readonly endKey: Buffer;
}

/** Whether two ranges share a key. */
export function rangesOverlap(a: KeyRange, b: KeyRange): boolean {
  const aEndsBeforeB = a.endKey.length > 0 && compareBytes(a.endKey, b.startKey) <= 0;
  const bEndsBeforeA = b.endKey.length > 0 && compareBytes(b.endKey, a.startKey) <= 0;
  return !aEndsBeforeB && !bEndsBeforeA;
}

/** The parts of `range` that none of the `kept` ranges cover, in key order. */
export function rangesToClear(range: KeyRange, kept: readonly KeyRange[]): KeyRange[] {
  const overlapping = kept.filter((k) => rangesOverlap(range, k)).sort((a, b) => compareBytes(a.startKey, b.startKey));
  const out: KeyRange[] = [];
  let from: Buffer | undefined = range.startKey;
  for (const k of overlapping) {
    if (from === undefined) break;
    if (compareBytes(k.startKey, from) > 0) out.push({ startKey: from, endKey: minEnd(k.startKey, range.endKey) });
    // A kept range that runs to the end covers everything after it.
    from = k.endKey.length === 0 ? undefined : maxKey(from, k.endKey);
  }
  if (from !== undefined && (range.endKey.length === 0 || compareBytes(from, range.endKey) < 0)) out.push({ startKey: from, endKey: range.endKey });
  return out;
}

/** The kv-engine writes of a destroy: the data ranges go, the apply state goes, the tombstone stays. */
export function destroyKvOps(region: Region, clear: readonly KeyRange[]): WriteOp[] {
  const ops = clear.flatMap((range) =>
    clearRangeOps({ id: region.id, startKey: range.startKey, endKey: range.endKey, regionEpoch: undefined, peers: [] }),
  );
  ops.push({ type: 'delete', cf: 'meta', key: applyStateKey(region.id) });
  ops.push(putProto('meta', regionStateKey(region.id), RegionLocalState.encode({ state: PeerState.Tombstone, region }).finish()));
  return ops;
}

function minEnd(a: Buffer, end: Buffer): Buffer {
  return end.length > 0 && compareBytes(end, a) < 0 ? end : a;
}

function maxKey(a: Buffer, b: Buffer): Buffer {
  return compareBytes(a, b) >= 0 ? a : b;
}
