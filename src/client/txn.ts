/**
 * A client transaction: snapshot reads at start_ts, writes buffered in memory (bounded), and an
 * optimistic two-phase commit. Reads see the transaction's own writes.
 *
 * Life cycle: active → committing → committed | failed, or active → rolledBack. Every operation
 * other than rollback() needs an active transaction (TxnClosed otherwise).
 */
import { performance } from 'node:perf_hooks';
import { ClientError, ClientErrorCode } from './errors.js';
import { twoPhaseCommit, type BufferedWrite, type CommitDeps, type CommitFailpoints } from './committer.js';
import { Snapshot, SCAN_PAGE_MAX, type Pair } from './snapshot.js';
import { checkPositiveInt, keyId, toBuf, toKey, toValue, type Bytes } from './util.js';

export type TxnState = 'active' | 'committing' | 'committed' | 'rolledBack' | 'failed';

export interface TxnOptions {
  /** Base TTL of this transaction's locks (ms); grows with the transaction's age and size. Default: the client's (3000). */
  readonly lockTtlMs?: number;
  /** Most keys the write buffer may hold. Default 50,000. */
  readonly maxKeys?: number;
  /** Most key + value bytes the write buffer may hold. Default 32 MiB. */
  readonly maxBytes?: number;
  /** How long one read may wait for a live lock before LockResolveTimeout. Default: the client's (10 s). */
  readonly lockWaitTimeoutMs?: number;
  /**
   * TEST SEAM, internal: hooks that simulate a client crash during commit (see CommitFailpoints).
   * Not part of the supported API.
   */
  readonly failpoints?: CommitFailpoints;
}

export const TXN_DEFAULTS = { lockTtlMs: 3000, maxKeys: 50_000, maxBytes: 32 * 1024 * 1024, lockWaitTimeoutMs: 10_000 } as const;

export class Transaction {
  private readonly writes = new Map<string, BufferedWrite>();
  private bytes = 0;
  private stateValue: TxnState = 'active';
  private commitTsValue: bigint | undefined;
  private readonly snapshot: Snapshot;
  private readonly beganAt = performance.now();
  private readonly lockTtlMs: number;
  private readonly maxKeys: number;
  private readonly maxBytes: number;

  /** Use `client.begin()`. */
  constructor(
    /** The snapshot timestamp: reads see exactly the transactions committed before it. */
    readonly startTs: bigint,
    private readonly deps: CommitDeps,
    private readonly options: TxnOptions & { lockWaitTimeoutMs: number; lockTtlMs: number },
  ) {
    checkPositiveInt('lockTtlMs', options.lockTtlMs);
    checkPositiveInt('maxKeys', options.maxKeys);
    checkPositiveInt('maxBytes', options.maxBytes);
    checkPositiveInt('lockWaitTimeoutMs', options.lockWaitTimeoutMs, 0);
    this.lockTtlMs = options.lockTtlMs;
    this.maxKeys = options.maxKeys ?? TXN_DEFAULTS.maxKeys;
    this.maxBytes = options.maxBytes ?? TXN_DEFAULTS.maxBytes;
    this.snapshot = new Snapshot(startTs, deps.sender, deps.resolver, { logger: deps.logger, lockWaitTimeoutMs: options.lockWaitTimeoutMs });
  }

  get state(): TxnState {
    return this.stateValue;
  }

  /** The commit timestamp once committed (undefined for a read-only transaction). */
  get commitTs(): bigint | undefined {
    return this.commitTsValue;
  }

  /** Keys written (put or deleted) so far. */
  get size(): number {
    return this.writes.size;
  }

  /** The value of `key`: this transaction's own write if any, else the snapshot's. */
  async get(key: Bytes): Promise<Buffer | undefined> {
    this.ensureActive();
    const k = toKey(key);
    const own = this.writes.get(keyId(k));
    if (own !== undefined) return own.value;
    return this.snapshot.get(k);
  }

  /** Values of `keys`, in the same order (undefined where absent), read in parallel. */
  async batchGet(keys: readonly Bytes[]): Promise<(Buffer | undefined)[]> {
    this.ensureActive();
    const parsed = keys.map((key) => toKey(key));
    return Promise.all(parsed.map((k) => this.get(k)));
  }

  /** Buffers a write; nothing reaches the store before commit(). */
  put(key: Bytes, value: Bytes): void {
    this.ensureActive();
    this.buffer(toKey(key), toValue(value));
  }

  /** Buffers a delete. */
  delete(key: Bytes): void {
    this.ensureActive();
    this.buffer(toKey(key), undefined);
  }

