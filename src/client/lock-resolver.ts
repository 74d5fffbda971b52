/**
 * Resolves locks that block a read or a prewrite (Percolator's "roll forward or roll back").
 *
 * For each lock: CheckTxnStatus on the lock's primary with a fresh timestamp. The server answers
 * committed (commit_version > 0), rolled back (both 0; it rolls back an expired primary itself), or
 * still locked (lock_ttl > 0). A finished transaction's locks in the lock's region are then
 * resolved with ResolveLock (commit at its commit_version, or roll back with 0). A live one is left
 * alone and the caller backs off until (at most) its TTL runs out.
 *
 * Final statuses never change, so they are cached (bounded LRU); concurrent checks of the same
 * transaction share one request.
 */
import type { Logger } from 'pino';
import { CheckTxnStatusRequest, ResolveLockRequest, type LockInfo } from '../proto/kvrpcpb.js';
import { ClientError, ClientErrorCode } from './errors.js';
import { keyErrorToClientError } from './key-errors.js';
import { physicalMs, type TimestampSource } from './scheduler-client.js';
import type { RequestSender } from './request-sender.js';

export type TxnStatus =
  | { readonly state: 'committed'; readonly commitTs: bigint }
  | { readonly state: 'rolledBack' }
  /** Still locked; `msLeft` until its primary lock expires (at least 1). */
  | { readonly state: 'locked'; readonly msLeft: number };

export interface LockResolverOptions {
  readonly logger: Logger;
  /** How many finished transactions' statuses to remember. */
  readonly cacheSize?: number;
}

export class LockResolver {
  private readonly resolved = new Map<bigint, TxnStatus>();
  private readonly checking = new Map<bigint, Promise<TxnStatus>>();
  private readonly cacheSize: number;
  /** Counters for tests and diagnostics. */
  readonly stats = { checks: 0, committed: 0, rolledBack: 0, resolveRequests: 0 };

  constructor(
    private readonly sender: RequestSender,
    private readonly tso: TimestampSource,
    private readonly options: LockResolverOptions,
  ) {
    this.cacheSize = options.cacheSize ?? 2048;
  }

  /**
   * Resolves what can be resolved among `locks`. Resolves to 0 when every lock's transaction is
   * finished (and its locks in those regions are cleaned up), else to the ms until the earliest
   * live lock expires.
   */
  async resolveLocks(locks: readonly LockInfo[]): Promise<number> {
    let waitMs = 0;
    const done = new Set<string>();
    for (const lock of locks) {
      const status = await this.txnStatus(lock.primaryLock, lock.lockVersion);
      if (status.state === 'locked') {
        waitMs = waitMs === 0 ? status.msLeft : Math.min(waitMs, status.msLeft);
        continue;
      }
      const region = await this.sender.cache.locate(lock.key, 'txn');
      const id = `${lock.lockVersion}@${region.id}`;
      if (done.has(id)) continue;
      done.add(id);
      await this.resolveLock(lock, status.state === 'committed' ? status.commitTs : 0n);
    }
    return waitMs;
  }

  /** The status of transaction `lockTs` as recorded on its primary key (cached once final). */
  txnStatus(primary: Buffer, lockTs: bigint): Promise<TxnStatus> {
    const cached = this.resolved.get(lockTs);
    if (cached !== undefined) {
      this.resolved.delete(lockTs); // refresh its LRU position
      this.resolved.set(lockTs, cached);
      return Promise.resolve(cached);
    }
    let check = this.checking.get(lockTs);
    if (check === undefined) {
      check = this.checkTxnStatus(primary, lockTs).finally(() => this.checking.delete(lockTs));
      this.checking.set(lockTs, check);
    }
    return check;
  }

  private async checkTxnStatus(primary: Buffer, lockTs: bigint): Promise<TxnStatus> {
    this.stats.checks++;
    const currentTs = await this.tso.getTimestamp();
    const { response } = await this.sender.sendToKey(primary, 'kvCheckTxnStatus', (context) =>
      CheckTxnStatusRequest.fromPartial({ context, primaryKey: primary, lockTs, currentTs }),
    );
    let status: TxnStatus;
    if (response.lockTtl > 0n) {
      const expiresAt = physicalMs(lockTs) + response.lockTtl;
      status = { state: 'locked', msLeft: Math.max(1, Number(expiresAt - physicalMs(currentTs))) };
      return status;
    }
    status = response.commitVersion > 0n ? { state: 'committed', commitTs: response.commitVersion } : { state: 'rolledBack' };
    this.remember(lockTs, status);
    return status;
  }

  private async resolveLock(lock: LockInfo, commitTs: bigint): Promise<void> {
    this.stats.resolveRequests++;
    if (commitTs > 0n) this.stats.committed++;
    else this.stats.rolledBack++;
    this.options.logger.debug({ lockTs: lock.lockVersion, commitTs, key: lock.key.toString('hex') }, 'resolving lock');
    const { response } = await this.sender.sendToKey(lock.key, 'kvResolveLock', (context) =>
      ResolveLockRequest.fromPartial({ context, startVersion: lock.lockVersion, commitVersion: commitTs }),
    );
    if (response.error !== undefined) {
      const err = keyErrorToClientError(response.error, lock.lockVersion);
      throw new ClientError(ClientErrorCode.ServerError, `ResolveLock of transaction ${lock.lockVersion} failed: ${err.message}`, {
        details: { lockTs: lock.lockVersion, commitTs },
        serverCode: err.serverCode,
        cause: err,
      });
    }
  }

  private remember(lockTs: bigint, status: TxnStatus): void {
    this.resolved.set(lockTs, status);
    if (this.resolved.size > this.cacheSize) {
      const oldest = this.resolved.keys().next().value;
      if (oldest !== undefined) this.resolved.delete(oldest);
    }
  }
}
