// Regions spread over a store's threads even though their ids come in strides (one id per region
// and per peer from one counter): TinyKV ids four apart must not all land on one poller.
import { describe, expect, it } from 'vitest';
import { shardOfRegion } from '../../src/raftstore/batch/region-shard.js';

function counts(ids: readonly number[], shards: number): number[] {
  const out = new Array<number>(shards).fill(0);
  for (const id of ids) out[shardOfRegion(id, shards)]! += 1;
  return out;
}

describe('shardOfRegion', () => {
  it('is a stable index below the thread count', () => {
    for (const shards of [1, 2, 3, 4, 7]) {
      for (const id of [1, 2, 3, 4, 1000, 2 ** 32 + 5, Number.MAX_SAFE_INTEGER]) {
        const shard = shardOfRegion(id, shards);
        expect(Number.isInteger(shard) && shard >= 0 && shard < shards).toBe(true);
        expect(shardOfRegion(id, shards)).toBe(shard);
      }
    }
    expect(shardOfRegion(42, 1)).toBe(0);
  });

  it('spreads strided ids (a region and its three peers per id step) evenly', () => {
    for (const stride of [1, 2, 4, 6]) {
      const ids = Array.from({ length: 2_000 }, (_, i) => 4 + i * stride);
      for (const shards of [2, 3, 4]) {
        const fair = ids.length / shards;
        for (const count of counts(ids, shards)) expect(Math.abs(count - fair) / fair, `stride ${stride}, ${shards} threads`).toBeLessThan(0.15);
      }
    }
  });

  it('spreads ids above 2^32 too', () => {
    const ids = Array.from({ length: 2_000 }, (_, i) => 2 ** 40 + i * 4);
    for (const count of counts(ids, 2)) expect(Math.abs(count - 1_000) / 1_000).toBeLessThan(0.15);
  });
});
