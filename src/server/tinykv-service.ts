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
import type { StoreMetrics } from '../metrics/store-metrics.js';
import { TimedLatches, txnResultOf } from './txn-metrics.js';

const UNAVAILABLE_BECAUSE: Record<string, string> = {
  Raft: 'a standalone node has no Raft peers; run it as a cluster store with --scheduler',
  Snapshot: 'a standalone node has no Raft peers; run it as a cluster store with --scheduler',
  BatchRaft: 'a standalone node has no Raft peers; run it as a cluster store with --scheduler',
  Coprocessor: 'SQL push-down is out of scope',
};

/**
 * The TinyKv service over a Storage: Raw and Kv handlers; Raft, Snapshot and Coprocessor answer
 * UNIMPLEMENTED unless overridden. With `metrics`, every call and transaction command is counted.
 */
export function tinyKvImplementation(storage: Storage, config: NodeConfig, tracker: CallTracker, logger: Logger, metrics?: StoreMetrics) {
  const raw = new RawHandlers(storage, config.limits, { allowRawTxnCfWrites: config.allowRawTxnCfWrites });
  const corruptionLog = new CorruptionLog(logger);
  const requests = new RequestLog(logger, config.slowLogThresholdMs);
  const txn = createTxnCommands(storage, metrics ? new TimedLatches(metrics.latchWaitSeconds) : new Latches(), {
    maxScanResponseBytes: config.limits.maxScanResponseBytes,
    onCorruption: (err, key) => corruptionLog.report(err, 'KvScan', key),
  });
  const call = <Req, Res>(method: string, handler: (request: Req) => Promise<Res>) =>
    unary(method, handler, tracker, requests, metrics?.grpcMethod(method));
  /**
   * A Kv* command: one that meets a damaged record fails with DATA_LOSS (the log says which key);
   * its result is counted by command.
   */
  const kv = <Req, Res extends TxnResponse>(method: string, command: string, run: (request: Req) => Promise<Res>) => {
    const counted = metrics?.txnCommand(command);
    return call(method, async (request: Req): Promise<Res> => {
      try {
        const response = await run(request);
        counted?.record(txnResultOf(response));
        return response;
      } catch (err) {
        counted?.record('error');
        if (isTxnError(err) && err.code === TxnErrorCode.Corruption) corruptionLog.report(err, method);
        throw err;
      }
    });
  };
  return {
    ...unimplementedService(TinyKvService, (method) => UNAVAILABLE_BECAUSE[method.charAt(0).toUpperCase() + method.slice(1)] ?? 'not planned'),
    rawGet: call('RawGet', (r: RawGetRequest) => raw.rawGet(r)),
    rawPut: call('RawPut', (r: RawPutRequest) => raw.rawPut(r)),
    rawDelete: call('RawDelete', (r: RawDeleteRequest) => raw.rawDelete(r)),
    rawScan: call('RawScan', (r: RawScanRequest) => raw.rawScan(r)),
    kvGet: kv('KvGet', 'get', (r: GetRequest) => txn.kvGet(r)),
    kvScan: kv('KvScan', 'scan', (r: ScanRequest) => txn.kvScan(r)),
    kvPrewrite: kv('KvPrewrite', 'prewrite', (r: PrewriteRequest) => txn.kvPrewrite(r)),
    kvCommit: kv('KvCommit', 'commit', (r: CommitRequest) => txn.kvCommit(r)),
    kvCheckTxnStatus: kv('KvCheckTxnStatus', 'check_txn_status', (r: CheckTxnStatusRequest) => txn.kvCheckTxnStatus(r)),
    kvBatchRollback: kv('KvBatchRollback', 'batch_rollback', (r: BatchRollbackRequest) => txn.kvBatchRollback(r)),
    kvResolveLock: kv('KvResolveLock', 'resolve_lock', (r: ResolveLockRequest) => txn.kvResolveLock(r)),
  };
}

type TxnResponse = Parameters<typeof txnResultOf>[0];
