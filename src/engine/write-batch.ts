/** Builds and validates a batch of engine writes, with bounds on its size. */
import { ErrorCode, quoteForError, TinyKvError } from '../util/errors.js';
import { toBuffer } from '../util/bytes.js';
import { ENGINE_MAX_KEY_SIZE_BYTES, isColumnFamily, type ColumnFamily, type WriteOp } from './engine.js';

export const WRITE_BATCH_MAX_OPS = 100_000;
export const WRITE_BATCH_MAX_BYTES = 256 * 1024 * 1024;

export class WriteBatch {
  readonly ops: WriteOp[] = [];
  private sizeBytes = 0;

  put(cf: ColumnFamily, key: Uint8Array, value: Uint8Array): this {
    const keyBuffer = checkedKey(cf, key);
    this.push({ type: 'put', cf, key: keyBuffer, value: toBuffer(value) }, keyBuffer.length + value.length);
    return this;
  }

  delete(cf: ColumnFamily, key: Uint8Array): this {
    const keyBuffer = checkedKey(cf, key);
    this.push({ type: 'delete', cf, key: keyBuffer }, keyBuffer.length);
    return this;
  }

  /** Deletes every key in [start, end) of the family; without `end`, to the end of the family. */
  deleteRange(cf: ColumnFamily, start: Uint8Array, end?: Uint8Array): this {
    checkFamily(cf);
    this.push({ type: 'deleteRange', cf, start: toBuffer(start), end: end && toBuffer(end) }, start.length + (end?.length ?? 0));
    return this;
  }

  get size(): number {
    return this.ops.length;
  }

  get bytes(): number {
    return this.sizeBytes;
  }

  private push(op: WriteOp, bytes: number): void {
    if (this.ops.length >= WRITE_BATCH_MAX_OPS || this.sizeBytes + bytes > WRITE_BATCH_MAX_BYTES) {
      throw new TinyKvError(ErrorCode.BatchTooLarge, `write batch exceeds ${WRITE_BATCH_MAX_OPS} ops or ${WRITE_BATCH_MAX_BYTES} bytes`);
    }
    this.ops.push(op);
    this.sizeBytes += bytes;
  }
}

function checkFamily(cf: string): void {
  if (!isColumnFamily(cf)) throw new TinyKvError(ErrorCode.UnknownColumnFamily, `unknown column family ${quoteForError(cf)}`);
}

/** Validates a key an engine can store: a known family, 1..ENGINE_MAX_KEY_SIZE_BYTES bytes. */
export function checkedKey(cf: string, key: Uint8Array): Buffer {
  checkFamily(cf);
  if (key.length === 0) throw new TinyKvError(ErrorCode.EngineKeyInvalid, 'engine keys must not be empty');
  if (key.length > ENGINE_MAX_KEY_SIZE_BYTES) {
    throw new TinyKvError(ErrorCode.EngineKeyInvalid, `engine key of ${key.length} bytes exceeds ${ENGINE_MAX_KEY_SIZE_BYTES}`);
  }
  return toBuffer(key);
}
