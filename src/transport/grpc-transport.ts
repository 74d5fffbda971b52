/**
 * Raft messages between stores over TinyKV's wire: one `TinyKv/Raft` client stream per peer
 * store, reopened with backoff after a failure; snapshots go over `TinyKv/Snapshot` in chunks,
 * so no other message waits behind one. Messages are dropped (never queued without bound) while a
 * store is unreachable or its stream is backed up: Raft retries on its own.
 */
import { credentials, type ClientWritableStream } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { MessageType } from '../proto/eraftpb.js';
import { RaftMessage, SnapshotChunk } from '../proto/raft_serverpb.js';
import { TinyKvClient } from '../proto/tinykvpb.js';
import type { Transport } from '../raftstore/store.js';

export const SNAPSHOT_CHUNK_BYTES = 1024 * 1024;
const RECONNECT_BACKOFF_MIN_MS = 50;
const RECONNECT_BACKOFF_MAX_MS = 2_000;

/** Resolves store ids to addresses (through the scheduler, cached). */
export interface StoreResolver {
  /** The address, or undefined while unknown (the message is dropped and resolution starts). */
  resolve(storeId: number): string | undefined;
  /** Forgets an address that failed (a restarted store may listen elsewhere now). */
  invalidateAddress?(addr: string): void;
}

interface Connection {
  readonly client: TinyKvClient;
  stream: ClientWritableStream<RaftMessage> | undefined;
  backoffMs: number;
  retryAt: number;
}

export class GrpcTransport implements Transport {
  private readonly connections = new Map<string, Connection>();
  private closed = false;
  droppedMessages = 0;

  constructor(
    private readonly resolver: StoreResolver,
    private readonly logger: Logger,
    private readonly nowMs: () => number = Date.now,
    /** Fault injection for tests: drop an outgoing message when this returns true. */
    private readonly dropMessage?: (message: RaftMessage) => boolean,
    /** Fault injection for tests: hold an outgoing message back this many ms (order across messages is not kept). */
    private readonly delayMessageMs?: (message: RaftMessage) => number,
  ) {}

  send(message: RaftMessage): void {
    if (this.closed || this.dropMessage?.(message)) return;
    const delayMs = this.delayMessageMs?.(message) ?? 0;
    // A delayed message still goes out through deliver(), which drops it if the transport closed meanwhile.
    if (delayMs > 0) setTimeout(() => this.deliver(message), delayMs).unref();
    else this.deliver(message);
  }

  private deliver(message: RaftMessage): void {
    if (this.closed) return;
    const addr = this.resolver.resolve(message.toPeer?.storeId ?? 0);
    if (!addr) {
      this.droppedMessages++;
      return;
    }
    const connection = this.connection(addr);
    if (message.message?.msgType === MessageType.MsgSnapshot) {
      this.sendSnapshot(connection, message);
      return;
    }
    const stream = this.stream(addr, connection);
    // A stream whose buffer is full means the peer store is slow or gone: drop, Raft resends.
    if (!stream || stream.writableNeedDrain) {
      this.droppedMessages++;
      return;
    }
    stream.write(message);
  }

  close(): void {
    this.closed = true;
    for (const connection of this.connections.values()) {
      connection.stream?.end();
      connection.client.close();
    }
    this.connections.clear();
  }

  private connection(addr: string): Connection {
    let connection = this.connections.get(addr);
    if (!connection) {
      connection = {
        client: new TinyKvClient(addr, credentials.createInsecure(), {
          'grpc.max_send_message_length': 64 * 1024 * 1024,
          'grpc.keepalive_time_ms': 10_000,
        }),
        stream: undefined,
        backoffMs: RECONNECT_BACKOFF_MIN_MS,
        retryAt: 0,
      };
      this.connections.set(addr, connection);
    }
    return connection;
  }

  private stream(addr: string, connection: Connection): ClientWritableStream<RaftMessage> | undefined {
    if (connection.stream) return connection.stream;
    if (this.nowMs() < connection.retryAt) return undefined;
    const stream = connection.client.raft((err) => {
      if (connection.stream !== stream) return;
      connection.stream = undefined;
      if (err && !this.closed) {
        connection.retryAt = this.nowMs() + connection.backoffMs;
        connection.backoffMs = Math.min(connection.backoffMs * 2, RECONNECT_BACKOFF_MAX_MS);
        this.resolver.invalidateAddress?.(addr);
        this.logger.debug({ addr, err: err.message }, 'raft stream failed; reconnecting with backoff');
      }
    });
    stream.on('error', () => {}); // reported through the callback above
    connection.stream = stream;
    connection.backoffMs = RECONNECT_BACKOFF_MIN_MS;
    return stream;
  }

  private sendSnapshot(connection: Connection, message: RaftMessage): void {
    const snapshot = message.message!.snapshot!;
    const data = snapshot.data;
    const head = RaftMessage.fromPartial({ ...message, message: { ...message.message!, snapshot: { ...snapshot, data: Buffer.alloc(0) } } });
    const stream = connection.client.snapshot((err) => {
      if (err) this.logger.warn({ regionId: message.regionId, err: err.message }, 'snapshot send failed');
    });
    stream.on('error', () => {});
    stream.write(SnapshotChunk.fromPartial({ message: head }));
    for (let offset = 0; offset < data.length; offset += SNAPSHOT_CHUNK_BYTES) {
      stream.write(SnapshotChunk.fromPartial({ data: data.subarray(offset, offset + SNAPSHOT_CHUNK_BYTES) }));
    }
    stream.end();
  }
}
