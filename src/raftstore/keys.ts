/**
 * TinyKV's local key layout (reference §5.2). All of these live in the engines' `meta` family:
 * the raft log and RaftLocalState in the raft engine; RaftApplyState and RegionLocalState in the kv
 * engine, next to the data they describe. Ids and indexes are 8-byte big-endian.
 */
const LOCAL_PREFIX = 0x01;
const REGION_RAFT_PREFIX = 0x02;
const REGION_META_PREFIX = 0x03;
const RAFT_LOG_SUFFIX = 0x01;
const RAFT_STATE_SUFFIX = 0x02;
const APPLY_STATE_SUFFIX = 0x03;
const REGION_STATE_SUFFIX = 0x01;

export const PREPARE_BOOTSTRAP_KEY = Buffer.from([LOCAL_PREFIX, 0x01]);
export const STORE_IDENT_KEY = Buffer.from([LOCAL_PREFIX, REGION_RAFT_PREFIX]);
export const REGION_META_MIN_KEY = Buffer.from([LOCAL_PREFIX, REGION_META_PREFIX]);
export const REGION_META_MAX_KEY = Buffer.from([LOCAL_PREFIX, REGION_META_PREFIX + 1]);

/** TinyKV's initial index and term of a peer created with a region (bootstrap or split). */
export const RAFT_INIT_LOG_INDEX = 5;
export const RAFT_INIT_LOG_TERM = 5;

function regionKey(prefix: number, regionId: number, suffix: number, extraBytes = 0): Buffer {
  const key = Buffer.alloc(11 + extraBytes);
  key[0] = LOCAL_PREFIX;
  key[1] = prefix;
  key.writeBigUInt64BE(BigInt(regionId), 2);
  key[10] = suffix;
  return key;
}

export function raftLogKey(regionId: number, index: number): Buffer {
  const key = regionKey(REGION_RAFT_PREFIX, regionId, RAFT_LOG_SUFFIX, 8);
  key.writeBigUInt64BE(BigInt(index), 11);
  return key;
}

export function raftLogIndexOf(key: Buffer): number {
  return Number(key.readBigUInt64BE(11));
}

export function raftStateKey(regionId: number): Buffer {
  return regionKey(REGION_RAFT_PREFIX, regionId, RAFT_STATE_SUFFIX);
}

export function applyStateKey(regionId: number): Buffer {
  return regionKey(REGION_RAFT_PREFIX, regionId, APPLY_STATE_SUFFIX);
}

export function regionStateKey(regionId: number): Buffer {
  return regionKey(REGION_META_PREFIX, regionId, REGION_STATE_SUFFIX);
}

export function regionIdOfStateKey(key: Buffer): number {
  return Number(key.readBigUInt64BE(2));
}
