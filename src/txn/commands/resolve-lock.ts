/**
 * KvResolveLock: commit (commit_version > 0) or roll back (commit_version = 0) every lock of the
 * transaction start_version. Locks are found by scanning the lock CF without latches, then each
 * batch of at most TXN_KEYS_MAX keys is latched, re-read, and written atomically; a key whose lock
 * is no longer this transaction's is left untouched. Batches are independent (each step is
 * idempotent), so a very large transaction is resolved in several atomic writes.
 */
import { ResolveLockResponse, type KeyError, type ResolveLockRequest } from '../../proto/kvrpcpb.js';
import type { Storage, StorageReader } from '../../storage/storage.js';
import { commitKey } from '../actions/commit.js';
import { rollbackKey } from '../actions/rollback.js';
import { decodeLockKey, encodeBytes } from '../codec.js';
import { invalidArgument } from '../errors.js';
import type { Latches } from '../latches.js';
import { decodeLock } from '../lock.js';
import type { MvccTxn } from '../mvcc-txn.js';
import { catchRegionError, requireTs, runWriteCommand, TXN_KEYS_MAX, withReader } from './common.js';

export async function kvResolveLock(
  storage: Storage,
  latches: Latches,
  request: ResolveLockRequest,
  batchKeysMax = TXN_KEYS_MAX,
): Promise<ResolveLockResponse> {
  requireTs('start_version', request.startVersion);
  if (request.commitVersion !== 0n) {
    requireTs('commit_version', request.commitVersion);
    if (request.commitVersion <= request.startVersion) {
      throw invalidArgument(`commit_version ${request.commitVersion} must be 0 or greater than start_version ${request.startVersion}`);
    }
  }
  return catchRegionError(
    async () => {
      let after: Buffer | undefined;
      for (;;) {
        // The request names no key: without a region id it resolves the store's first region.
        const keys = await withReader(storage, request.context, undefined, (reader) => locksOfTxn(reader, request.startVersion, after, batchKeysMax));
        if (keys.length === 0) return ResolveLockResponse.fromPartial({});
        const error = await runWriteCommand(storage, latches, request.context, keys, request.startVersion, (txn) =>
          resolveKeys(txn, keys, request.commitVersion),
        );
        if (error !== undefined) return ResolveLockResponse.fromPartial({ error });
        if (keys.length < batchKeysMax) return ResolveLockResponse.fromPartial({});
        after = keys[keys.length - 1];
      }
    },
    (regionError) => ResolveLockResponse.fromPartial({ regionError }),
  );
}

function resolveKeys(txn: MvccTxn, keys: readonly Buffer[], commitVersion: bigint) {
  for (const key of keys) {
    const lock = txn.getLock(key);
    if (lock === undefined || lock.ts !== txn.startTs) continue;
    const error: KeyError | undefined = commitVersion === 0n ? rollbackKey(txn, key) : commitKey(txn, key, commitVersion);
    if (error !== undefined) return { result: error, write: false };
  }
  return { result: undefined, write: true };
}

/** Keys (ascending, strictly after `after`) whose lock belongs to transaction `startTs`; at most `max`. */
function locksOfTxn(reader: StorageReader, startTs: bigint, after: Buffer | undefined, max: number): Buffer[] {
  const keys: Buffer[] = [];
  const iterator = reader.iterCF('lock');
  try {
    // Lock keys are encoded user keys, in user-key order.
    const encodedAfter = after === undefined ? undefined : encodeBytes(after);
    if (encodedAfter !== undefined) iterator.seek(encodedAfter);
    for (; iterator.valid() && keys.length < max; iterator.next()) {
      const lockKey = iterator.key();
      if (encodedAfter !== undefined && Buffer.compare(lockKey, encodedAfter) <= 0) continue;
      if (decodeLock(iterator.value()).ts === startTs) keys.push(decodeLockKey(lockKey));
    }
  } finally {
    iterator.close();
  }
  return keys;
}
