/**
 * Raft messages between stores. One client stream per peer store, reopened with backoff after a
 * failure. Messages arrive here already encoded (from the raft pollers) and leave without being
 * decoded: those for one store produced in one event-loop turn go out as ONE BatchRaftMessage on
 * `TinyKv/BatchRaft` (a TinyKV-TS extension); a peer that answers UNIMPLEMENTED (a Go TinyKV
 * store) gets them one by one on TinyKV's `TinyKv/Raft`. Snapshots go over `TinyKv/Snapshot` in
 * chunks, so no other message waits behind one. Messages are dropped (never queued without
 * bound) while a store is unreachable or its stream is backed up: Raft retries on its own.
 */
import { connectivityState, credentials, status as GrpcStatus, type ClientWritableStream, type ServiceError } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { MessageType } from '../proto/eraftpb.js';
import { Done, RaftMessage, SnapshotChunk } from '../proto/raft_serverpb.js';
import { TinyKvClient } from '../proto/tinykvpb.js';
import type { EncodedTransport } from '../raftstore/transport.js';
import { encodeBatch } from '../raftstore/raft-wire.js';
import { RECONNECT_BACKOFF_MAX_MS, RECONNECT_CHANNEL_OPTIONS } from '../util/grpc-channel.js';
import { defined } from '../util/assert.js';

export const SNAPSHOT_CHUNK_BYTES = 1024 * 1024;
const RECONNECT_BACKOFF_MIN_MS = 50;
/**
 * Longest wait before a raft stream to an unreachable store is tried again: a couple of election
 * timeouts at the default 100 ms tick, so a store that comes back hears from its leader promptly.
 */
export { RECONNECT_BACKOFF_MAX_MS };

/**
 * Options of the channel to a peer store. gRPC's own subchannel reconnect backoff (1 s growing by
 * 1.6x up to 120 s by default) would otherwise override the cap above: a stream opened while the
 * channel sits in TRANSIENT_FAILURE fails at once, so after a store was down for half a minute its
 * leader could not reach it again for up to a minute after it came back. Capping the channel's
 * backoff at the transport's keeps the time to reconnect below ~RECONNECT_BACKOFF_MAX_MS (+ jitter).
 */
export const PEER_CHANNEL_OPTIONS = {
  'grpc.max_send_message_length': 64 * 1024 * 1024,
  'grpc.keepalive_time_ms': 10_000,
  ...RECONNECT_CHANNEL_OPTIONS,
} as const;
/** Messages waiting for one store's next batch; more are dropped. */
const MAX_PENDING_MESSAGES_PER_STORE = 8192;
/** A batch is cut at this size; the rest goes in the next stream message. */
const MAX_BATCH_BYTES = 4 * 1024 * 1024;

/** Resolves store ids to addresses (through the scheduler, cached). */
export interface StoreResolver {
  /** The address, or undefined while unknown (the message is dropped and resolution starts). */
  resolve(storeId: number): string | undefined;
  /** Forgets an address that failed (a restarted store may listen elsewhere now). */
  invalidateAddress?(addr: string): void;
}

interface Connection {
  readonly client: TinyKvClient;
  stream: ClientWritableStream<Uint8Array> | undefined;
  /** The peer does not implement BatchRaft: one message per TinyKv/Raft stream message. */
  legacy: boolean;
  pending: Uint8Array[];
  backoffMs: number;
  retryAt: number;
  /** A connectivity watch is armed (see retryWhenReady). */
  watching: boolean;
}

const BATCH_RAFT_PATH = '/tinykvpb.TinyKv/BatchRaft';
const RAFT_PATH = '/tinykvpb.TinyKv/Raft';
const passBytes = (bytes: Uint8Array): Buffer => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);

export class GrpcTransport implements EncodedTransport {
  private readonly connections = new Map<string, Connection>();
  private readonly dirty = new Set<string>();
  private flushScheduled = false;
  private closed = false;
  private sendingSnapshots = 0;
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

