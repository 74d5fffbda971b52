/**
 * The LMDB engine: one LMDB environment per engine, one named database per column family, so a
 * batch across families commits in one LMDB transaction.
 *
 * Two commit modes. Batched (the default): lmdb-js groups the writes of one event-loop turn into
 * one commit on its write thread, and `write` resolves once that commit is flushed to disk.
 * Inline (`commitInline`): each write commits on the calling thread (LMDB's own synchronous
 * commit, no thread hop), for threads that already batch their writes (raft pollers, apply
 * threads); the environment then runs without lmdb-js's overlapping sync, so a commit is durable
 * when it returns, unless `lazyMetaSync` defers the meta-page sync (integrity is kept, the last
 * commits may roll back on a machine crash) and durable writes sync explicitly.
 */
import { open, type Database, type RootDatabase } from 'lmdb';
import { engineClosed, familyIn, snapshotClosed, writeFailure } from './engine-errors.js';
import { compareBytes, toBuffer } from '../util/bytes.js';
import {
  ENGINE_COLUMN_FAMILIES,
  type ColumnFamily,
  type Engine,
  type EngineSnapshot,
  type EngineStats,
  type KeyValuePair,
  type ScanOptions,
  type WriteOp,
  type WriteOptions,
} from './engine.js';
import { checkedKey } from './write-batch.js';

type Family = Database<Buffer, Buffer>;
type ReadTransaction = ReturnType<RootDatabase['useReadTransaction']>;

/** How long a durable write waits for lmdb-js's own flush before syncing the environment itself. */
const FLUSH_STALL_MS = 1_000;
/** How long close waits for lmdb-js before syncing itself and giving up on it (see `close`). */
const CLOSE_STALL_MS = 3_000;

export interface LmdbEngineOptions {
  /** Directory of the LMDB environment; created if missing. */
  readonly path: string;
  /** Skip fsync: fast, but a machine crash can lose acknowledged writes. Tests and benchmarks only. */
  readonly noSync?: boolean;
  /**
   * Commit on the calling thread (see above). Sets the environment's flags, so every opener of
   * one environment in a process must pass the same `commitInline` and `lazyMetaSync`.
   */
  readonly commitInline?: boolean;
  /** With commitInline: only durable writes and `flush` sync the meta page (LMDB's MDB_NOMETASYNC). */
  readonly lazyMetaSync?: boolean;
}

export class LmdbEngine implements Engine {
  readonly kind = 'lmdb' as const;
  private readonly root: RootDatabase<Buffer, Buffer>;
  private readonly families = new Map<ColumnFamily, Family>();
  private closing: Promise<void> | undefined;
  private batchesWritten = 0;

  constructor(private readonly options: LmdbEngineOptions) {
    this.root = open<Buffer, Buffer>({
      path: options.path,
      maxDbs: 16,
      keyEncoding: 'binary',
      encoding: 'binary',
      noSync: options.noSync ?? false,
      // Inline commits need LMDB's classic commit, which syncs before it returns.
      ...(options.commitInline ? { overlappingSync: false, noMetaSync: options.lazyMetaSync ?? false } : {}),
    });
    for (const cf of ENGINE_COLUMN_FAMILIES) {
      this.families.set(cf, this.root.openDB<Buffer, Buffer>({ name: cf, keyEncoding: 'binary', encoding: 'binary' }));
    }
    if (!options.commitInline) {
      // lmdb-js starts each event turn's batch in a task of its own (after 'beforecommit'), and the
      // commit promise that start may create is dropped. A microtask queued from 'beforecommit' runs
      // right after that task, before any other write can replace the promise, and handles it.
      this.root.on('beforecommit', () => queueMicrotask(() => this.handleCurrentCommit()));
    }
  }

  get(cf: ColumnFamily, key: Uint8Array): Buffer | undefined {
    this.checkOpen();
    return this.family(cf).get(checkedKey(cf, key));
  }

  getLatest(cf: ColumnFamily, key: Uint8Array): Buffer | undefined {
    this.checkOpen();
    this.root.resetReadTxn();
    return this.family(cf).get(checkedKey(cf, key));
  }

  async write(ops: readonly WriteOp[], options: WriteOptions = {}): Promise<void> {
    this.checkOpen();
    for (const op of ops) if (op.type !== 'deleteRange') checkedKey(op.cf, op.key);
    if (ops.length === 0) return;
    try {
      await this.commit(ops, options.durable ?? true);
    } catch (err) {
      throw this.commitFailed(err);
    }
    this.batchesWritten++;
  }

  private async commit(ops: readonly WriteOp[], durable: boolean): Promise<void> {
    if (this.options.commitInline) {
      this.root.transactionSync(() => {
        for (const op of ops) this.applyOp(op);
      });
      if (durable && this.options.lazyMetaSync) await this.flush();
      return;
    }
    const committing = this.root.transaction(() => {
      for (const op of ops) this.applyOp(op);
    });
    // Same tick as the write: a batch start that crossed lmdb-js's size threshold may have made the
    // current commit promise, which only this write can still reach.
    this.handleCurrentCommit();
    await committing;
    // Committed is not durable: with overlapping sync the flush to disk finishes later.
    if (durable) await this.flushed();
  }

