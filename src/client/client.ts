/**
 * `connect()` and the TinyKV client: the raw API (get, put, delete, scan, batch get/put/delete)
 * and transactions (begin(), transaction(fn) with retries).
 *
 * Wiring: SchedulerClient (cluster id, TSO, region lookups) → RegionCache → RequestSender (over a
 * StorePool of gRPC clients) → LockResolver, Snapshot and the committer.
 */
import type { Logger } from 'pino';
import { RawDeleteRequest, RawGetRequest, RawPutRequest, RawScanRequest } from '../proto/kvrpcpb.js';
import { silentLogger } from '../log/logger.js';
import { ClientError, ClientErrorCode, invalidArgument, isRetryable } from './errors.js';
import { LockResolver } from './lock-resolver.js';
import { DirectNode, type SchedulerLink } from './direct-node.js';
import { SchedulerClient } from './scheduler-client.js';
import { RegionCache } from './region-cache.js';
import { RequestSender } from './request-sender.js';
import type { Pair } from './snapshot.js';
import { StorePool } from './store-pool.js';
import { Transaction, TXN_DEFAULTS, type TxnOptions } from './txn.js';
import { backoffMs, checkPositiveInt, nextKey, sleep, toBuf, toKey, toValue, type Bytes } from './util.js';

export interface ConnectOptions {
  /** Scheduler endpoint(s), host:port. The client follows the reported leader. */
  readonly scheduler?: string | readonly string[];
  /** A standalone node's address (it serves the scheduler's GetMembers and Tso itself). */
  readonly addr?: string;
  /**
   * One node to send every raw call to, without a scheduler: a standalone node, or a cluster store
   * (which routes each request to its region by key, and answers NotLeader where it is not the
   * leader). No timestamps, so no transactions. Give exactly one of `scheduler`, `addr` and `node`.
   */
  readonly node?: string;
  /** Default: silent. */
  readonly logger?: Logger;
  /** Base TTL of transaction locks in ms. Default 3000. */
  readonly lockTtlMs?: number;
  /** Retries of one request after region errors or retryable transport failures. Default 64. */
  readonly maxRetries?: number;
  /**
   * Total backoff one request may sleep across its retries before it fails; retries stop at whichever
   * of this and `maxRetries` runs out first. Default 20 s (client-go's budget for raw calls).
   */
  readonly maxBackoffMs?: number;
  /** Deadline of each gRPC call. Default 10 s. */
  readonly requestTimeoutMs?: number;
  /** How long one read may wait for a live lock before failing with LockResolveTimeout. Default 10 s. */
  readonly lockWaitTimeoutMs?: number;
  /** Write-buffer bounds of each transaction. Defaults 50,000 keys and 32 MiB. */
  readonly maxTxnKeys?: number;
  readonly maxTxnBytes?: number;
  /** Largest gRPC message sent or received. Default 16 MiB. */
  readonly maxMessageBytes?: number;
  /**
   * Send calls to each store through one TinyKv/BatchCommands stream, the concurrent calls of one
   * event-loop turn in one message (as TiKV's client-go batches); a store without BatchCommands (a
   * TinyKV server) gets unary calls. Default true; false sends every call unary.
   */
  readonly batchCommands?: boolean;
}

/** Options of one raw call. */
export interface RawCallOptions {
  /** Column family: `default` (the default), `lock` or `write` (the server may refuse writes to the last two). */
  readonly cf?: string;
}

export interface TransactionOptions extends TxnOptions {
  /** Attempts in all, the first included. Default 10. */
  readonly maxAttempts?: number;
  /** Backoff between attempts: a random delay in [0, min(backoffMaxMs, backoffBaseMs * 2^(attempt-1))]. Defaults 10 and 1000 ms. */
  readonly backoffBaseMs?: number;
  readonly backoffMaxMs?: number;
}

/** Raw batch calls keep at most this many RPCs in flight. */
const RAW_BATCH_CONCURRENCY = 32;
/** Pairs asked per RawScan (below the server's default max_scan_limit of 10,000). */
const RAW_SCAN_PAGE = 1000;

/** Connects to a cluster through its scheduler, or to a standalone node. */
export async function connect(options: ConnectOptions): Promise<TinyKvClient> {
  return TinyKvClient.connect(options);
}

export class TinyKvClient {
  private closed = false;

  private constructor(
    private readonly pd: SchedulerLink,
    private readonly pool: StorePool,
    /** Internal plumbing, exposed for tests and diagnostics. */
    readonly sender: RequestSender,
    readonly resolver: LockResolver,
    private readonly logger: Logger,
    private readonly txnDefaults: TxnOptions & { lockTtlMs: number; lockWaitTimeoutMs: number },
  ) {}

