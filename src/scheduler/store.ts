/**
 * The scheduler's persisted state, in the engine's internal `meta` column family.
 *
 * Key layout (all keys ASCII, ids as 8-byte big-endian so they sort numerically):
 *
 * | key                                  | value                                                       |
 * |--------------------------------------|-------------------------------------------------------------|
 * | `scheduler/tso-saved-until-ms`       | u64 BE: the TSO's saved upper bound (shared with the standalone node's oracle, standalone-scheduler.ts) |
 * | `scheduler/cluster/id`               | u64 BE: the cluster id, created on first start, always < 2^53 |
 * | `scheduler/cluster/meta`             | metapb.Cluster (ts-proto); present iff bootstrapped (PD's `raft` key) |
 * | `scheduler/cluster/bootstrap-time-ms`| u64 BE: wall-clock ms of the bootstrap                      |
 * | `scheduler/id/bound`                 | u64 BE: every id AllocID handed out is <= this              |
 * | `scheduler/gc/safe-point`            | u64 BE: the GC safe point                                   |
 * | `scheduler/store/<u64 BE id>`        | metapb.Store                                                |
 * | `scheduler/region/<u64 BE id>`       | metapb.Region (region meta only; leaders come back with heartbeats, as in PD) |
 * | `scheduler/config/schedule`          | JSON: the ScheduleConfig an operator set (absent: DEFAULT_SCHEDULE_CONFIG) |
 * | `scheduler/config/schedulers`        | JSON: the SchedulerEntry list (absent: DEFAULT_SCHEDULERS, running) |
 *
 * Every change goes out as one atomic engine batch; the engine applies batches in call order, so
 * the persisted state follows the order of the in-memory changes.
 */
import type { Engine, WriteOp } from '../engine/engine.js';
import { Cluster, Region, Store } from '../proto/metapb.js';
import type { Clock } from '../env/clock.js';
import { prefixEnd } from '../util/bytes.js';
import { assert } from '../util/assert.js';

const CF = 'meta' as const;
export const KEY_CLUSTER_ID = Buffer.from('scheduler/cluster/id');
export const KEY_CLUSTER_META = Buffer.from('scheduler/cluster/meta');
export const KEY_BOOTSTRAP_TIME = Buffer.from('scheduler/cluster/bootstrap-time-ms');
export const KEY_ID_BOUND = Buffer.from('scheduler/id/bound');
export const KEY_GC_SAFE_POINT = Buffer.from('scheduler/gc/safe-point');
export const KEY_SCHEDULE_CONFIG = Buffer.from('scheduler/config/schedule');
export const KEY_SCHEDULERS = Buffer.from('scheduler/config/schedulers');
export const PREFIX_STORE = Buffer.from('scheduler/store/');
export const PREFIX_REGION = Buffer.from('scheduler/region/');

export interface PersistedState {
  readonly cluster: Cluster | undefined;
  readonly bootstrapTimeMs: number | undefined;
  readonly stores: Store[];
  readonly regions: Region[];
  readonly gcSafePoint: bigint;
}

function u64(value: number | bigint): Buffer {
  const bytes = Buffer.alloc(8);
  bytes.writeBigUInt64BE(BigInt(value));
  return bytes;
}

function idKey(prefix: Buffer, id: number): Buffer {
  return Buffer.concat([prefix, u64(id)]);
}

export class SchedulerStore {
  constructor(private readonly engine: Engine) {}

  /** The cluster id, created and persisted on first start. Kept below 2^53: metapb carries it as a number. */
  async loadOrCreateClusterId(clock: Clock, random: () => number): Promise<bigint> {
    const stored = this.engine.get(CF, KEY_CLUSTER_ID);
    if (stored) return stored.readBigUInt64BE();
    // PD-style: wall-clock seconds in the high bits, 21 random bits below; < 2^31 * 2^21 = 2^52.
    const seconds = BigInt(Math.floor(clock.nowMs() / 1000) % 2 ** 31);
    const id = (seconds << 21n) | BigInt(Math.floor(random() * 2 ** 21) % 2 ** 21) || 1n;
    assert(id <= BigInt(Number.MAX_SAFE_INTEGER), 'cluster id must fit in a double');
    await this.engine.write([{ type: 'put', cf: CF, key: KEY_CLUSTER_ID, value: u64(id) }]);
    return id;
  }

