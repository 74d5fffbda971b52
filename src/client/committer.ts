/**
 * Optimistic two-phase commit (Percolator, as TinySQL's twoPhaseCommitter):
 *
 * 1. Prewrite: the primary's region batch first, then every other batch in parallel. Locks of
 *    finished or expired transactions met on the way are resolved and the batch is retried; a
 *    newer commit or a live lock fails the transaction with WriteConflict (retryable), after
 *    rolling back what was prewritten (BatchRollback).
 * 2. commit_ts from the TSO.
 * 3. Commit the primary key. Once that succeeds the transaction is committed; if it fails with a
 *    rollback the transaction is rolled back; if its outcome is unknown (transport failure),
 *    CommitUndetermined.
 * 4. Commit the secondaries in parallel. Failures are only logged: readers that meet a leftover
 *    lock find the primary committed and commit the key themselves.
 */
import type { Logger } from 'pino';
import { BatchRollbackRequest, CommitRequest, Mutation, Op, PrewriteRequest, type KeyError, type LockInfo } from '../proto/kvrpcpb.js';
import { ClientError, ClientErrorCode } from './errors.js';
import { keyErrorToClientError } from './key-errors.js';
import type { LockResolver } from './lock-resolver.js';
import type { TimestampSource } from './scheduler-client.js';
import type { BatchLimits, RequestSender } from './request-sender.js';
import { keyId } from './util.js';
import { defined } from '../util/assert.js';

/** One buffered write: a value to put, or undefined to delete. */
export interface BufferedWrite {
  readonly key: Buffer;
  readonly value: Buffer | undefined;
}

/**
 * TEST SEAM (internal): hooks at the two points where a crashed client leaves locks behind. A hook
 * that throws aborts the commit right there *without any cleanup*, as if the process died.
 */
export interface CommitFailpoints {
  /** After every key is prewritten, before commit_ts is fetched. */
  readonly afterPrewrite?: (info: { startTs: bigint; primary: Buffer; keys: Buffer[] }) => void | Promise<void>;
  /** After the primary is committed, before any secondary is. */
  readonly afterPrimaryCommit?: (info: { startTs: bigint; commitTs: bigint; primary: Buffer; secondaries: Buffer[] }) => void | Promise<void>;
}

export interface CommitDeps {
  readonly sender: RequestSender;
  readonly resolver: LockResolver;
  readonly tso: TimestampSource;
  readonly logger: Logger;
}

export interface CommitParams {
  readonly startTs: bigint;
  /** Sorted by key, no duplicates, at least one. */
  readonly writes: readonly BufferedWrite[];
  readonly lockTtlMs: number;
  readonly failpoints?: CommitFailpoints;
}

/** Prewrite/commit batch bounds (the server allows 10,000 keys and 64 MiB; gRPC messages default to 8 MiB). */
const BATCH_MAX_KEYS = 2048;
const BATCH_MAX_BYTES = 2 * 1024 * 1024;
/** How often one batch is re-sent after resolving the locks it met. */
const PREWRITE_LOCK_RETRIES = 4;

/** TinySQL's TTL for big transactions: 6000 ms * sqrt(MiB), from 16 KiB on, at most 120 s. */
export function lockTtlFor(baseTtlMs: number, bytes: number, elapsedMs: number): bigint {
  let ttl = baseTtlMs;
  if (bytes >= 16 * 1024) ttl = Math.max(ttl, Math.min(120_000, Math.floor(6000 * Math.sqrt(bytes / (1024 * 1024)))));
  return BigInt(Math.ceil(ttl + Math.max(0, elapsedMs)));
}

/** Runs 2PC; resolves to commit_ts once the primary is committed. */
export async function twoPhaseCommit(deps: CommitDeps, params: CommitParams, elapsedMs: () => number): Promise<bigint> {
  const committer = new Committer(deps, params);
  return committer.run(elapsedMs);
}

class Committer {
  private readonly byKey = new Map<string, BufferedWrite>();
  private readonly keys: Buffer[];
  private readonly primary: Buffer;
  private readonly limits: BatchLimits;
  private lockTtl = 0n;

  constructor(
    private readonly deps: CommitDeps,
    private readonly params: CommitParams,
  ) {
    for (const write of params.writes) this.byKey.set(keyId(write.key), write);
    this.keys = params.writes.map((w) => w.key);
    this.primary = defined(this.keys[0], 'primary key (a commit has at least one write)');
    this.limits = {
      maxKeys: BATCH_MAX_KEYS,
      maxBytes: BATCH_MAX_BYTES,
      sizeOf: (key) => key.length + (this.byKey.get(keyId(key))?.value?.length ?? 0) + 16,
    };
  }

  async run(elapsedMs: () => number): Promise<bigint> {
    const { startTs, failpoints } = this.params;
    const bytes = this.params.writes.reduce((sum, w) => sum + w.key.length + (w.value?.length ?? 0), 0);
    this.lockTtl = lockTtlFor(this.params.lockTtlMs, bytes, elapsedMs());
    try {
      await this.prewriteAll();
    } catch (err) {
      await this.rollback(this.keys, 'prewrite failed');
      throw err;
    }
    await this.failpoint(() => failpoints?.afterPrewrite?.({ startTs, primary: this.primary, keys: this.keys }));

    let commitTs: bigint;
    try {
      commitTs = await this.deps.tso.getTimestamp();
    } catch (err) {
      await this.rollback(this.keys, 'no commit timestamp');
      throw err;
    }
    await this.commitPrimary(commitTs);
    const secondaries = this.keys.slice(1);
    await this.failpoint(() => failpoints?.afterPrimaryCommit?.({ startTs, commitTs, primary: this.primary, secondaries }));
    await this.commitSecondaries(secondaries, commitTs);
    return commitTs;
  }

