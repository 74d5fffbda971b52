/** KvBatchRollback: roll back the transaction on `keys`; aborts if it committed on any of them. */
import { BatchRollbackResponse, type BatchRollbackRequest } from '../../proto/kvrpcpb.js';
import type { Storage } from '../../storage/storage.js';
import { rollbackKey } from '../actions/rollback.js';
import type { Latches } from '../latches.js';
import { catchRegionError, requireKeys, requireTs, runWriteCommand } from './common.js';

export async function kvBatchRollback(storage: Storage, latches: Latches, request: BatchRollbackRequest): Promise<BatchRollbackResponse> {
  requireTs('start_version', request.startVersion);
  const keys = requireKeys('keys', request.keys);
  if (keys.length === 0) return BatchRollbackResponse.fromPartial({});
  return catchRegionError(
    () =>
      runWriteCommand(storage, latches, request.context, keys, request.startVersion, (txn) => {
        for (const key of keys) {
          const error = rollbackKey(txn, key);
          if (error !== undefined) return { result: BatchRollbackResponse.fromPartial({ error }), write: false };
        }
        return { result: BatchRollbackResponse.fromPartial({}), write: true };
      }),
    (regionError) => BatchRollbackResponse.fromPartial({ regionError }),
  );
}
