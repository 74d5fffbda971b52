/**
 * A write record (write CF), byte-compatible with TinyKV: `kind(1B) ++ BE64(startTs)`, exactly 9 bytes.
 * Commit records live at EncodeKey(key, commit_ts); rollback records at EncodeKey(key, start_ts).
 */
import { Op } from '../proto/kvrpcpb.js';
import { corruption, invalidArgument } from './errors.js';

export enum WriteKind {
  Put = 1,
  Delete = 2,
  Rollback = 3,
}

const WRITE_SIZE_BYTES = 9;

export interface Write {
  readonly startTs: bigint;
  readonly kind: WriteKind;
}

export function isWriteKind(byte: number): byte is WriteKind {
  return byte === WriteKind.Put || byte === WriteKind.Delete || byte === WriteKind.Rollback;
}

export function encodeWrite(write: Write): Buffer {
  const out = Buffer.alloc(WRITE_SIZE_BYTES);
  out[0] = write.kind;
  out.writeBigUInt64BE(write.startTs, 1);
  return out;
}

export function decodeWrite(bytes: Uint8Array): Write {
  if (bytes.length !== WRITE_SIZE_BYTES) throw corruption(`write record is ${bytes.length} bytes, want 9`);
  const view = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const kind = view.readUInt8(0);
  if (!isWriteKind(kind)) throw corruption(`write record has unknown kind ${kind}`);
  return { kind, startTs: view.readBigUInt64BE(1) };
}

/** The write kind a prewrite mutation commits as. Rollback and Lock mutations are not supported. */
export function writeKindFromOp(op: Op): WriteKind {
  switch (op) {
    case Op.Put:
      return WriteKind.Put;
    case Op.Del:
      return WriteKind.Delete;
    default:
      throw invalidArgument(`unsupported mutation op ${Op[op] ?? op}: only Put and Del can be prewritten`, { op });
  }
}

export function writeKindToOp(kind: WriteKind): Op {
  switch (kind) {
    case WriteKind.Put:
      return Op.Put;
    case WriteKind.Delete:
      return Op.Del;
    case WriteKind.Rollback:
      return Op.Rollback;
  }
}
