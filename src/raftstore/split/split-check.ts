/**
 * Where and whether a region splits (TinyKV's split checker, runner/split_checker.go), as a pure
 * function over one engine snapshot: the region's data pairs of every data family are walked in
 * key order, as the region's range cuts them, summing key and value bytes.
 *
 * The split key is where the running size passes split-size, moved back to a user-key boundary by
 * `boundaryOf` (the key layout is the transaction layer's: src/txn/split-boundary.ts), so that
 * one user key's lock and versions never end up in two regions.
 *
 * Cost: one ordered pass merging three cursors, reading no more than max-size plus one pair once a
 * split key is found; a region under max-size is read whole (at most max-size bytes), and so is
 * one whose data past split-size is all one user key (no boundary exists to cut at).
 */
import { DATA_COLUMN_FAMILIES, type DataColumnFamily, type EngineSnapshot, type KeyValuePair } from '../../engine/engine.js';
import { compareBytes } from '../../util/bytes.js';

export interface SplitThresholds {
  /** A region whose data exceeds this is split. */
  readonly maxSizeBytes: number;
  /** About this many bytes stay left of the split key. */
  readonly splitSizeBytes: number;
}

export interface SplitCheckResult {
  /** Where to split: present only when the region exceeds max-size and a user-key boundary exists. */
  readonly splitKey?: Buffer;
  /** Key and value bytes read (all data families); the region's size when `complete`. */
  readonly sizeBytes: number;
  /** Pairs read over all data families; the region's count when `complete`. */
  readonly keys: number;
  /** False when the scan stopped early (split key found, past max-size): size and keys are lower bounds. */
  readonly complete: boolean;
}

/** The user-key boundary at or before a stored key of a family (a split there keeps that key whole). */
export type BoundaryOf = (cf: DataColumnFamily, key: Buffer) => Buffer;

/** A region's key range, [startKey, endKey); an empty end is unbounded. */
export interface RegionRange {
  readonly startKey: Uint8Array;
  readonly endKey: Uint8Array;
}

/** Scans the region's data in `reader` and decides whether and where it splits. */
export function checkSplit(reader: EngineSnapshot, region: RegionRange, thresholds: SplitThresholds, boundaryOf: BoundaryOf): SplitCheckResult {
  const pairs = mergedScan(reader, region);
  let sizeBytes = 0;
  let keys = 0;
  let splitKey: Buffer | undefined;
  try {
    for (const { cf, pair } of pairs) {
      sizeBytes += pair.key.length + pair.value.length;
      keys += 1;
      if (splitKey === undefined && sizeBytes > thresholds.splitSizeBytes) splitKey = usableBoundary(boundaryOf(cf, pair.key), region);
      if (splitKey !== undefined && sizeBytes > thresholds.maxSizeBytes) return { splitKey, sizeBytes, keys, complete: false };
    }
  } finally {
    pairs.return();
  }
  return { sizeBytes, keys, complete: true };
}

/** A boundary strictly inside the region (a split at its start would leave the left side empty). */
function usableBoundary(boundary: Buffer, region: RegionRange): Buffer | undefined {
  if (compareBytes(boundary, region.startKey) <= 0) return undefined;
  if (region.endKey.length > 0 && compareBytes(boundary, region.endKey) >= 0) return undefined;
  return Buffer.from(boundary);
}

interface FamilyPair {
  readonly cf: DataColumnFamily;
  readonly pair: KeyValuePair;
}

/** Every data family's pairs inside the region, in key order (ties: family order). */
function* mergedScan(reader: EngineSnapshot, region: RegionRange): Generator<FamilyPair, void, undefined> {
  const end = region.endKey.length > 0 ? region.endKey : undefined;
  const cursors = DATA_COLUMN_FAMILIES.map((cf) => {
    const iterator = reader.scan(cf, { start: region.startKey, end });
    const first = iterator.next();
    return { cf, iterator, head: first.done === true ? undefined : first.value };
  });
  try {
    for (;;) {
      let next: (typeof cursors)[number] | undefined;
      for (const cursor of cursors) {
        if (cursor.head === undefined) continue;
        if (next?.head === undefined || compareBytes(cursor.head.key, next.head.key) < 0) next = cursor;
      }
      if (next?.head === undefined) return;
      yield { cf: next.cf, pair: next.head };
      const after = next.iterator.next();
      next.head = after.done === true ? undefined : after.value;
    }
  } finally {
    for (const cursor of cursors) cursor.iterator.return?.();
  }
}
