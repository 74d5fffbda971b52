/**
 * Consistent reads at one timestamp (KvGet / KvScan), resolving the locks they meet.
 *
 * A read that meets a lock with ts <= our ts cannot decide the key's value until the lock's
 * transaction is finished: the lock resolver commits or rolls back finished (or expired)
 * transactions, and for a live one the read backs off (at most until its TTL runs out) and tries
 * again, up to `lockWaitTimeoutMs`, after which it fails with LockResolveTimeout (retryable).
 */
import type { Logger } from 'pino';
import { GetRequest, ScanRequest, type KvPair, type LockInfo } from '../proto/kvrpcpb.js';
import { ClientError, ClientErrorCode } from './errors.js';
import { keyErrorToClientError } from './key-errors.js';
import { firstUserKeyAtOrAfter, routingKey } from './key-space.js';
import type { LockResolver } from './lock-resolver.js';
import { regionContains } from './region-cache.js';
import type { RequestSender } from './request-sender.js';
import { backoffMs, nextKey, sleep } from './util.js';
import { defined } from '../util/assert.js';

/** KvScan's largest limit (TXN_SCAN_LIMIT_MAX on the server). */
export const SCAN_PAGE_MAX = 10_000;

export interface SnapshotOptions {
  readonly logger: Logger;
  readonly lockWaitTimeoutMs: number;
}

export interface Pair {
  readonly key: Buffer;
  readonly value: Buffer;
}

export class Snapshot {
  constructor(
    readonly ts: bigint,
    private readonly sender: RequestSender,
    private readonly resolver: LockResolver,
    private readonly options: SnapshotOptions,
  ) {}

  /** The value of `key` at this snapshot, or undefined. */
  async get(key: Buffer): Promise<Buffer | undefined> {
    const waiter = this.lockWaiter();
    for (;;) {
      const { response } = await this.sender.sendToKey(key, 'kvGet', (context) => GetRequest.fromPartial({ context, key, version: this.ts }));
      const error = response.error;
      if (error === undefined) return response.notFound ? undefined : response.value;
      if (error.locked === undefined) throw keyErrorToClientError(error, this.ts);
      await waiter([error.locked]);
    }
  }

  /**
   * Pairs with start <= key < end (end undefined: unbounded) in key order, paging `pageSize` keys
   * per KvScan, region by region.
   */
  async *scan(start: Buffer, end: Buffer | undefined, pageSize: number): AsyncGenerator<Pair> {
    const limit = Math.max(1, Math.min(pageSize, SCAN_PAGE_MAX));
    let cursor = start;
    for (;;) {
      if (end !== undefined && Buffer.compare(cursor, end) >= 0) return;
      const { response, region } = await this.sender.sendToKey(cursor, 'kvScan', (context) =>
        ScanRequest.fromPartial({ context, startKey: cursor, limit, version: this.ts }),
      );
      const inRegion = response.pairs.filter((p) => regionContains(region, routingKey('txn', p.key)));
      // The server may return fewer pairs than asked (its response byte cap), so only an empty
      // page (or one that crossed the region's end) proves the region is exhausted.
      const reachedRegionEnd = inRegion.length < response.pairs.length || response.pairs.length === 0;
      const wanted = end === undefined ? inRegion : inRegion.filter((p) => Buffer.compare(p.key, end) < 0);
      yield* this.settle(wanted);
      if (wanted.length < inRegion.length) return; // passed `end`
      if (reachedRegionEnd) {
        if (region.endKey.length === 0) return;
        // Region bounds are stored keys; the next region's first user key is found from the end.
        cursor = firstUserKeyAtOrAfter(region.endKey);
      } else {
        cursor = nextKey(defined(inRegion.at(-1), 'last pair of a full page').key);
      }
    }
  }

  /** Yields the page's pairs, resolving the locked ones first and then reading those keys again. */
  private async *settle(pairs: KvPair[]): AsyncGenerator<Pair> {
    const locks: LockInfo[] = [];
    for (const pair of pairs) {
      if (pair.error === undefined) continue;
      if (pair.error.locked === undefined) throw keyErrorToClientError(pair.error, this.ts);
      locks.push(pair.error.locked);
    }
    if (locks.length > 0) await this.resolver.resolveLocks(locks);
    for (const pair of pairs) {
      if (pair.error === undefined) {
        yield { key: pair.key, value: pair.value };
        continue;
      }
      const value = await this.get(pair.key);
      if (value !== undefined) yield { key: pair.key, value };
    }
  }

  /** Resolves the locks one read met; then waits before the read's next try if any is still live. */
  private lockWaiter(): (locks: LockInfo[]) => Promise<void> {
    const deadline = Date.now() + this.options.lockWaitTimeoutMs;
    let attempt = 0;
    return async (locks) => {
      const waitMs = await this.resolver.resolveLocks(locks);
      if (waitMs === 0) return;
      const left = deadline - Date.now();
      if (left <= 0) {
        const lock = defined(locks[0], 'a lock the read met');
        throw new ClientError(
          ClientErrorCode.LockResolveTimeout,
          `key ${lock.key.toString('hex')} stayed locked by transaction ${lock.lockVersion} for ${this.options.lockWaitTimeoutMs} ms`,
          { details: { key: Buffer.from(lock.key), lockTs: lock.lockVersion, readTs: this.ts } },
        );
      }
      // Poll sooner than the TTL: the owner usually commits or rolls back well before it.
      await sleep(Math.min(waitMs, left, 1 + backoffMs(attempt++, 2, 100)));
    };
  }
}
