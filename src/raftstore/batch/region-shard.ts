/**
 * Which of a store's raft pollers (or apply threads) hosts a region.
 *
 * Region ids are not spread evenly: the scheduler hands out one id for a region and one per peer
 * from the same counter, so a three-replica cluster's regions get ids four apart, and `id % 2`
 * would put every region on thread 0. The id is mixed first (a 32-bit finalizer over both halves
 * of the id), so consecutive and strided ids alike spread over the threads.
 */
export function shardOfRegion(regionId: number, shards: number): number {
  if (shards <= 1) return 0;
  const low = regionId >>> 0;
  const high = Math.floor(regionId / 0x1_0000_0000) >>> 0;
  let x = low ^ Math.imul(high, 0x9e37_79b1);
  x ^= x >>> 16;
  x = Math.imul(x, 0x85eb_ca6b);
  x ^= x >>> 13;
  x = Math.imul(x, 0xc2b2_ae35);
  x ^= x >>> 16;
  return (x >>> 0) % shards;
}
