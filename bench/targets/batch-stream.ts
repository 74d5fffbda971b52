/**
 * The tinykv target's calls through TinyKv/BatchCommands (`--batch-commands`): one bidirectional
 * stream per channel; the calls the bench's clients make in one event-loop turn travel in one
 * BatchCommandsRequest, and the store answers them by id in BatchCommandsResponses. Requests are
 * the same hand-encoded Raw* messages the unary calls send, wrapped in the oneof field of their
 * command (TiKV's numbers); responses are walked, not decoded, like the unary ones.
 */
import { status as GrpcStatus, type Client, type ClientDuplexStream } from '@grpc/grpc-js';
import { TinyKvService } from '../../src/proto/tinykvpb.js';
import { BatchCommandError } from '../../src/proto/tinykvpb.js';
import { defined } from '../../src/util/assert.js';
import { BenchCallError, openChannels, waitForChannels, type CallPool } from './channel-pool.js';
import { varintSize, writeVarint } from '../wire.js';

const BATCH_COMMANDS = TinyKvService.batchCommands.path;
/** The oneof field of each unary method's command in BatchCommandsRequest.Request (and Response). */
const COMMAND_FIELD: Readonly<Record<string, number>> = {
  [TinyKvService.rawGet.path]: 13,
  [TinyKvService.rawPut.path]: 15,
  [TinyKvService.rawScan.path]: 19,
};
/** BatchCommandsResponse.Response.error (a TinyKV-TS extension). */
const ERROR_FIELD = 1200;
/** Commands per stream message, at most (the server refuses more than 1024). */
const MAX_BATCH = 1024;

const passThrough = (bytes: Buffer): Buffer => bytes;

interface Pending {
  readonly id: number;
  readonly field: number;
  readonly request: Buffer;
  readonly resolve: (response: Buffer) => void;
  readonly reject: (err: Error) => void;
}

/** BatchCommandsRequest { requests = 1 (each { <field> = request }), request_ids = 2 (packed) }. */
export function encodeBatch(batch: readonly Pending[]): Buffer {
  let size = 0;
  let idsSize = 0;
  for (const p of batch) {
    const inner = varintSize((p.field << 3) | 2) + varintSize(p.request.length) + p.request.length;
    size += 1 + varintSize(inner) + inner;
    idsSize += varintSize(p.id);
  }
  size += 1 + varintSize(idsSize) + idsSize;
  const buf = Buffer.allocUnsafe(size);
  let pos = 0;
  for (const p of batch) {
    const inner = varintSize((p.field << 3) | 2) + varintSize(p.request.length) + p.request.length;
    buf[pos++] = (1 << 3) | 2;
    pos = writeVarint(buf, pos, inner);
    pos = writeVarint(buf, pos, (p.field << 3) | 2);
    pos = writeVarint(buf, pos, p.request.length);
    p.request.copy(buf, pos);
    pos += p.request.length;
  }
  buf[pos++] = (2 << 3) | 2;
  pos = writeVarint(buf, pos, idsSize);
  for (const p of batch) pos = writeVarint(buf, pos, p.id);
  return buf;
}

/** A protobuf walker over one buffer (its own cursor: nothing shared with wire.ts's). */
class Walker {
  pos = 0;
  constructor(readonly buf: Buffer) {}

  varint(): number {
    let result = 0;
    let scale = 1;
    for (;;) {
      const b = this.buf[this.pos++];
      if (b === undefined) throw new Error('truncated protobuf varint');
      result += (b & 0x7f) * scale;
      if (b < 0x80) return result;
      scale *= 128;
    }
  }

  bytes(): Buffer {
    const len = this.varint();
    const out = this.buf.subarray(this.pos, this.pos + len);
    this.pos += len;
    return out;
  }

  skip(wire: number): void {
    if (wire === 0) this.varint();
    else if (wire === 2) this.pos += this.varint();
    else if (wire === 1) this.pos += 8;
    else if (wire === 5) this.pos += 4;
    else throw new Error(`unexpected protobuf wire type ${wire}`);
  }
}

/** The responses and ids of a BatchCommandsResponse, in order. */
export function walkBatchResponse(buf: Buffer): { responses: Buffer[]; ids: number[] } {
  const w = new Walker(buf);
  const responses: Buffer[] = [];
  const ids: number[] = [];
  while (w.pos < buf.length) {
    const tag = w.varint();
    const field = Math.floor(tag / 8);
    const wire = tag & 7;
    if (field === 1 && wire === 2) responses.push(w.bytes());
    else if (field === 2 && wire === 2) {
      const packed = new Walker(w.bytes());
      while (packed.pos < packed.buf.length) ids.push(packed.varint());
    } else if (field === 2 && wire === 0) ids.push(w.varint());
    else w.skip(wire);
  }
  return { responses, ids };
}

