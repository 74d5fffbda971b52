/**
 * TinyKv/BatchCommands (an extension: TiKV's tikvpb.BatchCommands for the commands TinyKV has): a
 * bidirectional stream whose messages carry many commands each way. Each command runs as its unary
 * call would (the same handler, counted, logged and observed alike) and its response goes back
 * tagged with the request's id; responses that finish in the same event-loop turn share one stream
 * message. A command that would fail its unary call with a gRPC status answers with `error` (the
 * status code and message) instead of a response.
 *
 * Bounds: at most MAX_BATCH_REQUESTS commands per stream message (more, or ids that do not pair up
 * with the commands, end the stream with INVALID_ARGUMENT); at most MAX_IN_FLIGHT_PER_STREAM
 * commands running or answered but unsent per stream: past it, and while the client does not take
 * what was written (the stream's write buffer is full), the server stops reading the stream.
 */
import type { ServerDuplexStream } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import type {
  BatchCommandsResponse,
  BatchCommandError,
  BatchCommandsRequest,
  BatchCommandsRequest_Request,
  BatchCommandsResponse_Response,
} from '../proto/tinykvpb.js';
import { toServiceError } from '../rpc/error-status.js';
import { ErrorCode, TinyKvError } from '../util/errors.js';

export const MAX_BATCH_REQUESTS = 1024;
export const MAX_IN_FLIGHT_PER_STREAM = 2048;
/** Keys and values per response message, about (see BatchStream.flush). */
export const MESSAGE_BUDGET_BYTES = 4 * 1024 * 1024;

export type BatchCommandName = keyof BatchCommandsRequest_Request;

/** The handler of each command, as its unary call runs it (observedCall). */
export type BatchCommandHandlers = {
  readonly [K in BatchCommandName]-?: (
    request: NonNullable<BatchCommandsRequest_Request[K]>,
  ) => Promise<NonNullable<BatchCommandsResponse_Response[K]>>;
};

type Stream = ServerDuplexStream<BatchCommandsRequest, BatchCommandsResponse>;

/** The one command a request carries, or why it cannot run. */
function commandOf(request: BatchCommandsRequest_Request): { name: BatchCommandName } | { problem: string } {
  let name: BatchCommandName | undefined;
  for (const key of Object.keys(request) as BatchCommandName[]) {
    if (request[key] === undefined) continue;
    if (name !== undefined) return { problem: `a BatchCommands request carries several commands (${name}, ${key})` };
    name = key;
  }
  return name === undefined ? { problem: 'a BatchCommands request carries no command this server knows' } : { name };
}

function failed(err: unknown): BatchCommandError {
  const status = toServiceError(err);
  const serverCode = status.metadata.get('tinykv-error-code')[0];
  return { code: status.code, message: status.details, serverCode: typeof serverCode === 'string' ? serverCode : '' };
}

export function batchCommandsHandler(handlers: BatchCommandHandlers, logger: Logger): (call: Stream) => void {
  return (call) => new BatchStream(call, handlers, logger).start();
}

class BatchStream {
  private inFlight = 0;
  private readPaused = false;
  private writeBlocked = false;
  private inputEnded = false;
  private closed = false;
  private responses: BatchCommandsResponse_Response[] = [];
  private ids: bigint[] = [];
  private flushScheduled = false;

  constructor(
    private readonly call: Stream,
    private readonly handlers: BatchCommandHandlers,
    private readonly logger: Logger,
  ) {}

  start(): void {
    this.call.on('data', (batch: BatchCommandsRequest) => this.onBatch(batch));
    this.call.on('end', () => {
      this.inputEnded = true;
      this.maybeFinish();
    });
    // The client went away (cancelled, connection lost): answers still running are dropped.
    this.call.on('error', () => (this.closed = true));
    this.call.on('cancelled', () => (this.closed = true));
    this.call.on('drain', () => {
      this.writeBlocked = false;
      this.updateReading();
    });
  }

