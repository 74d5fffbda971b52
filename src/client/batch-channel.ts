/**
 * The client's calls to one store through TinyKv/BatchCommands, as TiKV's client-go batches: one
 * bidirectional stream per store; the calls made in one event-loop turn travel in one
 * BatchCommandsRequest (at most MAX_BATCH_REQUESTS each), and the store answers them by id.
 *
 * Each call keeps its own deadline (checked by one sweep timer per store, not a timer per call).
 * A stream that fails fails the calls waiting on it with the stream's status (the request sender
 * retries them as it retries a failed unary call) and the next call opens a new one. A store that
 * answers UNIMPLEMENTED (a TinyKV server, which has no BatchCommands) gets unary calls from then
 * on: `onUnsupported` re-sends what was waiting.
 */
import { Metadata, status as GrpcStatus, type ClientDuplexStream, type ServiceError } from '@grpc/grpc-js';
import {
  BatchCommandsRequest_Request,
  type BatchCommandsRequest,
  type BatchCommandsResponse,
  type BatchCommandsResponse_Response,
  type TinyKvClient as TinyKvGrpcClient,
} from '../proto/tinykvpb.js';
import { ClientError, ClientErrorCode, fromServiceError } from './errors.js';
import type { KvMethod, KvRequest, KvResponse } from './store-pool.js';

/** The server refuses more commands than this in one message. */
const MAX_BATCH_REQUESTS = 1024;
/** How often the waiting calls' deadlines are checked. */
const DEADLINE_SWEEP_MS = 50;

/** The BatchCommands command (oneof field) of each client method. */
const COMMAND_OF: Record<KvMethod, keyof BatchCommandsRequest_Request> = {
  rawGet: 'rawGet',
  rawPut: 'rawPut',
  rawDelete: 'rawDelete',
  rawScan: 'rawScan',
  kvGet: 'get',
  kvScan: 'scan',
  kvPrewrite: 'prewrite',
  kvCommit: 'commit',
  kvBatchRollback: 'batchRollback',
  kvCheckTxnStatus: 'checkTxnStatus',
  kvResolveLock: 'resolveLock',
};

interface Waiting {
  readonly method: KvMethod;
  readonly request: unknown;
  readonly what: string;
  readonly deadlineMs: number;
  readonly resolve: (response: unknown) => void;
  readonly reject: (err: Error) => void;
}

/** A ServiceError as a failed unary call would have produced it. */
function serviceError(code: GrpcStatus, details: string, serverCode?: string): ServiceError {
  const metadata = new Metadata();
  if (serverCode) metadata.set('tinykv-error-code', serverCode);
  return Object.assign(new Error(`${code} ${GrpcStatus[code] ?? ''}: ${details}`), { code, details, metadata });
}

type Stream = ClientDuplexStream<BatchCommandsRequest, BatchCommandsResponse>;

export class BatchChannel {
  private stream: Stream | undefined;
  /** Calls sent and not answered, with the stream each went on (a failed stream fails only its own). */
  private readonly waiting = new Map<bigint, Waiting & { readonly stream: Stream }>();
  private queued: Array<[bigint, Waiting]> = [];
  private flushScheduled = false;
  private nextId = 1n;
  private sweep: NodeJS.Timeout | undefined;
  private unsupported = false;

  constructor(
    private readonly grpc: TinyKvGrpcClient,
    private readonly timeoutMs: number,
    /** The store has no BatchCommands: these calls (and every later one) go unary. */
    private readonly onUnsupported: (
      calls: ReadonlyArray<{ method: KvMethod; request: unknown; resolve: (r: unknown) => void; reject: (e: Error) => void }>,
    ) => void,
  ) {}

  get supported(): boolean {
    return !this.unsupported;
  }

  call<M extends KvMethod>(method: M, request: KvRequest<M>, what: string): Promise<KvResponse<M>> {
    return new Promise<KvResponse<M>>((resolve, reject) => {
      const waiting: Waiting = { method, request, what, deadlineMs: Date.now() + this.timeoutMs, resolve: resolve as (r: unknown) => void, reject };
      this.queued.push([this.nextId++, waiting]);
      if (this.flushScheduled) return;
      this.flushScheduled = true;
      // Every call made in this turn goes out in the same message.
      setImmediate(() => this.flush());
    });
  }

