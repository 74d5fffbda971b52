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
import { CallTracker, observedCall, unaryOf, unimplementedService } from '../rpc/grpc-service.js';
import { batchCommandsHandler, type BatchCommandHandlers } from './batch-commands.js';
import { RawHandlers } from './raw-handlers.js';
import { RequestLog } from '../log/request-log.js';
import type { StoreMetrics } from '../metrics/store-metrics.js';
import { TimedLatches, txnResultOf } from './txn-metrics.js';
import type { FlowCounter } from './flow-stats.js';

const UNAVAILABLE_BECAUSE: Record<string, string> = {
  Raft: 'a standalone node has no Raft peers; run it as a cluster store with --scheduler',
  Snapshot: 'a standalone node has no Raft peers; run it as a cluster store with --scheduler',
  BatchRaft: 'a standalone node has no Raft peers; run it as a cluster store with --scheduler',
  Coprocessor: 'SQL push-down is out of scope',
};

/**
 * The TinyKv service over a Storage: Raw and Kv handlers; Raft, Snapshot and Coprocessor answer
 * UNIMPLEMENTED unless overridden. With `metrics`, every call and transaction command is counted;
 * with `flow`, the data that successful calls wrote and read (for the store heartbeat).
 */
export function tinyKvImplementation(
  storage: Storage,
  config: NodeConfig,
  tracker: CallTracker,
  logger: Logger,
  metrics?: StoreMetrics,
  flow?: FlowCounter,
) {
  const raw = new RawHandlers(storage, config.limits, { allowRawTxnCfWrites: config.allowRawTxnCfWrites });
  const corruptionLog = new CorruptionLog(logger);
  const requests = new RequestLog(logger, config.slowLogThresholdMs);
  const txn = createTxnCommands(storage, metrics ? new TimedLatches(metrics.latchWaitSeconds) : new Latches(), {
    maxScanResponseBytes: config.limits.maxScanResponseBytes,
    onCorruption: (err, key) => corruptionLog.report(err, 'KvScan', key),
  });
  /** A command as every call of it runs (unary or batched): counted, logged, observed. */
  const observed = <Req, Res>(method: string, handler: (request: Req) => Promise<Res>) =>
    observedCall(method, handler, tracker, requests, metrics?.grpcMethod(method));
  /**
   * A Kv* command: one that meets a damaged record fails with DATA_LOSS (the log says which key);
   * its result is counted by command.
   */
  const kv = <Req, Res extends TxnResponse>(method: string, command: string, run: (request: Req) => Promise<Res>) => {
    const counted = metrics?.txnCommand(command);
    return observed(method, async (request: Req): Promise<Res> => {
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
  const commands: BatchCommandHandlers = {
    rawGet: observed('RawGet', async (r: RawGetRequest) => {
      const response = await raw.rawGet(r);
      if (flow && !response.regionError && !response.error && !response.notFound) flow.read(1, r.key.length + response.value.length);
      return response;
    }),
    rawPut: observed('RawPut', async (r: RawPutRequest) => {
      const response = await raw.rawPut(r);
      if (flow && !response.regionError && !response.error) flow.wrote(1, r.key.length + r.value.length);
      return response;
    }),
    rawDelete: observed('RawDelete', async (r: RawDeleteRequest) => {
      const response = await raw.rawDelete(r);
      if (flow && !response.regionError && !response.error) flow.wrote(1, r.key.length);
      return response;
    }),
    rawScan: observed('RawScan', async (r: RawScanRequest) => {
      const response = await raw.rawScan(r);
      if (flow && !response.regionError && !response.error) flow.read(response.kvs.length, pairBytes(response.kvs));
      return response;
    }),
    get: kv('KvGet', 'get', async (r: GetRequest) => {
      const response = await txn.kvGet(r);
      if (flow && !response.regionError && !response.error && !response.notFound) flow.read(1, r.key.length + response.value.length);
      return response;
    }),
    scan: kv('KvScan', 'scan', async (r: ScanRequest) => {
      const response = await txn.kvScan(r);
      if (flow && !response.regionError) flow.read(response.pairs.length, pairBytes(response.pairs));
      return response;
    }),
    // A transaction's data is written at prewrite; its commit writes one record per key.
    prewrite: kv('KvPrewrite', 'prewrite', async (r: PrewriteRequest) => {
      const response = await txn.kvPrewrite(r);
      if (flow && !response.regionError && response.errors.length === 0) flow.wrote(r.mutations.length, pairBytes(r.mutations));
      return response;
    }),
    commit: kv('KvCommit', 'commit', async (r: CommitRequest) => {
      const response = await txn.kvCommit(r);
      if (flow && !response.regionError && !response.error)
        flow.wrote(
          r.keys.length,
          r.keys.reduce((sum, key) => sum + key.length, 0),
        );
      return response;
    }),
    checkTxnStatus: kv('KvCheckTxnStatus', 'check_txn_status', (r: CheckTxnStatusRequest) => txn.kvCheckTxnStatus(r)),
    batchRollback: kv('KvBatchRollback', 'batch_rollback', (r: BatchRollbackRequest) => txn.kvBatchRollback(r)),
    resolveLock: kv('KvResolveLock', 'resolve_lock', (r: ResolveLockRequest) => txn.kvResolveLock(r)),
  };
  return {
    ...unimplementedService(TinyKvService, (method) => UNAVAILABLE_BECAUSE[method.charAt(0).toUpperCase() + method.slice(1)] ?? 'not planned'),
    rawGet: unaryOf(commands.rawGet),
    rawPut: unaryOf(commands.rawPut),
    rawDelete: unaryOf(commands.rawDelete),
    rawScan: unaryOf(commands.rawScan),
    kvGet: unaryOf(commands.get),
    kvScan: unaryOf(commands.scan),
    kvPrewrite: unaryOf(commands.prewrite),
    kvCommit: unaryOf(commands.commit),
    kvCheckTxnStatus: unaryOf(commands.checkTxnStatus),
    kvBatchRollback: unaryOf(commands.batchRollback),
    kvResolveLock: unaryOf(commands.resolveLock),
    batchCommands: batchCommandsHandler(commands, logger),
  };
}

type TxnResponse = Parameters<typeof txnResultOf>[0];

/** Keys plus values of pairs (or mutations). */
function pairBytes(pairs: ReadonlyArray<{ readonly key: Uint8Array; readonly value: Uint8Array }>): number {
  let bytes = 0;
  for (const pair of pairs) bytes += pair.key.length + pair.value.length;
  return bytes;
}
