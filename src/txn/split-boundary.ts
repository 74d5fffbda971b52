/**
 * Where a region may be cut so that one user key's data stays in one region, in this layout: the
 * lock family is keyed by the raw user key, the default and write families by
 * `encodeKey(userKey, ts)`, and raw data by the raw key. The boundary before a stored key is its
 * user key: clients, the scheduler and region checks all route by it, and every record of that
 * user key (lock and all versions) sorts at or after it. The split checker
 * (src/raftstore/split) is given this function.
 *
 * Limit of this layout (TinyKV's): for user keys longer than 8 bytes, `encodeKey` puts a 0xFF
 * marker after the first 8 bytes, so the MVCC records of a key x that shares its first 8 bytes with
 * the boundary y and sorts below it (x < y) still sort after y: region checks on stored keys then
 * see x's lock left of the cut and its versions right of it. Only comparing MVCC keys by their user
 * key (or encoding lock keys and routing by encoded keys, as TiKV does) removes that; TinyKV's
 * answer, the encoded user key, parts even the boundary key's own lock from its versions.
 */
import type { DataColumnFamily } from '../engine/engine.js';
import { decodeBytes } from './codec.js';

const TS_SIZE_BYTES = 8;

export function userKeyBoundary(cf: DataColumnFamily, key: Buffer): Buffer {
  if (cf === 'lock') return key;
  return mvccUserKey(key) ?? key;
}

/** The user key of an MVCC key (an encoded user key then an 8-byte timestamp), else undefined. */
function mvccUserKey(key: Buffer): Buffer | undefined {
  try {
    const { data, rest } = decodeBytes(key);
    return rest.length === TS_SIZE_BYTES ? data : undefined;
  } catch {
    return undefined; // Not memcomparable: raw data.
  }
}
