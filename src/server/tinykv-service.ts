/** TinyKv gRPC handlers shared by the standalone node and cluster stores. */
import type { Logger } from 'pino';
import type { NodeConfig } from '../config/config.js';
import { TinyKvService } from '../proto/tinykvpb.js';
import type {
  BatchRollbackRequest,
  CheckTxnStatusRequest,
  CommitRequest,
  GetRequest,
  PrewriteRequest,
  RawDeleteRequest,
  RawGetRequest,
  RawPutRequest,
  RawScanRequest,
  ResolveLockRequest,
  ScanRequest,
} from '../proto/kvrpcpb.js';
import type { Storage } from '../storage/storage.js';
import { createTxnCommands, isTxnError, Latches, TxnErrorCode } from '../txn/index.js';
import { CorruptionLog } from './corruption-log.js';
import { CallTracker, unary, unimplementedService } from '../rpc/grpc-service.js';
import { RawHandlers } from './raw-handlers.js';
import { RequestLog } from '../log/request-log.js';

const UNAVAILABLE_BECAUSE: Record<string, string> = {
  Raft: 'a standalone node has no Raft peers; run it as a cluster store with --scheduler',
  Snapshot: 'a standalone node has no Raft peers; run it as a cluster store with --scheduler',
  BatchRaft: 'a standalone node has no Raft peers; run it as a cluster store with --scheduler',
  Coprocessor: 'SQL push-down is out of scope',
};

/** The TinyKv service over a Storage: Raw and Kv handlers; Raft, Snapshot and Coprocessor answer UNIMPLEMENTED unless overridden. */
export function tinyKvImplementation(storage: Storage, config: NodeConfig, tracker: CallTracker, logger: Logger) {
  const raw = new RawHandlers(storage, config.limits, { allowRawTxnCfWrites: config.allowRawTxnCfWrites });
  const corruptionLog = new CorruptionLog(logger);
  const requests = new RequestLog(logger, config.slowLogThresholdMs);
  const txn = createTxnCommands(storage, new Latches(), {
    maxScanResponseBytes: config.limits.maxScanResponseBytes,
    onCorruption: (err, key) => corruptionLog.report(err, 'KvScan', key),
  });
  /** A Kv* command that meets a damaged record fails with DATA_LOSS; say which key in the log. */
  const logged =
    <Req, Res>(method: string, run: (request: Req) => Promise<Res>) =>
    async (request: Req): Promise<Res> => {
      try {
        return await run(request);
      } catch (err) {
        if (isTxnError(err) && err.code === TxnErrorCode.Corruption) corruptionLog.report(err, method);
        throw err;
      }
    };
  return {
    ...unimplementedService(TinyKvService, (method) => UNAVAILABLE_BECAUSE[method.charAt(0).toUpperCase() + method.slice(1)] ?? 'not planned'),
    rawGet: unary('RawGet', (r: RawGetRequest) => raw.rawGet(r), tracker, requests),
    rawPut: unary('RawPut', (r: RawPutRequest) => raw.rawPut(r), tracker, requests),
    rawDelete: unary('RawDelete', (r: RawDeleteRequest) => raw.rawDelete(r), tracker, requests),
    rawScan: unary('RawScan', (r: RawScanRequest) => raw.rawScan(r), tracker, requests),
    kvGet: unary(
      'KvGet',
      logged('KvGet', (r: GetRequest) => txn.kvGet(r)),
      tracker,
      requests,
    ),
    kvScan: unary(
      'KvScan',
      logged('KvScan', (r: ScanRequest) => txn.kvScan(r)),
      tracker,
      requests,
    ),
    kvPrewrite: unary(
      'KvPrewrite',
      logged('KvPrewrite', (r: PrewriteRequest) => txn.kvPrewrite(r)),
      tracker,
      requests,
    ),
    kvCommit: unary(
      'KvCommit',
      logged('KvCommit', (r: CommitRequest) => txn.kvCommit(r)),
      tracker,
      requests,
    ),
    kvCheckTxnStatus: unary(
      'KvCheckTxnStatus',
      logged('KvCheckTxnStatus', (r: CheckTxnStatusRequest) => txn.kvCheckTxnStatus(r)),
      tracker,
      requests,
    ),
    kvBatchRollback: unary(
      'KvBatchRollback',
      logged('KvBatchRollback', (r: BatchRollbackRequest) => txn.kvBatchRollback(r)),
      tracker,
      requests,
    ),
    kvResolveLock: unary(
      'KvResolveLock',
      logged('KvResolveLock', (r: ResolveLockRequest) => txn.kvResolveLock(r)),
      tracker,
      requests,
    ),
  };
}