  private onBatch(batch: BatchCommandsRequest): void {
    if (this.closed) return;
    if (batch.requests.length !== batch.requestIds.length) {
      this.fail(`a BatchCommands message has ${batch.requests.length} requests but ${batch.requestIds.length} request ids`);
      return;
    }
    if (batch.requests.length > MAX_BATCH_REQUESTS) {
      this.fail(`a BatchCommands message carries ${batch.requests.length} requests; at most ${MAX_BATCH_REQUESTS}`);
      return;
    }
    batch.requests.forEach((request, i) => this.run(request, batch.requestIds[i] ?? 0n));
    this.updateReading();
  }

  private run(request: BatchCommandsRequest_Request, id: bigint): void {
    this.inFlight++;
    const command = commandOf(request);
    if ('problem' in command) {
      this.answer(id, { error: failed(new TinyKvError(ErrorCode.InvalidArgument, command.problem)) });
      return;
    }
    const handler = this.handlers[command.name] as (r: unknown) => Promise<unknown>;
    handler(request[command.name]).then(
      (response) => this.answer(id, { error: undefined, [command.name]: response }),
      (err: unknown) => this.answer(id, { error: failed(err) }),
    );
  }

  private answer(id: bigint, response: BatchCommandsResponse_Response): void {
    this.responses.push(response);
    this.ids.push(id);
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    // Answers that finish in this turn go out in one stream message.
    setImmediate(() => this.flush());
  }

  private flush(): void {
    this.flushScheduled = false;
    const count = this.responses.length;
    if (count === 0) return;
    const responses = this.responses;
    const ids = this.ids;
    this.responses = [];
    this.ids = [];
    this.inFlight -= count;
    // Messages stay under MESSAGE_BUDGET_BYTES of keys and values (one large answer may pass it
    // alone, bounded as its unary call is), so many scans finishing together never make one
    // message past the client's receive limit.
    let start = 0;
    let bytes = 0;
    for (let i = 0; i < count; i++) {
      const size = payloadBytes(responses[i]!);
      if (i > start && bytes + size > MESSAGE_BUDGET_BYTES) {
        this.write({ responses: responses.slice(start, i), requestIds: ids.slice(start, i) });
        start = i;
        bytes = 0;
      }
      bytes += size;
    }
    this.write(start === 0 ? { responses, requestIds: ids } : { responses: responses.slice(start), requestIds: ids.slice(start) });
    this.updateReading();
    this.maybeFinish();
  }

  private write(message: BatchCommandsResponse): void {
    if (this.closed) return;
    try {
      if (!this.call.write(message)) this.writeBlocked = true;
    } catch (err) {
      // The stream ended under us (the client cancelled): nothing more can be sent.
      this.closed = true;
      this.logger.debug({ err }, 'BatchCommands write failed');
    }
  }

  /** Reads while few enough commands are in flight and the client takes what is written. */
  private updateReading(): void {
    const stop = this.inFlight >= MAX_IN_FLIGHT_PER_STREAM || this.writeBlocked;
    if (stop && !this.readPaused) {
      this.readPaused = true;
      this.call.pause();
    } else if (!stop && this.readPaused) {
      this.readPaused = false;
      this.call.resume();
    }
  }

  private maybeFinish(): void {
    if (this.inputEnded && this.inFlight === 0 && !this.closed) {
      this.closed = true;
      this.call.end();
    }
  }

  private fail(why: string): void {
    this.closed = true;
    this.call.emit('error', toServiceError(new TinyKvError(ErrorCode.InvalidArgument, why)));
  }
}

/** The keys and values a response carries: what makes a response large. */
function payloadBytes(response: BatchCommandsResponse_Response): number {
  const value = response.rawGet?.value ?? response.get?.value;
  if (value) return value.length;
  const pairs = response.rawScan?.kvs ?? response.scan?.pairs;
  if (!pairs) return 0;
  let bytes = 0;
  for (const pair of pairs) bytes += pair.key.length + pair.value.length;
  return bytes;
}