/** A Response's command bytes, or the BenchCallError its `error` field carries. */
function commandOf(response: Buffer, field: number): Buffer | BenchCallError {
  const w = new Walker(response);
  while (w.pos < response.length) {
    const tag = w.varint();
    const f = Math.floor(tag / 8);
    const wire = tag & 7;
    if (f === field && wire === 2) return w.bytes();
    if (f === ERROR_FIELD && wire === 2) {
      const error = BatchCommandError.decode(w.bytes());
      const name = GrpcStatus[error.code] ?? String(error.code);
      return new BenchCallError(`${name}: ${error.message}`, error.code);
    }
    w.skip(wire);
  }
  // An empty response is a command the server did not know, or an empty answer: proto3 drops an
  // empty message's field, so a RawPutResponse without error is zero bytes and absent.
  return Buffer.alloc(0);
}

/** One channel's stream and the calls waiting on it. */
class BatchChannel {
  private stream: ClientDuplexStream<Buffer, Buffer> | undefined;
  private readonly waiting = new Map<number, Pending>();
  private queued: Pending[] = [];
  private flushScheduled = false;
  private nextId = 1;

  constructor(private readonly client: Client) {}

  call(field: number, request: Buffer): Promise<Buffer> {
    return new Promise<Buffer>((resolve, reject) => {
      this.queued.push({ id: this.nextId++, field, request, resolve, reject });
      if (this.flushScheduled) return;
      this.flushScheduled = true;
      // The calls the clients make in this turn go out together.
      setImmediate(() => this.flush());
    });
  }

  private flush(): void {
    this.flushScheduled = false;
    const stream = (this.stream ??= this.open());
    while (this.queued.length > 0) {
      const batch = this.queued.splice(0, MAX_BATCH);
      for (const p of batch) this.waiting.set(p.id, p);
      stream.write(encodeBatch(batch));
    }
  }

  private open(): ClientDuplexStream<Buffer, Buffer> {
    const stream = this.client.makeBidiStreamRequest(BATCH_COMMANDS, passThrough, passThrough);
    stream.on('data', (message: Buffer) => {
      const { responses, ids } = walkBatchResponse(message);
      responses.forEach((response, i) => {
        const pending = this.waiting.get(ids[i] ?? -1);
        if (!pending) return;
        this.waiting.delete(pending.id);
        const result = commandOf(response, pending.field);
        if (result instanceof BenchCallError) pending.reject(result);
        else pending.resolve(result);
      });
    });
    const fail = (err: BenchCallError) => {
      if (this.stream === stream) this.stream = undefined;
      for (const pending of this.waiting.values()) pending.reject(err);
      this.waiting.clear();
    };
    stream.on('error', (err: { code?: GrpcStatus; details?: string; message: string }) =>
      fail(new BenchCallError(`${GrpcStatus[err.code ?? GrpcStatus.UNKNOWN] ?? err.code}: ${err.details ?? err.message}`, err.code)),
    );
    stream.on('end', () => fail(new BenchCallError('UNAVAILABLE: BatchCommands stream ended', GrpcStatus.UNAVAILABLE)));
    return stream;
  }

  cancel(): void {
    this.stream?.cancel();
  }

  close(): void {
    this.cancel();
    this.client.close();
  }
}

/** A ChannelPool's interface (call, ready, cancelAll, close) over BatchCommands streams. */
export class BatchStreamPool implements CallPool {
  private readonly channels: BatchChannel[];
  private readonly clients: Client[];

  constructor(
    readonly addrs: readonly string[],
    connections: number,
  ) {
    this.clients = openChannels(addrs, connections);
    this.channels = this.clients.map((client) => new BatchChannel(client));
  }

  get size(): number {
    return this.clients.length;
  }

  ready(timeoutMs: number): Promise<void> {
    return waitForChannels(this.clients, this.addrs, timeoutMs);
  }

  async call<T>(lane: number, path: string, request: Buffer, parse: (response: Buffer) => T): Promise<T> {
    const field = COMMAND_FIELD[path];
    if (field === undefined) throw new Error(`${path} has no BatchCommands form`);
    const response = await defined(this.channels[lane % this.channels.length], 'channel of a lane').call(field, request);
    return parse(response);
  }

  cancelAll(): void {
    for (const channel of this.channels) channel.cancel();
  }

  close(): void {
    for (const channel of this.channels) channel.close();
  }
}