  close(err: Error): void {
    this.stream?.cancel();
    this.stream = undefined;
    this.failAll(err);
  }

  private flush(): void {
    this.flushScheduled = false;
    if (this.queued.length === 0) return;
    if (this.unsupported) {
      this.handOver(this.queued.splice(0).map(([, w]) => w));
      return;
    }
    const stream = (this.stream ??= this.open());
    while (this.queued.length > 0) {
      const batch = this.queued.splice(0, MAX_BATCH_REQUESTS);
      for (const [id, waiting] of batch) this.waiting.set(id, { ...waiting, stream });
      stream.write({
        requests: batch.map(([, w]) => ({ [COMMAND_OF[w.method]]: w.request })),
        requestIds: batch.map(([id]) => id),
      });
    }
    this.sweep ??= setInterval(() => this.expire(), DEADLINE_SWEEP_MS).unref();
  }

  private open(): Stream {
    const stream = this.grpc.batchCommands();
    stream.on('data', (message: BatchCommandsResponse) => {
      message.responses.forEach((response, i) => {
        const id = message.requestIds[i];
        const waiting = id === undefined ? undefined : this.waiting.get(id);
        if (!waiting || id === undefined) return;
        this.waiting.delete(id);
        this.settle(waiting, response);
      });
      this.stopSweepWhenIdle();
    });
    stream.on('error', (err: ServiceError) => {
      if (this.stream === stream) this.stream = undefined;
      if (err.code === GrpcStatus.UNIMPLEMENTED) {
        this.unsupported = true;
        this.handOver(this.takeWaiting(stream));
        this.stopSweepWhenIdle();
        return;
      }
      this.failStream(stream, err);
    });
    stream.on('end', () => {
      if (this.stream === stream) this.stream = undefined;
      this.failStream(stream, serviceError(GrpcStatus.UNAVAILABLE, 'the BatchCommands stream ended'));
    });
    return stream;
  }

  private settle(waiting: Waiting, response: BatchCommandsResponse_Response): void {
    if (response.error) {
      const { code, message, serverCode } = response.error;
      waiting.reject(fromServiceError(serviceError(code, message, serverCode), waiting.what));
      return;
    }
    const answer = response[COMMAND_OF[waiting.method]];
    if (answer === undefined) {
      waiting.reject(new ClientError(ClientErrorCode.ServerError, `${waiting.what}: the store answered without a response`));
      return;
    }
    waiting.resolve(answer);
  }

  private handOver(calls: readonly Waiting[]): void {
    if (calls.length > 0) this.onUnsupported(calls);
  }

  /** Calls past their deadline fail as DEADLINE_EXCEEDED (their answers, should they come, are dropped). */
  private expire(): void {
    const now = Date.now();
    for (const [id, waiting] of this.waiting) {
      if (waiting.deadlineMs > now) continue;
      this.waiting.delete(id);
      waiting.reject(fromServiceError(serviceError(GrpcStatus.DEADLINE_EXCEEDED, 'Deadline exceeded'), waiting.what));
    }
    this.stopSweepWhenIdle();
  }

  private stopSweepWhenIdle(): void {
    if (this.waiting.size > 0 || this.sweep === undefined) return;
    clearInterval(this.sweep);
    this.sweep = undefined;
  }

  /** The calls sent on `stream`, taken out of the waiting set. */
  private takeWaiting(stream: Stream): Waiting[] {
    const taken: Waiting[] = [];
    for (const [id, waiting] of this.waiting) {
      if (waiting.stream !== stream) continue;
      this.waiting.delete(id);
      taken.push(waiting);
    }
    return taken;
  }

  private failStream(stream: Stream, err: ServiceError): void {
    for (const waiting of this.takeWaiting(stream)) waiting.reject(fromServiceError(err, waiting.what));
    this.stopSweepWhenIdle();
  }

  private failAll(err: Error): void {
    for (const waiting of this.waiting.values()) waiting.reject(err);
    this.waiting.clear();
    for (const [, waiting] of this.queued.splice(0)) waiting.reject(err);
    this.stopSweepWhenIdle();
  }
}
