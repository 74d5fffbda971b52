/** KvCheckTxnStatus: report (and, if abandoned, roll back) a transaction through its primary key. */
import { CheckTxnStatusResponse, type CheckTxnStatusRequest } from '../../proto/kvrpcpb.js';
import type { Storage } from '../../storage/storage.js';
import { checkTxnStatusOfPrimary } from '../actions/check-txn-status.js';
import type { Latches } from '../latches.js';
import { Action } from '../../proto/kvrpcpb.js';
import { catchRegionError, requireKey, requireTs, runWriteCommand } from './common.js';

export async function kvCheckTxnStatus(storage: Storage, latches: Latches, request: CheckTxnStatusRequest): Promise<CheckTxnStatusResponse> {
  const primary = requireKey('primary_key', request.primaryKey);
  requireTs('lock_ts', request.lockTs);
  requireTs('current_ts', request.currentTs);
  return catchRegionError(
    () =>
      runWriteCommand(storage, latches, request.context, [primary], request.lockTs, (txn) => {
        const status = checkTxnStatusOfPrimary(txn, primary, request.currentTs);
        return { result: CheckTxnStatusResponse.fromPartial(status), write: status.action !== Action.NoAction };
      }),
    (regionError) => CheckTxnStatusResponse.fromPartial({ regionError }),
  );
}