  load(): PersistedState {
    const meta = this.engine.get(CF, KEY_CLUSTER_META);
    const bootstrapTime = this.engine.get(CF, KEY_BOOTSTRAP_TIME);
    const safePoint = this.engine.get(CF, KEY_GC_SAFE_POINT);
    return {
      cluster: meta ? Cluster.decode(meta) : undefined,
      bootstrapTimeMs: bootstrapTime ? Number(bootstrapTime.readBigUInt64BE()) : undefined,
      stores: this.scan(PREFIX_STORE).map((value) => Store.decode(value)),
      regions: this.scan(PREFIX_REGION).map((value) => Region.decode(value)),
      gcSafePoint: safePoint ? safePoint.readBigUInt64BE() : 0n,
    };
  }

  /** The persisted JSON (unvalidated: the caller checks it), or undefined when absent. */
  loadScheduleConfigJson(): unknown {
    return parseJson(this.engine.get(CF, KEY_SCHEDULE_CONFIG), 'scheduler/config/schedule');
  }

  loadSchedulersJson(): unknown {
    return parseJson(this.engine.get(CF, KEY_SCHEDULERS), 'scheduler/config/schedulers');
  }

  loadBootstrapTimeMs(): number | undefined {
    const value = this.engine.get(CF, KEY_BOOTSTRAP_TIME);
    return value ? Number(value.readBigUInt64BE()) : undefined;
  }

  loadIdBound(): number {
    const value = this.engine.get(CF, KEY_ID_BOUND);
    return value ? Number(value.readBigUInt64BE()) : 0;
  }

  /** Applies ops atomically; resolves once durable. */
  write(ops: readonly WriteOp[]): Promise<void> {
    if (ops.length === 0) return Promise.resolve();
    return this.engine.write(ops);
  }

  private scan(prefix: Buffer): Buffer[] {
    const snapshot = this.engine.snapshot();
    try {
      return [...snapshot.scan(CF, { start: prefix, end: prefixEnd(prefix) })].map((pair) => pair.value);
    } finally {
      snapshot.close();
    }
  }
}

/** Builders of the write ops for each persisted item. */
export const ops = {
  putStore: (store: Store): WriteOp => ({ type: 'put', cf: CF, key: idKey(PREFIX_STORE, store.id), value: encode(Store, store) }),
  putRegion: (region: Region): WriteOp => ({
    type: 'put',
    cf: CF,
    key: idKey(PREFIX_REGION, region.id),
    value: encode(Region, region),
  }),
  deleteRegion: (id: number): WriteOp => ({ type: 'delete', cf: CF, key: idKey(PREFIX_REGION, id) }),
  putCluster: (cluster: Cluster): WriteOp => ({ type: 'put', cf: CF, key: KEY_CLUSTER_META, value: encode(Cluster, cluster) }),
  putBootstrapTime: (ms: number): WriteOp => ({ type: 'put', cf: CF, key: KEY_BOOTSTRAP_TIME, value: u64(ms) }),
  putIdBound: (bound: number): WriteOp => ({ type: 'put', cf: CF, key: KEY_ID_BOUND, value: u64(bound) }),
  putGcSafePoint: (safePoint: bigint): WriteOp => ({ type: 'put', cf: CF, key: KEY_GC_SAFE_POINT, value: u64(safePoint) }),
  putScheduleConfig: (config: object): WriteOp => ({ type: 'put', cf: CF, key: KEY_SCHEDULE_CONFIG, value: Buffer.from(JSON.stringify(config)) }),
  putSchedulers: (entries: readonly object[]): WriteOp => ({ type: 'put', cf: CF, key: KEY_SCHEDULERS, value: Buffer.from(JSON.stringify(entries)) }),
};

function parseJson(value: Buffer | undefined, what: string): unknown {
  if (!value) return undefined;
  try {
    return JSON.parse(value.toString('utf8')) as unknown;
  } catch (err) {
    throw new Error(`persisted ${what} is not valid JSON: ${(err as Error).message}`);
  }
}

function encode<T>(fns: { encode(message: T): { finish(): Uint8Array } }, message: T): Buffer {
  const bytes = fns.encode(message).finish();
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
