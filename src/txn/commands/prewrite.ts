/** KvPrewrite: lock every mutated key and stage its value; all keys or none. */
import { Op, PrewriteResponse, type KeyError, type Mutation, type PrewriteRequest } from '../../proto/kvrpcpb.js';
import type { Storage } from '../../storage/storage.js';
import { prewriteKey, type PrewriteMutation } from '../actions/prewrite.js';
import { TxnError, TxnErrorCode } from '../errors.js';
import type { Latches } from '../latches.js';
import { WriteKind, writeKindFromOp } from '../write.js';
import { catchRegionError, requireKey, requireKeyCount, requireTs, runWriteCommand, TXN_PREWRITE_MAX_BYTES, TXN_VALUE_MAX_BYTES } from './common.js';

export async function kvPrewrite(storage: Storage, latches: Latches, request: PrewriteRequest): Promise<PrewriteResponse> {
  requireTs('start_version', request.startVersion);
  const mutations = checkedMutations(request.mutations);
  if (mutations.length === 0) return PrewriteResponse.fromPartial({ errors: [] });
  const primary = requireKey('primary_lock', request.primaryLock);
  const params = { primary, lockTtl: request.lockTtl };
  const keys = mutations.map((mutation) => mutation.key);
  return catchRegionError(
    () =>
      runWriteCommand(storage, latches, request.context, keys, request.startVersion, (txn) => {
        const errors: KeyError[] = [];
        for (const mutation of mutations) {
          const error = prewriteKey(txn, mutation, params);
          if (error !== undefined) errors.push(error);
        }
        // Any error: nothing is written.
        return { result: PrewriteResponse.fromPartial({ errors }), write: errors.length === 0 };
      }),
    (regionError) => PrewriteResponse.fromPartial({ regionError }),
  );
}

/** Validates the mutations; for a key mutated twice the last mutation wins (as TinyKV). */
function checkedMutations(mutations: readonly Mutation[]): PrewriteMutation[] {
  requireKeyCount('mutations', mutations.length);
  const byKey = new Map<string, PrewriteMutation>();
  let totalBytes = 0;
  for (const mutation of mutations) {
    const key = requireKey('mutation key', mutation.key);
    const kind = writeKindFromOp(mutation.op) as WriteKind.Put | WriteKind.Delete;
    const value = mutation.op === Op.Put ? mutation.value : Buffer.alloc(0);
    if (value.length > TXN_VALUE_MAX_BYTES) {
      throw new TxnError(TxnErrorCode.ValueTooLarge, `value of ${value.length} bytes is more than ${TXN_VALUE_MAX_BYTES}`);
    }
    totalBytes += key.length + value.length;
    if (totalBytes > TXN_PREWRITE_MAX_BYTES) {
      throw new TxnError(TxnErrorCode.ValueTooLarge, `prewrite carries more than ${TXN_PREWRITE_MAX_BYTES} bytes`);
    }
    byKey.set(key.toString('latin1'), { key, kind, value: Buffer.from(value) });
  }
  return [...byKey.values()];
}