  /** Snapshot streams this store is sending now (its StoreStats.sending_snap_count). */
  get sendingSnapshotCount(): number {
    return this.sendingSnapshots;
  }

  send(message: RaftMessage): void {
    const toStoreId = message.toPeer?.storeId ?? 0;
    if (message.message?.msgType === MessageType.MsgSnapshot) {
      if (this.closed || this.dropMessage?.(message)) return;
      const addr = this.resolver.resolve(toStoreId);
      if (addr) this.sendSnapshot(this.connection(addr), message);
      else this.droppedMessages++;
      return;
    }
    this.sendEncoded(toStoreId, RaftMessage.encode(message).finish());
  }

  sendEncoded(toStoreId: number, message: Uint8Array): void {
    if (this.closed) return;
    if (this.dropMessage || this.delayMessageMs) {
      // Test seams look at the decoded message; production never pays for this.
      const decoded = RaftMessage.decode(message);
      if (this.dropMessage?.(decoded)) return;
      const delayMs = this.delayMessageMs?.(decoded) ?? 0;
      // A delayed message still goes through enqueue(), which drops it if the transport closed meanwhile.
      if (delayMs > 0) {
        setTimeout(() => this.enqueue(toStoreId, message), delayMs).unref();
        return;
      }
    }
    this.enqueue(toStoreId, message);
  }

  /** Writes every store's pending batch now (otherwise at the end of this event-loop turn). */
  flush(): void {
    this.flushScheduled = false;
    for (const addr of this.dirty) {
      const connection = this.connections.get(addr);
      if (connection) this.writePending(addr, connection);
    }
    this.dirty.clear();
  }

  close(): void {
    this.closed = true;
    for (const connection of this.connections.values()) {
      connection.stream?.end();
      connection.client.close();
    }
    this.connections.clear();
  }