  static async connect(options: ConnectOptions): Promise<TinyKvClient> {
    checkConnectOptions(options);
    const logger = options.logger ?? silentLogger();
    const timeoutMs = options.requestTimeoutMs ?? 10_000;
    const pd = await linkScheduler(options, logger, timeoutMs);
    const pool = new StorePool({ timeoutMs, maxMessageBytes: options.maxMessageBytes, batchCommands: options.batchCommands });
    const cache = new RegionCache(pd, pd.addr, logger);
    const sender = new RequestSender(cache, pool, {
      logger,
      maxRetries: options.maxRetries,
      maxBackoffMs: options.maxBackoffMs,
    });
    const resolver = new LockResolver(sender, pd, { logger });
    return new TinyKvClient(pd, pool, sender, resolver, logger, {
      lockTtlMs: options.lockTtlMs ?? TXN_DEFAULTS.lockTtlMs,
      lockWaitTimeoutMs: options.lockWaitTimeoutMs ?? TXN_DEFAULTS.lockWaitTimeoutMs,
      maxKeys: options.maxTxnKeys,
      maxBytes: options.maxTxnBytes,
    });
  }

  /** The cluster id reported by the scheduler (or the standalone node). */
  get clusterId(): bigint {
    return this.pd.clusterId;
  }

  /** A fresh timestamp from the TSO. */
  getTimestamp(): Promise<bigint> {
    this.ensureOpen();
    return this.pd.getTimestamp();
  }

  // ---- raw API (not transactional: do not mix with transactional keys) ----

  async get(key: Bytes, options: RawCallOptions = {}): Promise<Buffer | undefined> {
    this.ensureOpen();
    const k = toKey(key);
    const cf = options.cf ?? '';
    const { response } = await this.sender.sendToKey(k, 'rawGet', (context) => RawGetRequest.fromPartial({ context, key: k, cf }));
    checkRawError(response.error, 'RawGet');
    return response.notFound ? undefined : response.value;
  }

  async put(key: Bytes, value: Bytes, options: RawCallOptions = {}): Promise<void> {
    this.ensureOpen();
    const k = toKey(key);
    const v = toValue(value);
    const cf = options.cf ?? '';
    const { response } = await this.sender.sendToKey(k, 'rawPut', (context) => RawPutRequest.fromPartial({ context, key: k, value: v, cf }));
    checkRawError(response.error, 'RawPut');
  }

  async delete(key: Bytes, options: RawCallOptions = {}): Promise<void> {
    this.ensureOpen();
    const k = toKey(key);
    const cf = options.cf ?? '';
    const { response } = await this.sender.sendToKey(k, 'rawDelete', (context) => RawDeleteRequest.fromPartial({ context, key: k, cf }));
    checkRawError(response.error, 'RawDelete');
  }

  /** Up to `limit` pairs with startKey <= key < endKey (endKey undefined or empty: no bound), in key order. */
  async scan(startKey: Bytes, endKey: Bytes | undefined, limit: number, options: RawCallOptions = {}): Promise<Pair[]> {
    this.ensureOpen();
    const cf = options.cf ?? '';
    checkPositiveInt('limit', limit, 0);
    let cursor: Buffer = Buffer.from(toBuf(startKey));
    const end = endKey === undefined || toBuf(endKey).length === 0 ? undefined : toBuf(endKey);
    const out: Pair[] = [];
    while (out.length < limit && (end === undefined || Buffer.compare(cursor, end) < 0)) {
      const start: Buffer = cursor;
      const page = Math.min(RAW_SCAN_PAGE, limit - out.length);
      const { response, region } = await this.sender.sendToKey(start, 'rawScan', (context) =>
        RawScanRequest.fromPartial({ context, startKey: start, limit: page, cf }),
      );
      checkRawError(response.error, 'RawScan');
      const inRegion = response.kvs.filter((kv) => region.endKey.length === 0 || Buffer.compare(kv.key, region.endKey) < 0);
      for (const kv of inRegion) {
        if (end !== undefined && Buffer.compare(kv.key, end) >= 0) return out;
        out.push({ key: kv.key, value: kv.value });
        if (out.length >= limit) return out;
      }
      // The server may return fewer pairs than asked (a response byte cap), so only an empty page
      // (or one that crossed the region's end) proves the region is exhausted.
      const last = inRegion.at(-1);
      if (last === undefined || inRegion.length < response.kvs.length) {
        if (region.endKey.length === 0) return out;
        cursor = region.endKey;
      } else {
        cursor = nextKey(last.key);
      }
    }
    return out;
  }

  /** Values of `keys` in the same order (undefined where absent). */
  async batchGet(keys: readonly Bytes[], options: RawCallOptions = {}): Promise<(Buffer | undefined)[]> {
    this.ensureOpen();
    const parsed = keys.map((key) => toKey(key));
    return mapLimit(parsed, RAW_BATCH_CONCURRENCY, (k) => this.get(k, options));
  }

  /** Puts every pair (not atomically: on failure some may have been written). */
  async batchPut(pairs: ReadonlyArray<{ readonly key: Bytes; readonly value: Bytes }>, options: RawCallOptions = {}): Promise<void> {
    this.ensureOpen();
    const parsed = pairs.map((p) => ({ key: toKey(p.key), value: toValue(p.value) }));
    await mapLimit(parsed, RAW_BATCH_CONCURRENCY, (p) => this.put(p.key, p.value, options));
  }

