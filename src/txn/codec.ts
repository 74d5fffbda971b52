/**
 * MVCC key encoding, byte-compatible with TinyKV (kv/util/codec, kv/transaction/mvcc):
 * - `encodeBytes`: memcomparable; 8-byte groups, the last zero-padded, each followed by a marker
 *   0xFF - padCount. An exact multiple of 8 gets an extra all-padding group.
 * - `encodeKey(key, ts) = encodeBytes(key) ++ BE64(~ts)`: ascending by user key, then descending by ts.
 * - Lock keys are `encodeBytes(key)` (TiKV's layout; TinyKV keys locks by the raw key), so a user
 *   key's lock and all its versions sort in [encodeBytes(key), encodeBytes(next user key)).
 * Timestamps are unsigned 64-bit bigints: ts = physical ms << 18 | logical.
 */
import { assert } from '../util/assert.js';
import { corruption } from './errors.js';

export const TS_MAX = (1n << 64n) - 1n;
export const TS_PHYSICAL_SHIFT_BITS = 18n;
const GROUP_SIZE = 8;
const MARKER = 0xff;
const TS_SIZE_BYTES = 8;

export function isValidTimestamp(ts: bigint): boolean {
  return ts >= 0n && ts <= TS_MAX;
}

/** Milliseconds part of a timestamp. */
export function physicalTime(ts: bigint): bigint {
  return ts >> TS_PHYSICAL_SHIFT_BITS;
}

/** Builds a timestamp from milliseconds and a logical counter (< 2^18). */
export function composeTs(physicalMs: bigint, logical = 0n): bigint {
  return (physicalMs << TS_PHYSICAL_SHIFT_BITS) | logical;
}

export function encodeBytes(data: Uint8Array): Buffer {
  const groups = Math.floor(data.length / GROUP_SIZE) + 1;
  const out = Buffer.alloc(groups * (GROUP_SIZE + 1));
  for (let group = 0; group < groups; group++) {
    const start = group * GROUP_SIZE;
    const end = Math.min(start + GROUP_SIZE, data.length);
    out.set(data.subarray(start, end), group * (GROUP_SIZE + 1));
    const padCount = GROUP_SIZE - (end - start);
    out[group * (GROUP_SIZE + 1) + GROUP_SIZE] = MARKER - padCount;
  }
  return out;
}

export interface DecodedBytes {
  readonly data: Buffer;
  /** The bytes after the encoded part. */
  readonly rest: Buffer;
}

export function decodeBytes(input: Uint8Array): DecodedBytes {
  const buf = Buffer.from(input.buffer, input.byteOffset, input.byteLength);
  const parts: Buffer[] = [];
  let offset = 0;
  for (;;) {
    if (buf.length - offset < GROUP_SIZE + 1) throw corruption('memcomparable: insufficient bytes to decode');
    const marker = buf.readUInt8(offset + GROUP_SIZE);
    const padCount = MARKER - marker;
    if (padCount > GROUP_SIZE) throw corruption(`memcomparable: invalid marker byte ${marker}`);
    const realSize = GROUP_SIZE - padCount;
    parts.push(buf.subarray(offset, offset + realSize));
    if (padCount !== 0) {
      for (let i = realSize; i < GROUP_SIZE; i++) {
        if (buf[offset + i] !== 0) throw corruption('memcomparable: invalid padding byte');
      }
      return { data: Buffer.concat(parts), rest: buf.subarray(offset + GROUP_SIZE + 1) };
    }
    offset += GROUP_SIZE + 1;
  }
}

/** `decodeBytes`, or undefined when `input` does not begin with a memcomparable encoding. */
export function tryDecodeBytes(input: Uint8Array): DecodedBytes | undefined {
  try {
    return decodeBytes(input);
  } catch {
    return undefined;
  }
}

/**
 * The user key of a lock-family key. Only this module's writers put keys there (`encodeBytes`), so
 * a key that is not exactly one memcomparable encoding is a broken invariant, not bad input.
 */
export function decodeLockKey(lockKey: Uint8Array): Buffer {
  const decoded = tryDecodeBytes(lockKey);
  assert(decoded !== undefined && decoded.rest.length === 0, `lock key ${Buffer.from(lockKey).toString('hex')} is not encodeBytes(userKey)`);
  return decoded.data;
}

export function encodeTs(ts: bigint): Buffer {
  const out = Buffer.alloc(TS_SIZE_BYTES);
  out.writeBigUInt64BE(TS_MAX - ts);
  return out;
}

/** EncodeBytes(userKey) ++ BigEndian64(^ts). */
export function encodeKey(userKey: Uint8Array, ts: bigint): Buffer {
  const encoded = encodeBytes(userKey);
  const out = Buffer.alloc(encoded.length + TS_SIZE_BYTES);
  encoded.copy(out, 0);
  out.writeBigUInt64BE(TS_MAX - ts, encoded.length);
  return out;
}

export function decodeUserKey(encodedKey: Uint8Array): Buffer {
  return decodeBytes(encodedKey).data;
}

export function decodeTimestamp(encodedKey: Uint8Array): bigint {
  const { rest } = decodeBytes(encodedKey);
  if (rest.length !== TS_SIZE_BYTES) throw corruption(`encoded key has ${rest.length} timestamp bytes, want 8`);
  return TS_MAX - rest.readBigUInt64BE(0);
}

/**
 * The smallest byte string greater than every `encodeKey(userKey, ts)`: the encoded user key with
 * its last marker incremented (the last marker is always < 0xFF, so no carry is needed).
 */
export function encodedKeyUpperBound(userKey: Uint8Array): Buffer {
  const out = encodeBytes(userKey);
  const last = out.length - 1;
  out[last] = out.readUInt8(last) + 1;
  return out;
}

/** True when `encodedKey` is `encodeKey(userKey, ts)` for some ts, given `encodedUserKey = encodeBytes(userKey)`. */
export function hasUserKey(encodedKey: Uint8Array, encodedUserKey: Uint8Array): boolean {
  if (encodedKey.length !== encodedUserKey.length + TS_SIZE_BYTES) return false;
  return (
    Buffer.compare(
      Buffer.from(encodedKey.buffer, encodedKey.byteOffset, encodedUserKey.length),
      Buffer.from(encodedUserKey.buffer, encodedUserKey.byteOffset, encodedUserKey.byteLength),
    ) === 0
  );
}

/** The timestamp of an encoded key whose user-key part is known to be `encodedUserKeyLength` bytes. */
export function timestampAt(encodedKey: Uint8Array, encodedUserKeyLength: number): bigint {
  if (encodedKey.byteLength !== encodedUserKeyLength + TS_SIZE_BYTES) {
    throw corruption(`encoded key has ${encodedKey.byteLength - encodedUserKeyLength} timestamp bytes, want 8`);
  }
  const view = Buffer.from(encodedKey.buffer, encodedKey.byteOffset, encodedKey.byteLength);
  return TS_MAX - view.readBigUInt64BE(encodedUserKeyLength);
}
