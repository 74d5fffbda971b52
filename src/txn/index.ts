/**
 * The server side of Percolator transactions: the seven Kv* commands as async functions over the
 * `Storage` interface. Write commands take per-key latches and write each command's modifies as
 * one atomic batch; reads use a snapshot and take no latches.
 *
 * Errors: per-key outcomes are KeyErrors in the response; malformed requests throw `TxnError`
 * (the server edge, src/rpc/error-status.ts, maps its code to a gRPC status); a `RegionError` the
 * storage throws becomes the response's region_error.
 */
import type {
  BatchRollbackRequest,
  BatchRollbackResponse,
  CheckTxnStatusRequest,
  CheckTxnStatusResponse,
  CommitRequest,
  CommitResponse,
  GetRequest,
  GetResponse,
  PrewriteRequest,
  PrewriteResponse,
  ResolveLockRequest,
  ResolveLockResponse,
  ScanRequest,
  ScanResponse,
} from '../proto/kvrpcpb.js';
import type { Storage } from '../storage/storage.js';
import { kvBatchRollback } from './commands/batch-rollback.js';
import { kvCheckTxnStatus } from './commands/check-txn-status.js';
import { kvCommit } from './commands/commit.js';
import { kvGet } from './commands/get.js';
import { kvPrewrite } from './commands/prewrite.js';
import { kvResolveLock } from './commands/resolve-lock.js';
import { kvScan, type KvScanOptions } from './commands/scan.js';
import { Latches } from './latches.js';

export interface TxnCommands {
  readonly latches: Latches;
  kvGet(request: GetRequest): Promise<GetResponse>;
  kvPrewrite(request: PrewriteRequest): Promise<PrewriteResponse>;
  kvCommit(request: CommitRequest): Promise<CommitResponse>;
  kvScan(request: ScanRequest): Promise<ScanResponse>;
  kvCheckTxnStatus(request: CheckTxnStatusRequest): Promise<CheckTxnStatusResponse>;
  kvBatchRollback(request: BatchRollbackRequest): Promise<BatchRollbackResponse>;
  kvResolveLock(request: ResolveLockRequest): Promise<ResolveLockResponse>;
}

export interface TxnCommandOptions {
  /** KvScan stops early once its pairs add up to this many bytes (clients page on by last key). */
  readonly maxScanResponseBytes?: number;
  /** Told about each damaged record a KvScan steps over (commands that meet one throw Corruption). */
  readonly onCorruption?: KvScanOptions['onCorruption'];
}

/** One latch table per storage: share `latches` between every caller that writes to `storage`. */
export function createTxnCommands(storage: Storage, latches: Latches = new Latches(), options: TxnCommandOptions = {}): TxnCommands {
  const scanOptions: KvScanOptions = { maxResponseBytes: options.maxScanResponseBytes, onCorruption: options.onCorruption };
  return {
    latches,
    kvGet: (request) => kvGet(storage, request),
    kvPrewrite: (request) => kvPrewrite(storage, latches, request),
    kvCommit: (request) => kvCommit(storage, latches, request),
    kvScan: (request) => kvScan(storage, request, scanOptions),
    kvCheckTxnStatus: (request) => kvCheckTxnStatus(storage, latches, request),
    kvBatchRollback: (request) => kvBatchRollback(storage, latches, request),
    kvResolveLock: (request) => kvResolveLock(storage, latches, request),
  };
}

export { kvBatchRollback, kvCheckTxnStatus, kvCommit, kvGet, kvPrewrite, kvResolveLock, kvScan };
export { Latches, requireModifiesLatched, LATCHES_MAX_WAITING_COMMANDS_DEFAULT } from './latches.js';
export type { LatchGuard, LatchValidation, LatchesOptions } from './latches.js';
export { TxnError, TxnErrorCode, KeyErrorCode, isTxnError } from './errors.js';
export { TXN_SCAN_RESPONSE_MAX_BYTES_DEFAULT, type KvScanOptions } from './commands/scan.js';
export type { TxnErrorCodeValue } from './errors.js';
export {
  TXN_KEYS_MAX,
  TXN_KEY_MAX_BYTES,
  TXN_VALUE_MAX_BYTES,
  TXN_PREWRITE_MAX_BYTES,
  TXN_SCAN_LIMIT_MAX,
  regionErrorOf,
} from './commands/common.js';
export { TS_MAX, composeTs, physicalTime, encodeBytes, decodeBytes, encodeKey, decodeUserKey, decodeTimestamp } from './codec.js';
export { encodeLock, decodeLock, lockInfo, isLockExpired, type Lock } from './lock.js';
export { encodeWrite, decodeWrite, WriteKind, type Write } from './write.js';
export { MvccTxn, type WriteAt } from './mvcc-txn.js';
export { Scanner, type ScanItem } from './scanner.js';