  /** Deletes every key (not atomically). */
  async batchDelete(keys: readonly Bytes[], options: RawCallOptions = {}): Promise<void> {
    this.ensureOpen();
    const parsed = keys.map((key) => toKey(key));
    await mapLimit(parsed, RAW_BATCH_CONCURRENCY, (k) => this.delete(k, options));
  }

  // ---- transactions ----

  /** Starts a transaction at a fresh timestamp. */
  async begin(options: TxnOptions = {}): Promise<Transaction> {
    this.ensureOpen();
    const startTs = await this.pd.getTimestamp();
    return new Transaction(startTs, this.deps(), {
      ...this.txnDefaults,
      ...definedOnly(options),
    });
  }

  /**
   * Runs `fn` in a transaction and commits it. A retryable failure (write conflict, rolled back by
   * another client, lock wait timeout, transport) rolls back and runs `fn` again in a new
   * transaction after an exponential backoff with jitter, up to `maxAttempts`. `fn` may therefore
   * run more than once: keep side effects out of it. Resolves to `fn`'s result.
   */
  async transaction<T>(fn: (txn: Transaction) => Promise<T> | T, options: TransactionOptions = {}): Promise<T> {
    const { maxAttempts = 10, backoffBaseMs = 10, backoffMaxMs = 1000, ...txnOptions } = options;
    checkPositiveInt('maxAttempts', maxAttempts);
    for (let attempt = 1; ; attempt++) {
      let txn: Transaction | undefined;
      try {
        txn = await this.begin(txnOptions);
        const result = await fn(txn);
        if (txn.state === 'active') await txn.commit();
        return result;
      } catch (err) {
        await txn?.rollback().catch(() => {});
        if (!isRetryable(err) || attempt >= maxAttempts || this.closed) throw err;
        const delay = backoffMs(attempt - 1, backoffBaseMs, backoffMaxMs);
        this.logger.debug({ attempt, delay, err: (err as Error).message }, 'transaction failed; retrying');
        await sleep(delay);
      }
    }
  }

  /** Closes the connections; pending calls fail with ClientClosed. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.pd.close();
    this.pool.close();
  }

  private deps() {
    return { sender: this.sender, resolver: this.resolver, tso: this.pd, logger: this.logger };
  }

  private ensureOpen(): void {
    if (this.closed) throw new ClientError(ClientErrorCode.ClientClosed, 'the client is closed');
  }
}

function checkConnectOptions(options: ConnectOptions): void {
  const targets = [schedulerAddrs(options).length > 0, options.addr !== undefined, options.node !== undefined];
  if (targets.filter(Boolean).length !== 1) {
    throw invalidArgument('connect() needs exactly one of `scheduler` (endpoints), `addr` (a standalone node) and `node` (one node, raw calls only)');
  }
  const names = [
    'lockTtlMs',
    'maxRetries',
    'maxBackoffMs',
    'requestTimeoutMs',
    'lockWaitTimeoutMs',
    'maxTxnKeys',
    'maxTxnBytes',
    'maxMessageBytes',
  ] as const;
  for (const name of names)
    checkPositiveInt(name, options[name], name === 'maxRetries' || name === 'maxBackoffMs' || name === 'lockWaitTimeoutMs' ? 0 : 1);
}

function schedulerAddrs(options: ConnectOptions): string[] {
  return typeof options.scheduler === 'string' ? [options.scheduler] : [...(options.scheduler ?? [])];
}

/** The scheduler (or the standalone node standing in for it), or no scheduler at all for `node`. */
async function linkScheduler(options: ConnectOptions, logger: Logger, timeoutMs: number): Promise<SchedulerLink> {
  if (options.node !== undefined) return new DirectNode(options.node);
  // One retry of a lookup after UNAVAILABLE or a deadline (after looking for the leader again), five
  // Tso attempts per timestamp: the request sender and transaction() retry above this, so the
  // scheduler client itself gives up early.
  return SchedulerClient.connect(options.addr !== undefined ? [options.addr] : schedulerAddrs(options), {
    logger,
    timeoutMs,
    maxRetries: 1,
    retryOn: 'transport',
    tsoMaxAttempts: 5,
    backoffBaseMs: 10,
    maxMessageBytes: options.maxMessageBytes,
  });
}

function checkRawError(error: string, what: string): void {
  if (error !== '') throw new ClientError(ClientErrorCode.ServerError, `${what}: ${error}`);
}

function definedOnly<T extends object>(options: T): Partial<T> {
  return Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** Maps with at most `limit` calls in flight, keeping the input order. */
async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  // One iterator shared by all workers: each takes the next item when it is free.
  const pending = items.entries();
  const worker = async (): Promise<void> => {
    for (const [index, item] of pending) out[index] = await fn(item);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}
