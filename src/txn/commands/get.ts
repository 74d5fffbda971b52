/** KvGet: the value of one key at `version`, or the lock that blocks the read. No latches. */
import { GetResponse, type GetRequest } from '../../proto/kvrpcpb.js';
import type { Storage } from '../../storage/storage.js';
import { lockedKeyError } from '../errors.js';
import { blocksRead, lockInfo } from '../lock.js';
import { MvccTxn } from '../mvcc-txn.js';
import { catchRegionError, requireKey, requireTs, withReader } from './common.js';

export async function kvGet(storage: Storage, request: GetRequest): Promise<GetResponse> {
  const key = requireKey('key', request.key);
  requireTs('version', request.version);
  return catchRegionError(
    () =>
      withReader(storage, request.context, key, (reader) => {
        const txn = new MvccTxn(reader, request.version);
        const lock = txn.getLock(key);
        if (lock !== undefined && blocksRead(lock, request.version)) {
          return GetResponse.fromPartial({ error: lockedKeyError(lockInfo(lock, key)) });
        }
        const value = txn.getValue(key);
        return value === undefined ? GetResponse.fromPartial({ notFound: true }) : GetResponse.fromPartial({ value });
      }),
    (regionError) => GetResponse.fromPartial({ regionError }),
  );
}
