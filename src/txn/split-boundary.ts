/**
 * Where a region may be cut so that one user key's data stays in one region. The transaction layer
 * keys every family by the memcomparable user key: the lock family by `encodeBytes(userKey)`, the
 * default and write families by `encodeKey(userKey, ts) = encodeBytes(userKey) ++ 8-byte ts`. Raw
 * data is keyed by the raw key. The boundary before a stored key is its encoded user key (the key
 * minus its timestamp); every record of that user key, its lock and all its versions, sorts at or
 * after it and before the next user key's encoding, whatever the key's length. Clients route a
 * transactional key by `encodeBytes(userKey)` and a raw key by itself, so both kinds land in the
 * region their records are stored in. The split checker (src/raftstore/split) is given this function.
 */
import type { DataColumnFamily } from '../engine/engine.js';
import { tryDecodeBytes } from './codec.js';

const TS_SIZE_BYTES = 8;

export function userKeyBoundary(cf: DataColumnFamily, key: Buffer): Buffer {
  if (cf === 'lock') return key; // already the encoded user key
  return isMvccKey(key) ? key.subarray(0, key.length - TS_SIZE_BYTES) : key;
}

/** An encoded user key followed by exactly an 8-byte timestamp; anything else is raw data. */
function isMvccKey(key: Buffer): boolean {
  return tryDecodeBytes(key)?.rest.length === TS_SIZE_BYTES;
}
