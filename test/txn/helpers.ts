/** Test harness for the transaction layer: a memory-backed storage, raw CF access, and record builders. */
import { expect } from 'vitest';
import type { DataColumnFamily } from '../../src/engine/engine.js';
import { MemoryEngine } from '../../src/engine/memory-engine.js';
import { StandaloneStorage } from '../../src/storage/standalone-storage.js';
import type { Modify, Storage } from '../../src/storage/storage.js';
import { encodeBytes, encodeKey } from '../../src/txn/codec.js';
import { createTxnCommands, type TxnCommands } from '../../src/txn/index.js';
import { Latches, requireModifiesLatched } from '../../src/txn/latches.js';
import { encodeLock } from '../../src/txn/lock.js';
import { encodeWrite, WriteKind } from '../../src/txn/write.js';
import { mulberry32 } from '../../src/raft/rng.js';

export const CFS: readonly DataColumnFamily[] = ['default', 'lock', 'write'];
export type Dump = Record<DataColumnFamily, Map<string, string>>;

export const k = (...bytes: number[]): Buffer => Buffer.from(bytes);
/** Where `key`'s lock is stored: the lock family is keyed by the memcomparable user key. */
export const lockKey = (key: Buffer): Buffer => encodeBytes(key);

export class Harness {
  readonly storage: Storage;
  readonly latches = new Latches();
  readonly commands: TxnCommands;
  /** Every batch the commands wrote, in order. */
  readonly batches: Modify[][] = [];
  private initial: Dump | undefined;

  constructor() {
    const inner = new StandaloneStorage(new MemoryEngine());
    this.storage = {
      start: () => inner.start(),
      stop: () => inner.stop(),
      reader: (context) => inner.reader(context),
      write: async (context, batch) => {
        this.batches.push([...batch]);
        await inner.write(context, batch);
      },
    };
    // As TinyKV's harness: fail on any modify of a key the command did not latch.
    this.latches.validation = requireModifiesLatched;
    this.commands = createTxnCommands(this.storage, this.latches);
  }

  /** Writes raw CF data, bypassing the commands, then remembers the state for `expectUnchanged`. */
  async init(entries: ReadonlyArray<[DataColumnFamily, Buffer, Buffer]>): Promise<void> {
    const batch: Modify[] = entries.map(([cf, key, value]) => ({ type: 'put', cf, key, value }));
    if (batch.length > 0) await this.storage.write(undefined, batch);
    this.batches.length = 0;
    this.initial = await this.dump();
  }

  async dump(): Promise<Dump> {
    const reader = await this.storage.reader(undefined);
    const out = {} as Dump;
    for (const cf of CFS) {
      const map = new Map<string, string>();
      const it = reader.iterCF(cf);
      for (; it.valid(); it.next()) map.set(it.key().toString('hex'), it.value().toString('hex'));
      it.close();
      out[cf] = map;
    }
    reader.close();
    return out;
  }

  async get(cf: DataColumnFamily, key: Buffer): Promise<Buffer | undefined> {
    const reader = await this.storage.reader(undefined);
    try {
      return reader.getCF(cf, key);
    } finally {
      reader.close();
    }
  }

  /** Sizes of (default, lock, write), as TinyKV's assertLens. */
  async lens(): Promise<[number, number, number]> {
    const dump = await this.dump();
    return [dump.default.size, dump.lock.size, dump.write.size];
  }

  async expectLens(d: number, l: number, w: number): Promise<void> {
    expect(await this.lens()).toEqual([d, l, w]);
  }

  async expectUnchanged(): Promise<void> {
    expect(this.initial).toBeDefined();
    expect(await this.dump()).toEqual(this.initial);
    expect(this.batches).toEqual([]);
  }
}

export function lockBytes(primary: Buffer, ts: bigint, ttl: bigint, kind: WriteKind = WriteKind.Put): Buffer {
  return encodeLock({ primary, ts, ttl, kind });
}

export function writeBytes(startTs: bigint, kind: WriteKind = WriteKind.Put): Buffer {
  return encodeWrite({ startTs, kind });
}

/** A committed value: default(key@startTs) = value and write(key@commitTs) = Put(startTs). */
export function committed(key: Buffer, value: Buffer, startTs: bigint, commitTs: bigint): Array<[DataColumnFamily, Buffer, Buffer]> {
  return [
    ['default', encodeKey(key, startTs), value],
    ['write', encodeKey(key, commitTs), writeBytes(startTs, WriteKind.Put)],
  ];
}

/** A prewritten Put: default(key@ts) = value and lock(key) owned by ts. */
export function prewritten(key: Buffer, value: Buffer, ts: bigint, primary = key, ttl = 0n): Array<[DataColumnFamily, Buffer, Buffer]> {
  return [
    ['default', encodeKey(key, ts), value],
    ['lock', lockKey(key), lockBytes(primary, ts, ttl, WriteKind.Put)],
  ];
}

/** A seeded generator of floats in [0, 1) (mulberry32, shared with the Raft library). */
export const rng: (seed: number) => () => number = mulberry32;

/** The seed for a randomized test: TXN_TEST_SEED if set, else derived from the clock. Logged. */
export function testSeed(name: string): number {
  const fromEnv = process.env.TXN_TEST_SEED;
  const seed = fromEnv !== undefined ? Number(fromEnv) : (Date.now() ^ (process.pid << 8)) >>> 0;
  console.log(`[${name}] seed=${seed} (replay with TXN_TEST_SEED=${seed})`);
  return seed;
}
