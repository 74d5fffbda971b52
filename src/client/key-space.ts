/**
 * The two key spaces regions are cut from. A region is a byte range of the stored keys. Raw data is
 * stored under the raw key. A transactional key's records are stored under its memcomparable
 * encoding (its lock at `encodeBytes(userKey)`, its versions right after), so transactional calls
 * locate regions by `encodeBytes(userKey)` and raw calls by the raw key (TiKV's API v1 rule).
 */
import { encodeBytes, tryDecodeBytes } from '../txn/codec.js';
import { defined } from '../util/assert.js';
import type { KvMethod } from './store-pool.js';

export type KeySpace = 'raw' | 'txn';

const KEY_SPACES: Record<KvMethod, KeySpace> = {
  rawGet: 'raw',
  rawPut: 'raw',
  rawDelete: 'raw',
  rawScan: 'raw',
  kvGet: 'txn',
  kvScan: 'txn',
  kvPrewrite: 'txn',
  kvCommit: 'txn',
  kvBatchRollback: 'txn',
  kvCheckTxnStatus: 'txn',
  kvResolveLock: 'txn',
};

export function keySpaceOf(method: KvMethod): KeySpace {
  return KEY_SPACES[method];
}

/** The stored-key position of `key` in its key space: where the region that serves it is found. */
export function routingKey(space: KeySpace, key: Buffer): Buffer {
  return space === 'txn' ? encodeBytes(key) : key;
}

/** Data bytes in one memcomparable group, and the group's size with its marker. */
const GROUP_DATA_BYTES = 8;
const GROUP_BYTES = GROUP_DATA_BYTES + 1;
const FULL_GROUP_MARKER = 0xff;

/**
 * The smallest user key whose encoding is >= `bound`: where a transactional scan continues after a
 * region ending at `bound`. A bound that is a transactional key's encoding decodes to that key. A
 * bound cut from raw data (or an MVCC key with a timestamp) lies between two encodings; the answer
 * is then the first user key past it, so no transactional key of the next region is skipped and
 * none of the previous one is read twice.
 */
export function firstUserKeyAtOrAfter(bound: Buffer): Buffer {
  const decoded = tryDecodeBytes(bound);
  if (decoded !== undefined && decoded.rest.length === 0) return decoded.data;
  // Full groups (8 data bytes and marker 0xFF) of the bound are a prefix every answer shares.
  let offset = 0;
  while (bound.length - offset >= GROUP_BYTES && bound[offset + GROUP_DATA_BYTES] === FULL_GROUP_MARKER) offset += GROUP_BYTES;
  const prefixData = Buffer.concat(fullGroupsData(bound, offset));
  const head = bound.subarray(offset, offset + GROUP_DATA_BYTES);
  let best: Buffer | undefined;
  for (const suffix of suffixCandidates(head)) {
    const candidate = Buffer.concat([prefixData, suffix]);
    if (Buffer.compare(encodeBytes(candidate), bound) < 0) continue;
    if (best === undefined || Buffer.compare(candidate, best) < 0) best = candidate;
  }
  // `head` itself (8 bytes: its group's 0xFF marker beats the bound's) or `head` ++ 0x00 (the
  // bound ends inside that group) always qualifies.
  return defined(best, 'a user key encoded at or after the bound');
}

function fullGroupsData(bound: Buffer, endOffset: number): Buffer[] {
  const parts: Buffer[] = [];
  for (let offset = 0; offset < endOffset; offset += GROUP_BYTES) parts.push(bound.subarray(offset, offset + GROUP_DATA_BYTES));
  return parts;
}

/**
 * The suffixes (at most 8 bytes: one encoded group) that can be the least one whose group sorts at
 * or after `head`, the data bytes of the bound's first group that is not a full group: each prefix
 * of `head`, each prefix with its last byte incremented, and `head` followed by a zero byte.
 */
function suffixCandidates(head: Buffer): Buffer[] {
  const candidates: Buffer[] = [];
  for (let length = 0; length <= head.length; length++) {
    const prefix = head.subarray(0, length);
    candidates.push(prefix);
    const last = prefix.at(-1);
    if (last !== undefined && last < 0xff) candidates.push(Buffer.concat([prefix.subarray(0, length - 1), Buffer.from([last + 1])]));
  }
  if (head.length < GROUP_DATA_BYTES) candidates.push(Buffer.concat([head, Buffer.from([0])]));
  return candidates;
}
