/** KvScan: up to `limit` keys from `start_key` at `version`; a blocking lock becomes that pair's error. */
import { KvPair, ScanResponse, type ScanRequest } from '../../proto/kvrpcpb.js';
import type { Storage } from '../../storage/storage.js';
import { TxnError, TxnErrorCode, lockedKeyError } from '../errors.js';
import { lockInfo } from '../lock.js';
import { Scanner } from '../scanner.js';
import { catchRegionError, requireTs, TXN_KEY_MAX_BYTES, TXN_SCAN_LIMIT_MAX, withReader } from './common.js';

export async function kvScan(storage: Storage, request: ScanRequest): Promise<ScanResponse> {
  requireTs('version', request.version);
  if (request.startKey.length > TXN_KEY_MAX_BYTES) {
    throw new TxnError(TxnErrorCode.KeyTooLarge, `start_key is ${request.startKey.length} bytes, more than ${TXN_KEY_MAX_BYTES}`);
  }
  if (request.limit > TXN_SCAN_LIMIT_MAX) {
    throw new TxnError(TxnErrorCode.ScanLimitTooLarge, `scan limit ${request.limit} is more than ${TXN_SCAN_LIMIT_MAX}`);
  }
  if (request.limit <= 0) return ScanResponse.fromPartial({ pairs: [] });
  return catchRegionError(
    () =>
      withReader(storage, request.context, (reader) => {
        const pairs: KvPair[] = [];
        const scanner = new Scanner(reader, Buffer.from(request.startKey), request.version);
        try {
          while (pairs.length < request.limit) {
            const item = scanner.next();
            if (item === undefined) break;
            pairs.push(
              item.lock !== undefined
                ? KvPair.fromPartial({ key: item.key, error: lockedKeyError(lockInfo(item.lock, item.key)) })
                : KvPair.fromPartial({ key: item.key, value: item.value }),
            );
          }
        } finally {
          scanner.close();
        }
        return ScanResponse.fromPartial({ pairs });
      }),
    (regionError) => ScanResponse.fromPartial({ regionError }),
  );
}
