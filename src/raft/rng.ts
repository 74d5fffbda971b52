/**
 * Small seeded pseudo-random generators. Raft never calls `Math.random`: every
 * random choice (the election timeout) goes through a `RandomSource` so a run
 * replays exactly from its seed.
 */

/** Returns a float in [0, 1). */
export type RandomSource = () => number;

/** mulberry32: a fast 32-bit generator with a full 2^32 period. */
export function mulberry32(seed: number): RandomSource {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Convenience wrapper around mulberry32 used by tests, the simulator and the store. */
export class SeededRandom {
  private readonly source: RandomSource;

  constructor(readonly seed: number) {
    this.source = mulberry32(seed);
  }

  /** A float in [0, 1). */
  float(): number {
    return this.source();
  }

  /** An integer in [0, maxExclusive). */
  int(maxExclusive: number): number {
    return Math.floor(this.source() * maxExclusive);
  }

  /** An integer in [lo, hi] (both inclusive). */
  between(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1);
  }

  /** True with probability p. */
  chance(p: number): boolean {
    return this.source() < p;
  }

  /** A uniformly chosen element; the array must not be empty. */
  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new RangeError('pick from an empty array');
    // The index is in range, so this is the element itself, which may be undefined when T allows it: a cast, not
    // an assertion. (at() types its result T | undefined with or without noUncheckedIndexedAccess.)
    return items.at(this.int(items.length)) as T;
  }

  /** A `RandomSource` view of this generator (shares its state). */
  asSource(): RandomSource {
    return this.source;
  }

  /** A new independent generator derived from this one. */
  fork(): SeededRandom {
    return new SeededRandom((this.source() * 4294967296) >>> 0);
  }
}
