/**
 * A fixed set of grpc-js channels, each its own HTTP/2 connection, making unary calls with
 * pre-encoded request bytes. No per-call deadline: a grpc-js deadline is a timer per call, paid by
 * the client that shares the CPU with the server under test; a stuck run is caught by the
 * runner's stall watchdog, which cancels the calls in flight instead.
 */
import { Client, credentials, status as GrpcStatus, type ClientUnaryCall, type ServiceError } from '@grpc/grpc-js';
import type { Error as RegionErrorPb } from '../../src/proto/errorpb.js';
import { defined } from '../../src/util/assert.js';
import { TinyKvError } from '../../src/util/errors.js';

const MAX_MESSAGE_BYTES = 64 * 1024 * 1024;

const passThrough = (bytes: Buffer): Buffer => bytes;

/** `connections` channels (at least one per address), channel i connected to addrs[i % addrs.length]. */
export function openChannels(addrs: readonly string[], connections: number): Client[] {
  if (addrs.length === 0) throw new Error('no address to connect to');
  return Array.from(
    { length: Math.max(connections, addrs.length) },
    (_, i) =>
      new Client(defined(addrs[i % addrs.length], 'address of a channel'), credentials.createInsecure(), {
        // Without this, channels with equal options share one subchannel, i.e. one connection.
        'grpc.use_local_subchannel_pool': 1,
        // Per-call client work a load generator does not need: channelz bookkeeping, and the
        // retry layer (which buffers every request in case it must be sent again).
        'grpc.enable_channelz': 0,
        'grpc.enable_retries': 0,
        'grpc.max_receive_message_length': MAX_MESSAGE_BYTES,
        'grpc.max_send_message_length': MAX_MESSAGE_BYTES,
      }),
  );
}

/** Resolves once every channel is connected; rejects naming the address that is not. */
export async function waitForChannels(clients: readonly Client[], addrs: readonly string[], timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  await Promise.all(
    clients.map(
      (client, i) =>
        new Promise<void>((resolve, reject) =>
          client.waitForReady(deadline, (err) =>
            err ? reject(new Error(`cannot connect to ${addrs[i % addrs.length]} within ${timeoutMs} ms: ${err.message}`)) : resolve(),
          ),
        ),
    ),
  );
}

/** What a target sends its calls through: unary calls (ChannelPool) or BatchCommands streams (BatchStreamPool). */
export interface CallPool {
  readonly size: number;
  ready(timeoutMs: number): Promise<void>;
  call<T>(lane: number, path: string, request: Buffer, parse: (response: Buffer) => T): Promise<T>;
  cancelAll(): void;
  close(): void;
}

/** Opens the pool of one store's (or node's) channels. */
export type CallPoolFactory = (addrs: readonly string[], connections: number) => CallPool;

export class ChannelPool implements CallPool {
  private readonly clients: Client[];
  private readonly inFlight = new Set<ClientUnaryCall>();

  /** `connections` channels, channel i connected to addrs[i % addrs.length]. */
  constructor(
    readonly addrs: readonly string[],
    connections: number,
  ) {
    this.clients = openChannels(addrs, connections);
  }

  get size(): number {
    return this.clients.length;
  }

  /** Resolves once every channel is connected; rejects naming the address that is not. */
  ready(timeoutMs: number): Promise<void> {
    return waitForChannels(this.clients, this.addrs, timeoutMs);
  }

  /**
   * Sends `request` (already encoded) on the lane's channel; `parse` turns the response bytes into
   * the result or throws for an application-level error.
   */
  call<T>(lane: number, path: string, request: Buffer, parse: (response: Buffer) => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const call = defined(this.clients[lane % this.clients.length], 'channel of a lane').makeUnaryRequest(
        path,
        passThrough,
        passThrough,
        request,
        (err, response) => {
          this.inFlight.delete(call);
          if (err) {
            reject(new BenchCallError(describeServiceError(err), err.code));
            return;
          }
          try {
            resolve(parse(defined(response, 'response of a call that did not fail')));
          } catch (parseErr) {
            reject(parseErr instanceof Error ? parseErr : new Error(String(parseErr)));
          }
        },
      );
      this.inFlight.add(call);
    });
  }

  cancelAll(): void {
    for (const call of this.inFlight) call.cancel();
    this.inFlight.clear();
  }

  close(): void {
    this.cancelAll();
    for (const client of this.clients) client.close();
  }
}

/** A failed call: a gRPC status or an error the store put in its response. */
export class BenchCallError extends TinyKvError {
  constructor(
    message: string,
    readonly grpcStatus?: GrpcStatus,
    /** The store's region error, which a routed target answers by refreshing the region and retrying. */
    readonly regionError?: RegionErrorPb,
  ) {
    // The code is written out (not BenchErrorCode's) so this module does not import the bench runner.
    super('KV:Bench:CallFailed', message);
  }
}

function describeServiceError(err: ServiceError): string {
  const name = GrpcStatus[err.code] ?? String(err.code);
  return `${name}: ${err.details || err.message}`;
}

/** The rejection every call on a target that is not connected (or already closed) gets. */
export function notConnected(target: string): Promise<never> {
  return Promise.reject(new Error(`${target} target is not connected`));
}
