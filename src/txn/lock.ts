/**
 * A lock record (lock CF, at the raw user key), byte-compatible with TinyKV:
 * `primary ++ kind(1B) ++ BE64(ts) ++ BE64(ttl)`.
 */
import { LockInfo } from '../proto/kvrpcpb.js';
import { physicalTime } from './codec.js';
import { corruption } from './errors.js';
import { isWriteKind, type WriteKind } from './write.js';

const LOCK_SUFFIX_BYTES = 17;

export interface Lock {
  readonly primary: Buffer;
  /** The start ts of the owning transaction. */
  readonly ts: bigint;
  /** Time to live in milliseconds of physical time. */
  readonly ttl: bigint;
  readonly kind: WriteKind;
}

export function encodeLock(lock: Lock): Buffer {
  const out = Buffer.alloc(lock.primary.length + LOCK_SUFFIX_BYTES);
  lock.primary.copy(out, 0);
  let offset = lock.primary.length;
  out[offset++] = lock.kind;
  out.writeBigUInt64BE(lock.ts, offset);
  out.writeBigUInt64BE(lock.ttl, offset + 8);
  return out;
}

export function decodeLock(bytes: Uint8Array): Lock {
  if (bytes.length < LOCK_SUFFIX_BYTES) throw corruption(`lock record is ${bytes.length} bytes, want > 16`);
  const view = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const primaryLength = view.length - LOCK_SUFFIX_BYTES;
  const kind = view.readUInt8(primaryLength);
  if (!isWriteKind(kind)) throw corruption(`lock record has unknown kind ${kind}`);
  return {
    primary: Buffer.from(view.subarray(0, primaryLength)),
    kind,
    ts: view.readBigUInt64BE(primaryLength + 1),
    ttl: view.readBigUInt64BE(primaryLength + 9),
  };
}

export function lockInfo(lock: Lock, key: Buffer): LockInfo {
  return LockInfo.fromPartial({ primaryLock: lock.primary, lockVersion: lock.ts, key, lockTtl: lock.ttl });
}

/** A read at `readTs` must wait for (or resolve) this lock: it may commit at or before readTs. */
export function blocksRead(lock: Lock, readTs: bigint): boolean {
  return lock.ts <= readTs;
}

/** TinyKV's TTL rule: expired once physical(current) >= physical(lock.ts) + ttl. */
export function isLockExpired(lock: Lock, currentTs: bigint): boolean {
  return physicalTime(lock.ts) + lock.ttl <= physicalTime(currentTs);
}
