/** A StorageReader over an engine snapshot, with TinyKV's iterator contract. */
import { defined } from '../util/assert.js';
import { ErrorCode, TinyKvError } from '../util/errors.js';
import type { DataColumnFamily, EngineSnapshot, KeyValuePair } from '../engine/engine.js';
import type { DbIterator, StorageReader } from './storage.js';

export class EngineReader implements StorageReader {
  private readonly openIterators = new Set<SnapshotIterator>();
  private closed = false;

  constructor(private readonly snapshot: EngineSnapshot) {}

  getCF(cf: DataColumnFamily, key: Uint8Array): Buffer | undefined {
    this.checkOpen();
    return this.snapshot.get(cf, key);
  }

  iterCF(cf: DataColumnFamily): DbIterator {
    this.checkOpen();
    const iterator = new SnapshotIterator(this.snapshot, cf, (it) => this.openIterators.delete(it));
    this.openIterators.add(iterator);
    return iterator;
  }

  close(): void {
    if (this.closed) return;
    // An iterator left open is a bug in the caller; close it anyway so the snapshot is released.
    const leaked = this.openIterators.size;
    for (const iterator of [...this.openIterators]) iterator.close();
    this.closed = true;
    this.snapshot.close();
    if (leaked > 0) throw new TinyKvError(ErrorCode.ReaderClosed, `reader closed with ${leaked} iterator(s) still open`);
  }

  private checkOpen(): void {
    if (this.closed) throw new TinyKvError(ErrorCode.ReaderClosed, 'reader is closed');
  }
}

class SnapshotIterator implements DbIterator {
  private cursor: Iterator<KeyValuePair> | undefined;
  private current: KeyValuePair | undefined;
  private closed = false;

  constructor(
    private readonly snapshot: EngineSnapshot,
    private readonly cf: DataColumnFamily,
    private readonly onClose: (it: SnapshotIterator) => void,
  ) {
    this.seek(Buffer.alloc(0));
  }

  seek(key: Uint8Array): void {
    this.checkOpen();
    this.cursor?.return?.();
    this.cursor = this.snapshot.scan(this.cf, { start: key });
    this.advance();
  }

  valid(): boolean {
    return !this.closed && this.current !== undefined;
  }

  key(): Buffer {
    return this.item().key;
  }

  value(): Buffer {
    return this.item().value;
  }

  next(): void {
    this.item();
    this.advance();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.cursor?.return?.();
    this.current = undefined;
    this.onClose(this);
  }

  private advance(): void {
    // seek() sets the cursor before the first advance, and close() ends every call path here.
    const step = defined(this.cursor, 'cursor of an open iterator').next();
    this.current = step.done ? undefined : step.value;
  }

  private item(): KeyValuePair {
    const current = this.closed ? undefined : this.current;
    if (current === undefined) throw new TinyKvError(ErrorCode.IteratorInvalid, 'iterator is not positioned on an item');
    return current;
  }

  private checkOpen(): void {
    if (this.closed) throw new TinyKvError(ErrorCode.IteratorInvalid, 'iterator is closed');
  }
}
