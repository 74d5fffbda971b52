// The Split command's checks and apply on their own (operation/split.ts), over a memory engine.
import { describe, expect, it } from 'vitest';
import { MemoryEngine } from '../../src/engine/memory-engine.js';
import type { WriteOp } from '../../src/engine/engine.js';
import type { Region } from '../../src/proto/metapb.js';
import { AdminCmdType, RaftCmdRequest } from '../../src/proto/raft_cmdpb.js';
import { PeerState, RaftApplyState, RegionLocalState } from '../../src/proto/raft_serverpb.js';
import { applyStateKey, regionStateKey } from '../../src/raftstore/keys.js';
import { applySplit, checkSplit, splitRegions } from '../../src/raftstore/operation/split.js';
import { RegionError } from '../../src/raftstore/router/errors.js';

const REGION: Region = {
  id: 1,
  startKey: Buffer.from('b'),
  endKey: Buffer.from('y'),
  regionEpoch: { confVer: 3, version: 4 },
  peers: [
    { id: 11, storeId: 1 },
    { id: 12, storeId: 2 },
    { id: 13, storeId: 3 },
  ],
};

function splitRequest(splitKey: string, newPeerIds = [21, 22, 23], epoch = REGION.regionEpoch, newRegionId = 2): RaftCmdRequest {
  return RaftCmdRequest.fromPartial({
    header: { regionId: 1, regionEpoch: epoch },
    adminRequest: { cmdType: AdminCmdType.Split, split: { splitKey: Buffer.from(splitKey), newRegionId, newPeerIds } },
  });
}

const next = RaftApplyState.fromPartial({ appliedIndex: 9, truncatedState: { index: 5, term: 5 } });
const stateIn = (ops: WriteOp[], regionId: number) => {
  const op = ops.find((o) => o.type === 'put' && o.cf === 'meta' && Buffer.compare(o.key, regionStateKey(regionId)) === 0);
  return op && op.type === 'put' ? RegionLocalState.decode(op.value) : undefined;
};

describe('split operation', () => {
  it('refuses a key outside the range, at its start, a missing id, or the wrong number of peer ids', () => {
    for (const request of [
      splitRequest('a'),
      splitRequest('y'),
      splitRequest('b'),
      splitRequest(''),
      splitRequest('m', [21, 22]),
      splitRequest('m', [21, 21, 22]),
      splitRequest('m', undefined, undefined, 0),
    ]) {
      expect(() => checkSplit(request, REGION)).toThrow(RegionError);
    }
    expect(checkSplit(splitRequest('m'), REGION).splitKey.toString()).toBe('m');
  });

  it('gives the left part to the old region and the right part to the new one, both at version + 1', () => {
    const { left, right } = splitRegions(REGION, checkSplit(splitRequest('m'), REGION));
    expect([left.startKey.toString(), left.endKey.toString(), left.regionEpoch]).toEqual(['b', 'm', { confVer: 3, version: 5 }]);
    expect([right.id, right.startKey.toString(), right.endKey.toString(), right.regionEpoch]).toEqual([2, 'm', 'y', { confVer: 3, version: 5 }]);
    expect(right.peers).toEqual([
      { id: 21, storeId: 1 },
      { id: 22, storeId: 2 },
      { id: 23, storeId: 3 },
    ]);
  });

  it('writes both regions and the new region initial apply state in the batch', () => {
    const ops: WriteOp[] = [];
    const result = applySplit(splitRequest('m'), REGION, next, ops, new MemoryEngine());
    expect(result.response.header?.error).toBeUndefined();
    expect(result.applied?.created?.id).toBe(2);
    expect(stateIn(ops, 1)?.region?.endKey.toString()).toBe('m');
    expect(stateIn(ops, 2)?.state).toBe(PeerState.Normal);
    const apply = ops.find((o) => o.type === 'put' && Buffer.compare(o.key, applyStateKey(2)) === 0);
    expect(apply && apply.type === 'put' && RaftApplyState.decode(apply.value).appliedIndex).toBe(5);
  });

  it('answers EpochNotMatch for a split proposed before another split or conf change applied', () => {
    const ops: WriteOp[] = [];
    const result = applySplit(splitRequest('m', undefined, { confVer: 3, version: 3 }), REGION, next, ops, new MemoryEngine());
    expect(result.response.header?.error?.epochNotMatch).toBeDefined();
    expect(result.applied).toBeUndefined();
    expect(ops).toEqual([]);
  });

  it('does not bring back a new region whose peer here was destroyed: its range is cleared instead', async () => {
    const kv = new MemoryEngine();
    await kv.write([
      {
        type: 'put',
        cf: 'meta',
        key: regionStateKey(2),
        value: Buffer.from(RegionLocalState.encode(RegionLocalState.fromPartial({ state: PeerState.Tombstone })).finish()),
      },
    ]);
    const ops: WriteOp[] = [];
    const result = applySplit(splitRequest('m'), REGION, next, ops, kv);
    expect(result.applied?.created).toBeUndefined();
    expect(stateIn(ops, 2)).toBeUndefined();
    expect(ops.filter((o) => o.type === 'deleteRange').map((o) => o.type === 'deleteRange' && o.cf)).toEqual(['default', 'lock', 'write']);
  });
});
