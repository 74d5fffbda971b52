/** KvCommit: turn the transaction's locks on `keys` into commit records at commit_version. */
import { CommitResponse, type CommitRequest } from '../../proto/kvrpcpb.js';
import type { Storage } from '../../storage/storage.js';
import { commitKey } from '../actions/commit.js';
import { invalidArgument } from '../errors.js';
import type { Latches } from '../latches.js';
import { catchRegionError, requireKeys, requireTs, runWriteCommand } from './common.js';

export async function kvCommit(storage: Storage, latches: Latches, request: CommitRequest): Promise<CommitResponse> {
  requireTs('start_version', request.startVersion);
  requireTs('commit_version', request.commitVersion);
  if (request.commitVersion <= request.startVersion) {
    throw invalidArgument(`commit_version ${request.commitVersion} must be greater than start_version ${request.startVersion}`);
  }
  const keys = requireKeys('keys', request.keys);
  if (keys.length === 0) return CommitResponse.fromPartial({});
  return catchRegionError(
    () =>
      runWriteCommand(storage, latches, request.context, keys, request.startVersion, (txn) => {
        for (const key of keys) {
          const error = commitKey(txn, key, request.commitVersion);
          // The first failing key fails the request; nothing is written.
          if (error !== undefined) return { result: CommitResponse.fromPartial({ error }), write: false };
        }
        return { result: CommitResponse.fromPartial({}), write: true };
      }),
    (regionError) => CommitResponse.fromPartial({ regionError }),
  );
}