  private enqueue(toStoreId: number, message: Uint8Array): void {
    if (this.closed) return;
    const addr = this.resolver.resolve(toStoreId);
    if (!addr) {
      this.droppedMessages++;
      return;
    }
    const connection = this.connection(addr);
    if (connection.pending.length >= MAX_PENDING_MESSAGES_PER_STORE) {
      this.droppedMessages++;
      return;
    }
    connection.pending.push(message);
    this.dirty.add(addr);
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => this.flush());
    }
  }

  private writePending(addr: string, connection: Connection): void {
    const messages = connection.pending;
    connection.pending = [];
    if (messages.length === 0) return;
    const stream = this.stream(addr, connection);
    // A stream whose buffer is full means the peer store is slow or gone: drop, Raft resends.
    if (!stream || stream.writableNeedDrain) {
      this.droppedMessages += messages.length;
      return;
    }
    if (connection.legacy) {
      for (const message of messages) stream.write(message);
      return;
    }
    let start = 0;
    let sizeBytes = 0;
    for (let i = 0; i < messages.length; i++) {
      // Per message: the loop bound proves presence, so a local check narrows without a call.
      const encoded = messages[i];
      if (encoded === undefined) break;
      sizeBytes += encoded.length;
      if (sizeBytes >= MAX_BATCH_BYTES || i === messages.length - 1) {
        stream.write(encodeBatch(messages.slice(start, i + 1)));
        start = i + 1;
        sizeBytes = 0;
      }
    }
  }

  private connection(addr: string): Connection {
    let connection = this.connections.get(addr);
    if (!connection) {
      connection = {
        client: new TinyKvClient(addr, credentials.createInsecure(), { ...PEER_CHANNEL_OPTIONS }),
        stream: undefined,
        legacy: false,
        pending: [],
        backoffMs: RECONNECT_BACKOFF_MIN_MS,
        retryAt: 0,
        watching: false,
      };
      this.connections.set(addr, connection);
    }
    return connection;
  }

  private stream(addr: string, connection: Connection): ClientWritableStream<Uint8Array> | undefined {
    if (connection.stream) return connection.stream;
    if (this.nowMs() < connection.retryAt) return undefined;
    const path = connection.legacy ? RAFT_PATH : BATCH_RAFT_PATH;
    const stream: ClientWritableStream<Uint8Array> = connection.client.makeClientStreamRequest(
      path,
      passBytes,
      (bytes: Buffer) => Done.decode(bytes),
      (err: ServiceError | null) => {
        if (connection.stream !== stream) return;
        connection.stream = undefined;
        if (!err || this.closed) return;
        if (err.code === GrpcStatus.UNIMPLEMENTED && !connection.legacy) {
          // A TinyKV store without BatchRaft: use TinyKv/Raft from now on, without waiting.
          connection.legacy = true;
          this.logger.info({ addr }, 'peer store has no BatchRaft; using TinyKv/Raft');
          return;
        }
        connection.retryAt = this.nowMs() + connection.backoffMs;
        connection.backoffMs = Math.min(connection.backoffMs * 2, RECONNECT_BACKOFF_MAX_MS);
        this.resolver.invalidateAddress?.(addr);
        this.retryWhenReady(connection);
        this.logger.debug({ addr, err: err.message }, 'raft stream failed; reconnecting with backoff');
      },
    );
    stream.on('error', () => {}); // reported through the callback above
    connection.stream = stream;
    connection.backoffMs = RECONNECT_BACKOFF_MIN_MS;
    return stream;
  }

  /**
   * Asks the channel to connect now and, once it is READY, lets the next flush open the stream
   * without waiting out the transport's backoff: a store that comes back is written to at once.
   */
  private retryWhenReady(connection: Connection): void {
    if (connection.watching || this.closed) return;
    const channel = connection.client.getChannel();
    // Bounded: one watch at a time per connection, for at most one backoff period.
    const deadlineMs = Date.now() + RECONNECT_BACKOFF_MAX_MS;
    const watch = (state: connectivityState, reconnected: boolean) => {
      if (state === connectivityState.READY) {
        // Only a channel that just came back skips the backoff; one that stayed READY while the
        // stream failed (the peer refused it) keeps it, so a refusing peer is not retried in a loop.
        if (reconnected) connection.retryAt = 0;
        return;
      }
      if (state === connectivityState.SHUTDOWN || Date.now() >= deadlineMs) return;
      connection.watching = true;
      channel.watchConnectivityState(state, deadlineMs, () => {
        connection.watching = false;
        if (!this.closed) watch(channel.getConnectivityState(false), true);
      });
    };
    watch(channel.getConnectivityState(true), false);
  }

  private sendSnapshot(connection: Connection, message: RaftMessage): void {
    // The caller routes only MsgSnapshot here, and Raft never sends one without a snapshot.
    const inner = defined(message.message, 'raft message');
    const snapshot = defined(inner.snapshot, 'MsgSnapshot snapshot');
    const data = snapshot.data;
    const head = RaftMessage.fromPartial({ ...message, message: { ...inner, snapshot: { ...snapshot, data: Buffer.alloc(0) } } });
    this.sendingSnapshots++;
    const startMs = performance.now();
    const stream = connection.client.snapshot((err) => {
      this.sendingSnapshots--;
      const fields = { regionId: message.regionId, toStore: message.toPeer?.storeId, sizeBytes: data.length };
      if (err) this.logger.warn({ ...fields, err: err.message }, 'snapshot send failed');
      else this.logger.info({ ...fields, index: snapshot.metadata?.index, durationMs: Math.round(performance.now() - startMs) }, 'snapshot sent');
    });
    stream.on('error', () => {});
    stream.write(SnapshotChunk.fromPartial({ message: head }));
    for (let offset = 0; offset < data.length; offset += SNAPSHOT_CHUNK_BYTES) {
      stream.write(SnapshotChunk.fromPartial({ data: data.subarray(offset, offset + SNAPSHOT_CHUNK_BYTES) }));
    }
    stream.end();
  }
}