  /**
   * Waits until the last commit is on disk. lmdb-js's `flushed` never settles for commits whose
   * write session ended in an error (a full disk fails a later commit of the same session, and
   * lmdb-js drops that session's flush resolvers), so a durable write would hang. After
   * FLUSH_STALL_MS the engine syncs the environment itself: success means this write's commit is
   * on disk; failure refuses the write.
   */
  private async flushed(): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const stalled = new Promise<'stalled'>((resolve) => {
      timer = setTimeout(() => resolve('stalled'), FLUSH_STALL_MS);
    });
    try {
      const flushed = Promise.resolve(this.root.flushed).then(() => 'flushed' as const);
      if ((await Promise.race([flushed, stalled])) === 'stalled') await this.syncEnvironment();
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * A failed commit (a full disk, an I/O error) rejects the caller's write once, with a coded
   * error. lmdb-js also rejects promises nobody holds: the commit promise of an event turn's batch
   * start (see the constructor and `commit`) and the `commitError` promise every failure carries.
   * Unhandled, either ends the process (`tinykv server` fail-stops on unhandled rejections), so
   * both get a handler when they are made, never later: lmdb-js replaces its current commit
   * promise as soon as another write starts a batch.
   */
  private handleCurrentCommit(): void {
    (this.root.committed as PromiseLike<unknown>).then(undefined, handleCommitError);
  }

  private commitFailed(err: unknown): Error {
    handleCommitError(err);
    return writeFailure(err, this.options.path);
  }

  async flush(): Promise<void> {
    this.checkOpen();
    try {
      if (this.options.commitInline) {
        // Every inline commit synced on return, except meta pages under lazyMetaSync.
        if (this.options.lazyMetaSync && !this.options.noSync) await this.syncEnvironment();
        return;
      }
      await this.flushed();
    } catch (err) {
      throw this.commitFailed(err);
    }
  }

  private syncEnvironment(): Promise<void> {
    const root = this.root as unknown as { sync(callback: (err?: Error) => void): void };
    return new Promise((resolve, reject) => root.sync((err) => (err ? reject(err) : resolve())));
  }

  snapshot(): EngineSnapshot {
    this.checkOpen();
    // The turn's shared read transaction may predate another thread's commit (see Engine.get):
    // a snapshot starts from a fresh one. Snapshots still open keep theirs (lmdb-js counts uses).
    this.root.resetReadTxn();
    return new LmdbSnapshot(this.families, this.root.useReadTransaction());
  }

  stats(): EngineStats {
    return { kind: 'lmdb', path: this.options.path, batchesWritten: this.batchesWritten };
  }

  /**
   * Closes the environment. lmdb-js's close waits for the flush of the last write session, which
   * never comes after a session that ended in a failed commit (see `flushed`): after
   * CLOSE_STALL_MS the engine syncs the environment itself and stops waiting, so a node that hit a
   * full disk still stops on SIGTERM (the process exits with the environment still mapped, which
   * LMDB is built to survive).
   */
  close(): Promise<void> {
    this.closing ??= this.closeWithin(CLOSE_STALL_MS);
    return this.closing;
  }

  private async closeWithin(timeoutMs: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const stalled = new Promise<'stalled'>((resolve) => {
      timer = setTimeout(() => resolve('stalled'), timeoutMs);
    });
    try {
      const closed = Promise.resolve(this.root.close()).then(() => 'closed' as const);
      if ((await Promise.race([closed, stalled])) === 'stalled') await this.syncEnvironment().catch(() => {});
    } finally {
      clearTimeout(timer);
    }
  }

  private applyOp(op: WriteOp): void {
    const family = this.family(op.cf);
    switch (op.type) {
      case 'put':
        family.putSync(op.key, op.value);
        return;
      case 'delete':
        family.removeSync(op.key);
        return;
      case 'deleteRange': {
        if (op.end && compareBytes(op.start, op.end) >= 0) return;
        const keys = Array.from(family.getKeys({ start: op.start, end: op.end }));
        for (const key of keys) family.removeSync(key);
        return;
      }
    }
  }

  private family(cf: ColumnFamily): Family {
    return familyIn(this.families, cf);
  }

  private checkOpen(): void {
    if (this.closing) throw engineClosed();
  }
}

/** Handles the `commitError` promise lmdb-js attaches to a failed commit's error (it rejects too). */
function handleCommitError(err: unknown): void {
  const commitError = (err as { commitError?: Promise<unknown> } | undefined)?.commitError;
  commitError?.catch(() => {});
}

class LmdbSnapshot implements EngineSnapshot {
  private closed = false;

  constructor(
    private readonly families: Map<ColumnFamily, Family>,
    private readonly transaction: ReadTransaction,
  ) {}

  get(cf: ColumnFamily, key: Uint8Array): Buffer | undefined {
    this.checkOpen();
    return this.family(cf).get(checkedKey(cf, key), { transaction: this.transaction });
  }

  *scan(cf: ColumnFamily, options: ScanOptions = {}): IterableIterator<KeyValuePair> {
    this.checkOpen();
    const family = this.family(cf);
    const start = options.start && options.start.length > 0 ? toBuffer(options.start) : undefined;
    const end = options.end && options.end.length > 0 ? toBuffer(options.end) : undefined;
    const limit = options.limit ?? Number.POSITIVE_INFINITY;
    if (limit <= 0) return;
    if (start && end && compareBytes(start, end) >= 0) return;
    let count = 0;
    // lmdb-js walks a reverse range from `start` (high, inclusive) down to `end` (low, exclusive);
    // our lower bound is inclusive, so it is checked here instead.
    const range = options.reverse
      ? family.getRange({ start: end, reverse: true, transaction: this.transaction })
      : family.getRange({ start, end, transaction: this.transaction });
    for (const { key, value } of range) {
      if (this.closed) throw snapshotClosed();
      if (options.reverse) {
        if (end && compareBytes(key, end) >= 0) continue;
        if (start && compareBytes(key, start) < 0) return;
      }
      yield { key, value };
      if (++count >= limit) return;
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.transaction.done();
  }

  private family(cf: ColumnFamily): Family {
    return familyIn(this.families, cf);
  }

  private checkOpen(): void {
    if (this.closed) throw snapshotClosed();
  }
}
