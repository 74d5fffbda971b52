/**
 * What the bench sends: keys, values and which call each operation makes.
 *
 * Keys are `k` followed by a zero-padded decimal index in [0, keyspace), padded to exactly
 * `keySize` bytes, so they sort in index order and a scan from a random key walks the keyspace.
 * Every op picks its key uniformly at random from the keyspace: puts OVERWRITE existing keys
 * (the data set stays `keyspace` keys big however long the run), gets and scans read keys the
 * preload wrote. Values are one fixed pseudo-random buffer of `valueSize` bytes.
 */

import { mulberry32 } from '../src/raft/rng.js';
export const BENCH_OPS = ['put', 'get', 'mix', 'scan'] as const;
export type BenchOp = (typeof BENCH_OPS)[number];
/** The call an op makes; `mix` makes gets and puts. */
export type CallKind = 'put' | 'get' | 'scan';

/** Every bench key starts with this byte; `KEY_RANGE_END` is the first key after all of them. */
export const KEY_PREFIX = 'k';
export const KEY_RANGE_END = Buffer.from('l');

export interface WorkloadOptions {
  readonly keySize: number;
  readonly valueSize: number;
  /** Number of distinct keys. */
  readonly keyspace: number;
  /** Fraction of `mix` ops that are gets, 0..1. */
  readonly readRatio: number;
  /** Pairs asked for by each scan. */
  readonly scanLimit: number;
  /** Seed for values and per-client random streams; runs with the same seed send the same keys. */
  readonly seed?: number;
}

export type Rng = () => number;

/** A seeded generator of floats in [0, 1) (mulberry32, shared with the Raft library). */
export const createRng: (seed: number) => Rng = mulberry32;

export class Workload {
  readonly keySize: number;
  readonly valueSize: number;
  readonly keyspace: number;
  readonly readRatio: number;
  readonly scanLimit: number;
  readonly seed: number;
  /** The value every put writes (and the no-op server returns). */
  readonly value: Buffer;

  constructor(options: WorkloadOptions) {
    const { keySize, valueSize, keyspace, readRatio, scanLimit } = options;
    if (!Number.isSafeInteger(keyspace) || keyspace < 1) throw new RangeError(`keyspace must be a positive integer, got ${keyspace}`);
    if (!Number.isSafeInteger(valueSize) || valueSize < 0) throw new RangeError(`value size must be >= 0 bytes, got ${valueSize}`);
    if (!Number.isSafeInteger(keySize) || keySize < 1) throw new RangeError(`key size must be >= 1 byte, got ${keySize}`);
    if (!(readRatio >= 0 && readRatio <= 1)) throw new RangeError(`read ratio must be within 0..1, got ${readRatio}`);
    if (!Number.isSafeInteger(scanLimit) || scanLimit < 1) throw new RangeError(`scan limit must be a positive integer, got ${scanLimit}`);
    const digits = String(keyspace - 1).length;
    if (keySize < digits + KEY_PREFIX.length) {
      throw new RangeError(`key size ${keySize} is too small for a keyspace of ${keyspace} keys (needs >= ${digits + KEY_PREFIX.length} bytes)`);
    }
    this.keySize = keySize;
    this.valueSize = valueSize;
    this.keyspace = keyspace;
    this.readRatio = readRatio;
    this.scanLimit = scanLimit;
    this.seed = options.seed ?? 1;
    const rng = createRng(this.seed ^ 0x5eed);
    this.value = Buffer.allocUnsafe(valueSize);
    for (let i = 0; i < valueSize; i++) this.value[i] = (rng() * 256) | 0;
  }

  /** The key with index `i`, 0 <= i < keyspace. */
  keyAt(i: number): Buffer {
    const key = Buffer.allocUnsafe(this.keySize);
    key.write(KEY_PREFIX, 0, 'latin1');
    // Write the decimal digits right to left; the rest of the field is '0'.
    let n = i;
    for (let pos = this.keySize - 1; pos >= KEY_PREFIX.length; pos--) {
      key[pos] = 48 + (n % 10);
      n = Math.floor(n / 10);
    }
    return key;
  }

  randomIndex(rng: Rng): number {
    return Math.floor(rng() * this.keyspace);
  }

  randomKey(rng: Rng): Buffer {
    return this.keyAt(this.randomIndex(rng));
  }

  /** The call the next op of `op` makes. */
  nextCall(op: BenchOp, rng: Rng): CallKind {
    if (op === 'mix') return rng() < this.readRatio ? 'get' : 'put';
    return op;
  }

  /** Whether `op` reads keys and so needs the keyspace loaded first. */
  static needsPreload(op: BenchOp): boolean {
    return op !== 'put';
  }
}