  /** Failpoints run outside every cleanup path, so a throwing one leaves the locks as a crash would. */
  private async failpoint(hook: () => void | Promise<void>): Promise<void> {
    await hook();
  }

  // ---- prewrite ----

  private async prewriteAll(): Promise<void> {
    const groups = await this.deps.sender.cache.groupKeys(this.keys, 'txn');
    // groupKeys keeps the first key's group first, and the primary is the first key.
    const [primaryGroup, ...others] = groups;
    await this.prewrite(defined(primaryGroup, 'primary key group').keys);
    await this.prewrite(others.flatMap((g) => g.keys));
  }

  private async prewrite(keys: Buffer[]): Promise<void> {
    const { startTs } = this.params;
    let pending = keys;
    for (let round = 0; pending.length > 0; round++) {
      const sent = await this.deps.sender.sendToKeys(
        pending,
        'kvPrewrite',
        (context, batch) =>
          PrewriteRequest.fromPartial({
            context,
            mutations: batch.map((key) => this.mutation(key)),
            primaryLock: this.primary,
            startVersion: startTs,
            lockTtl: this.lockTtl,
          }),
        this.limits,
      );
      const locks: LockInfo[] = [];
      const retry: Buffer[] = [];
      for (const { keys: batch, response } of sent) {
        if (response.errors.length === 0) continue;
        const fatal = response.errors.find((e: KeyError) => e.locked === undefined);
        if (fatal !== undefined) throw keyErrorToClientError(fatal, startTs);
        for (const e of response.errors) if (e.locked !== undefined) locks.push(e.locked); // all are, see `fatal`
        retry.push(...batch); // a prewrite with any error wrote nothing
      }
      if (locks.length === 0) return;
      const waitMs = await this.deps.resolver.resolveLocks(locks);
      if (waitMs > 0 || round >= PREWRITE_LOCK_RETRIES) {
        // A live transaction holds one of our keys: give up now rather than wait (which could
        // deadlock with a transaction waiting for us); the caller retries the whole transaction.
        const live = defined(locks[0], 'a lock met');
        throw keyErrorToClientError({ locked: live, retryable: '', abort: '', conflict: undefined }, startTs);
      }
      pending = retry;
    }
  }

  private mutation(key: Buffer): Mutation {
    const write = defined(this.byKey.get(keyId(key)), 'write of a key being committed');
    return write.value === undefined ? Mutation.fromPartial({ op: Op.Del, key }) : Mutation.fromPartial({ op: Op.Put, key, value: write.value });
  }

  // ---- commit ----

  private async commitPrimary(commitTs: bigint): Promise<void> {
    const { startTs } = this.params;
    let sent;
    try {
      sent = await this.deps.sender.sendToKeys([this.primary], 'kvCommit', (context, keys) =>
        CommitRequest.fromPartial({ context, startVersion: startTs, keys, commitVersion: commitTs }),
      );
    } catch (err) {
      throw new ClientError(
        ClientErrorCode.CommitUndetermined,
        `transaction ${startTs}: the primary's commit failed and its outcome is unknown: ${err instanceof Error ? err.message : String(err)}`,
        { details: { startTs, commitTs }, cause: err },
      );
    }
    const error = sent.find((s) => s.response.error !== undefined)?.response.error;
    if (error === undefined) return;
    // Not committed: the primary lock is gone without a commit record (rolled back by a reader) or
    // the server refused. Clean up the secondaries' locks now rather than leave them to readers.
    const failure = keyErrorToClientError(error, startTs);
    await this.rollback(this.keys.slice(1), 'primary commit refused');
    throw failure.code === ClientErrorCode.WriteConflict
      ? new ClientError(ClientErrorCode.TxnRolledBack, failure.message, { details: failure.details, serverCode: failure.serverCode })
      : failure;
  }

  private async commitSecondaries(keys: Buffer[], commitTs: bigint): Promise<void> {
    if (keys.length === 0) return;
    const { startTs } = this.params;
    try {
      const sent = await this.deps.sender.sendToKeys(
        keys,
        'kvCommit',
        (context, batch) => CommitRequest.fromPartial({ context, startVersion: startTs, keys: batch, commitVersion: commitTs }),
        this.limits,
      );
      for (const { response } of sent) {
        if (response.error !== undefined) {
          this.deps.logger.warn({ startTs, commitTs, error: response.error }, 'secondary commit refused; readers will resolve it');
        }
      }
    } catch (err) {
      this.deps.logger.warn({ err, startTs, commitTs }, 'secondary commit failed; readers will resolve it');
    }
  }

  /** Best effort: failures are logged, leftover locks expire and are rolled back by readers. */
  private async rollback(keys: Buffer[], why: string): Promise<void> {
    if (keys.length === 0) return;
    const { startTs } = this.params;
    try {
      const sent = await this.deps.sender.sendToKeys(
        keys,
        'kvBatchRollback',
        (context, batch) => BatchRollbackRequest.fromPartial({ context, startVersion: startTs, keys: batch }),
        this.limits,
      );
      for (const { response } of sent) {
        if (response.error !== undefined) this.deps.logger.warn({ startTs, why, error: response.error }, 'rollback refused');
      }
    } catch (err) {
      this.deps.logger.warn({ err, startTs, why }, 'rollback failed; locks will expire');
    }
  }
}
