/**
 * One gRPC TinyKv client per store address, and a typed promise `call` over it. The transport
 * interface lets the request sender be tested without a network.
 */
import { credentials } from '@grpc/grpc-js';
import { callUnary, type UnaryMethod } from '../rpc/unary.js';
import { RECONNECT_CHANNEL_OPTIONS } from '../util/grpc-channel.js';
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
  RawDeleteRequest,
  RawDeleteResponse,
  RawGetRequest,
  RawGetResponse,
  RawPutRequest,
  RawPutResponse,
  RawScanRequest,
  RawScanResponse,
  ResolveLockRequest,
  ResolveLockResponse,
  ScanRequest,
  ScanResponse,
} from '../proto/kvrpcpb.js';
import { TinyKvClient as TinyKvGrpcClient } from '../proto/tinykvpb.js';
import { ClientError, ClientErrorCode, fromServiceError } from './errors.js';
import { BatchChannel } from './batch-channel.js';

/** Request and response type of each TinyKv RPC the client uses. */
export interface KvMethods {
  rawGet: [RawGetRequest, RawGetResponse];
  rawPut: [RawPutRequest, RawPutResponse];
  rawDelete: [RawDeleteRequest, RawDeleteResponse];
  rawScan: [RawScanRequest, RawScanResponse];
  kvGet: [GetRequest, GetResponse];
  kvScan: [ScanRequest, ScanResponse];
  kvPrewrite: [PrewriteRequest, PrewriteResponse];
  kvCommit: [CommitRequest, CommitResponse];
  kvBatchRollback: [BatchRollbackRequest, BatchRollbackResponse];
  kvCheckTxnStatus: [CheckTxnStatusRequest, CheckTxnStatusResponse];
  kvResolveLock: [ResolveLockRequest, ResolveLockResponse];
}

export type KvMethod = keyof KvMethods;
export type KvRequest<M extends KvMethod> = KvMethods[M][0];
export type KvResponse<M extends KvMethod> = KvMethods[M][1];

export interface KvTransport {
  /** Sends one RPC to the store at `addr`; transport and server failures reject with a ClientError. */
  call<M extends KvMethod>(addr: string, method: M, request: KvRequest<M>): Promise<KvResponse<M>>;
}

export interface StorePoolOptions {
  /** Deadline of each call. */
  readonly timeoutMs?: number;
  readonly maxMessageBytes?: number;
  /**
   * Send the calls to a store through one TinyKv/BatchCommands stream (batch-channel.ts), the
   * calls of one event-loop turn in one message; default true (see ConnectOptions). A
   * store without BatchCommands (a TinyKV server) gets unary calls.
   */
  readonly batchCommands?: boolean;
}

const RPC_NAMES: Record<KvMethod, string> = {
  rawGet: 'RawGet',
  rawPut: 'RawPut',
  rawDelete: 'RawDelete',
  rawScan: 'RawScan',
  kvGet: 'KvGet',
  kvScan: 'KvScan',
  kvPrewrite: 'KvPrewrite',
  kvCommit: 'KvCommit',
  kvBatchRollback: 'KvBatchRollback',
  kvCheckTxnStatus: 'KvCheckTxnStatus',
  kvResolveLock: 'KvResolveLock',
};

export class StorePool implements KvTransport {
  private readonly clients = new Map<string, TinyKvGrpcClient>();
  private readonly batches = new Map<string, BatchChannel>();
  private closed = false;
  private readonly timeoutMs: number;
  private readonly maxMessageBytes: number;
  private readonly batchCommands: boolean;

  constructor(options: StorePoolOptions = {}) {
    this.timeoutMs = options.timeoutMs ?? 10_000;
    this.maxMessageBytes = options.maxMessageBytes ?? 16 * 1024 * 1024;
    this.batchCommands = options.batchCommands ?? true;
  }

  call<M extends KvMethod>(addr: string, method: M, request: KvRequest<M>): Promise<KvResponse<M>> {
    if (this.closed) return Promise.reject(new ClientError(ClientErrorCode.ClientClosed, 'the client is closed'));
    const what = `${RPC_NAMES[method]} to ${addr}`;
    const batch = this.batchCommands ? this.batch(addr) : undefined;
    if (batch?.supported) return batch.call(method, request, what);
    return this.unary(addr, method, request, what);
  }

  close(): void {
    this.closed = true;
    const closed = new ClientError(ClientErrorCode.ClientClosed, 'the client is closed');
    for (const batch of this.batches.values()) batch.close(closed);
    this.batches.clear();
    for (const client of this.clients.values()) client.close();
    this.clients.clear();
  }

  private unary<M extends KvMethod>(addr: string, method: M, request: KvRequest<M>, what: string): Promise<KvResponse<M>> {
    const client = this.client(addr);
    const fn = client[method] as unknown as UnaryMethod<KvRequest<M>, KvResponse<M>>;
    return callUnary(client, fn, request, { timeoutMs: this.timeoutMs }, (err) => fromServiceError(err, what));
  }

  private batch(addr: string): BatchChannel {
    let batch = this.batches.get(addr);
    if (batch === undefined) {
      batch = new BatchChannel(this.client(addr), this.timeoutMs, (calls) => {
        for (const { method, request, resolve, reject } of calls) {
          this.unary(addr, method, request as KvRequest<typeof method>, `${RPC_NAMES[method]} to ${addr}`).then(resolve, reject);
        }
      });
      this.batches.set(addr, batch);
    }
    return batch;
  }

  private client(addr: string): TinyKvGrpcClient {
    let client = this.clients.get(addr);
    if (client === undefined) {
      client = new TinyKvGrpcClient(addr, credentials.createInsecure(), {
        'grpc.max_receive_message_length': this.maxMessageBytes,
        'grpc.max_send_message_length': this.maxMessageBytes,
        ...RECONNECT_CHANNEL_OPTIONS,
      });
      this.clients.set(addr, client);
    }
    return client;
  }
}