  /**
   * Up to `limit` pairs with startKey <= key < endKey (endKey undefined or empty: no bound), in key
   * order, merging this transaction's own writes over the snapshot.
   */
  async scan(startKey: Bytes, endKey: Bytes | undefined, limit: number): Promise<Pair[]> {
    this.ensureActive();
    checkPositiveInt('limit', limit, 0);
    const start = Buffer.from(toBuf(startKey));
    const end = endKey === undefined || toBuf(endKey).length === 0 ? undefined : Buffer.from(toBuf(endKey));
    if (limit === 0) return [];
    const own = [...this.writes.values()]
      .filter((w) => Buffer.compare(w.key, start) >= 0 && (end === undefined || Buffer.compare(w.key, end) < 0))
      .sort((a, b) => Buffer.compare(a.key, b.key));
    const deletes = own.filter((w) => w.value === undefined).length;
    const snapshotPairs = this.snapshot.scan(start, end, Math.min(SCAN_PAGE_MAX, limit + deletes));
    const out: Pair[] = [];
    let i = 0;
    const emitOwnBefore = (key: Buffer | undefined): void => {
      while (out.length < limit) {
        const w = own[i];
        if (w === undefined || (key !== undefined && Buffer.compare(w.key, key) >= 0)) return;
        i++;
        if (w.value !== undefined) out.push({ key: w.key, value: w.value });
      }
    };
    try {
      for await (const pair of snapshotPairs) {
        emitOwnBefore(pair.key);
        if (out.length >= limit) break;
        const w = own[i];
        if (w !== undefined && w.key.equals(pair.key)) {
          i++;
          if (w.value !== undefined) out.push({ key: w.key, value: w.value });
        } else {
          out.push(pair);
        }
        if (out.length >= limit) break;
      }
    } finally {
      await snapshotPairs.return(undefined);
    }
    emitOwnBefore(undefined);
    return out;
  }

  /**
   * Commits with 2PC and resolves to the commit timestamp (undefined for a read-only transaction,
   * which has nothing to commit). On failure the transaction is closed; a retryable error
   * (WriteConflict, TxnRolledBack, ...) means nothing was committed and running it again may succeed.
   */
  async commit(): Promise<bigint | undefined> {
    this.ensureActive();
    if (this.writes.size === 0) {
      this.stateValue = 'committed';
      return undefined;
    }
    this.stateValue = 'committing';
    const writes = [...this.writes.values()].sort((a, b) => Buffer.compare(a.key, b.key));
    try {
      const commitTs = await twoPhaseCommit(
        this.deps,
        { startTs: this.startTs, writes, lockTtlMs: this.lockTtlMs, failpoints: this.options.failpoints },
        () => performance.now() - this.beganAt,
      );
      this.commitTsValue = commitTs;
      this.stateValue = 'committed';
      return commitTs;
    } catch (err) {
      this.stateValue = 'failed';
      throw err;
    }
  }

  /** Discards the buffered writes (nothing was sent before commit). A no-op once rolled back or failed. */
  async rollback(): Promise<void> {
    switch (this.stateValue) {
      case 'active':
        this.writes.clear();
        this.stateValue = 'rolledBack';
        return;
      case 'rolledBack':
      case 'failed':
        return;
      case 'committing':
      case 'committed':
        throw new ClientError(ClientErrorCode.TxnClosed, `transaction ${this.startTs} is ${this.stateValue}; it cannot be rolled back`);
    }
  }

  private buffer(key: Buffer, value: Buffer | undefined): void {
    const id = keyId(key);
    const previous = this.writes.get(id);
    const bytes = this.bytes - (previous === undefined ? 0 : key.length + (previous.value?.length ?? 0)) + key.length + (value?.length ?? 0);
    if (previous === undefined && this.writes.size >= this.maxKeys) {
      throw new ClientError(ClientErrorCode.TxnTooLarge, `transaction ${this.startTs} would write more than ${this.maxKeys} keys`);
    }
    if (bytes > this.maxBytes) {
      throw new ClientError(ClientErrorCode.TxnTooLarge, `transaction ${this.startTs} would write more than ${this.maxBytes} bytes`);
    }
    this.writes.set(id, { key: Buffer.from(key), value });
    this.bytes = bytes;
  }

  private ensureActive(): void {
    if (this.stateValue !== 'active') {
      throw new ClientError(ClientErrorCode.TxnClosed, `transaction ${this.startTs} is ${this.stateValue}`, {
        details: { startTs: this.startTs, state: this.stateValue },
      });
    }
  }
}
