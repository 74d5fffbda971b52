/**
 * A region snapshot's payload: RaftSnapshotData with the region, and every data pair of the
 * region as a KeyValue whose key is prefixed with one byte naming the column family. It is built
 * from one consistent kv-engine snapshot, so data, applied index and region agree.
 */
import type { Engine, WriteOp } from '../../engine/engine.js';
import { DATA_COLUMN_FAMILIES, type DataColumnFamily } from '../../engine/engine.js';
import { Snapshot } from '../../proto/eraftpb.js';
import { RaftApplyState, RaftSnapshotData, RegionLocalState, type KeyValue } from '../../proto/raft_serverpb.js';
import { ErrSnapshotTemporarilyUnavailable } from '../../raft/index.js';
import { assert, defined } from '../../util/assert.js';
import { applyStateKey, regionStateKey } from '../keys.js';

function familyOf(tag: number | undefined): DataColumnFamily {
  const cf = tag === undefined ? undefined : DATA_COLUMN_FAMILIES[tag];
  assert(cf !== undefined, `snapshot names unknown column family ${tag}`);
  return cf;
}

/** A region's snapshot contents, before the term of its index is known (the raft log has that). */
export interface SnapshotPayload {
  readonly appliedIndex: number;
  readonly truncatedIndex: number;
  readonly truncatedTerm: number;
  readonly nodes: number[];
  /** An encoded RaftSnapshotData. */
  readonly data: Uint8Array;
}

export function buildRegionSnapshotPayload(kv: Engine, regionId: number): SnapshotPayload {
  const view = kv.snapshot();
  try {
    const applyBytes = view.get('meta', applyStateKey(regionId));
    const regionBytes = view.get('meta', regionStateKey(regionId));
    if (!applyBytes || !regionBytes) throw new ErrSnapshotTemporarilyUnavailable();
    const applyState = RaftApplyState.decode(applyBytes);
    const truncated = defined(applyState.truncatedState, 'truncated state of a stored apply state');
    const region = defined(RegionLocalState.decode(regionBytes).region, 'region of a stored region state');
    const data: KeyValue[] = [];
    let sizeBytes = 0;
    DATA_COLUMN_FAMILIES.forEach((cf, tag) => {
      const end = region.endKey.length > 0 ? region.endKey : undefined;
      for (const { key, value } of view.scan(cf, { start: region.startKey, end })) {
        data.push({ key: Buffer.concat([Buffer.from([tag]), key]), value });
        sizeBytes += key.length + value.length + 1;
      }
    });
    return {
      appliedIndex: applyState.appliedIndex,
      truncatedIndex: truncated.index,
      truncatedTerm: truncated.term,
      nodes: region.peers.map((peer) => peer.id),
      data: RaftSnapshotData.encode({ region, fileSize: sizeBytes, data, meta: undefined }).finish(),
    };
  } finally {
    view.close();
  }
}

/** Builds a snapshot in this thread from one consistent kv read (data, applied index and region agree). */
export function buildRegionSnapshot(kv: Engine, regionId: number, termOf: (index: number) => number): Snapshot {
  const payload = buildRegionSnapshotPayload(kv, regionId);
  const index = payload.appliedIndex;
  const term = index === payload.truncatedIndex ? payload.truncatedTerm : termOf(index);
  return Snapshot.fromPartial({ data: Buffer.from(payload.data), metadata: { index, term, confState: { nodes: payload.nodes } } });
}

export function snapshotDataOps(data: RaftSnapshotData): WriteOp[] {
  return data.data.map(({ key, value }) => ({ type: 'put' as const, cf: familyOf(key[0]), key: key.subarray(1), value }));
}
