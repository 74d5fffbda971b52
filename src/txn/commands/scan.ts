/**
 * KvScan: up to `limit` keys from `start_key` at `version`; a blocking lock becomes that pair's error.
 * The response stops early once its pairs add up to `maxResponseBytes` (as RawScan does), so a
 * scan of large values never outgrows the gRPC message limit; clients page on from the last key.
 * A key whose records do not decode gets a Corruption abort as its pair error; the scan goes on.
 */
import { KvPair, ScanResponse, type ScanRequest } from '../../proto/kvrpcpb.js';
import type { Storage } from '../../storage/storage.js';
import { abortKeyError, lockedKeyError, TxnError, TxnErrorCode } from '../errors.js';
import { lockInfo } from '../lock.js';
import { Scanner } from '../scanner.js';
import { catchRegionError, requireTs, TXN_KEY_MAX_BYTES, TXN_SCAN_LIMIT_MAX, withReader } from './common.js';

/** The default KvScan response cap (the server passes limits.max-scan-response-size). */
export const TXN_SCAN_RESPONSE_MAX_BYTES_DEFAULT = 4 * 1024 * 1024;
/** What a pair's error adds to the response, roughly (lock info: primary, key, numbers). */
const PAIR_ERROR_OVERHEAD_BYTES = 64;

export interface KvScanOptions {
  /** The response stops early once its pairs add up to this many bytes (at least one pair is returned). */
  readonly maxResponseBytes?: number;
  /** Told about every damaged record the scan steps over (the server logs them). */
  readonly onCorruption?: (err: TxnError, key: Buffer) => void;
}

export async function kvScan(storage: Storage, request: ScanRequest, options: KvScanOptions = {}): Promise<ScanResponse> {
  requireTs('version', request.version);
  if (request.startKey.length > TXN_KEY_MAX_BYTES) {
    throw new TxnError(TxnErrorCode.KeyTooLarge, `start_key is ${request.startKey.length} bytes, more than ${TXN_KEY_MAX_BYTES}`);
  }
  if (request.limit > TXN_SCAN_LIMIT_MAX) {
    throw new TxnError(TxnErrorCode.ScanLimitTooLarge, `scan limit ${request.limit} is more than ${TXN_SCAN_LIMIT_MAX}`);
  }
  if (request.limit <= 0) return ScanResponse.fromPartial({ pairs: [] });
  const maxResponseBytes = options.maxResponseBytes ?? TXN_SCAN_RESPONSE_MAX_BYTES_DEFAULT;
  return catchRegionError(
    () =>
      withReader(storage, request.context, Buffer.from(request.startKey), (reader) => {
        const pairs: KvPair[] = [];
        const scanner = new Scanner(reader, Buffer.from(request.startKey), request.version);
        let responseBytes = 0;
        try {
          while (pairs.length < request.limit) {
            const item = scanner.next();
            if (item === undefined) break;
            let pair: KvPair;
            if (item.corruption !== undefined) {
              options.onCorruption?.(item.corruption, item.key);
              pair = KvPair.fromPartial({ key: item.key, error: abortKeyError(item.corruption.code, item.corruption.message) });
              responseBytes += item.key.length + item.corruption.message.length + PAIR_ERROR_OVERHEAD_BYTES;
            } else if (item.lock !== undefined) {
              pair = KvPair.fromPartial({ key: item.key, error: lockedKeyError(lockInfo(item.lock, item.key)) });
              responseBytes += 2 * item.key.length + item.lock.primary.length + PAIR_ERROR_OVERHEAD_BYTES;
            } else {
              pair = KvPair.fromPartial({ key: item.key, value: item.value });
              responseBytes += item.key.length + item.value.length;
            }
            // Always return at least one pair so a client paging by last key makes progress.
            if (pairs.length > 0 && responseBytes > maxResponseBytes) break;
            pairs.push(pair);
          }
        } finally {
          scanner.close();
        }
        return ScanResponse.fromPartial({ pairs });
      }),
    (regionError) => ScanResponse.fromPartial({ regionError }),
  );
}
