/**
 * A server-wide budget for response bytes that are encoded but not yet sent (TiKV's
 * grpc-memory-pool-quota is the model).
 *
 * HTTP/2 flow control keeps a response in this process until the client reads it, so a client
 * that opens many calls and never reads would otherwise pin any amount of memory. Every unary
 * response is encoded here, counted against the budget while its call is open, and released once
 * grpc-js reports the call over (the status went out after the last data frame, or the stream was
 * reset). A response that does not fit is replaced by RESOURCE_EXHAUSTED with the stable code
 * KV:Server:MemoryQuotaExceeded; the client may retry once memory has drained.
 *
 * Streaming responses are not counted here: their handlers write with backpressure (call.write()
 * returning false pauses them until 'drain'), which bounds them per stream.
 */
import { ServerInterceptingCall, type ServerInterceptingCallInterface, type ServerInterceptor, type ServiceDefinition } from '@grpc/grpc-js';
import { ErrorCode, TinyKvError } from '../util/errors.js';
import { toServiceError } from './error-status.js';

/** Answers this small (an error, a RawGet of a short value, a commit) may use the reserve. */
export const SMALL_RESPONSE_BYTES = 16 * 1024;

export class ResponseMemoryQuota {
  private usedBytes = 0;
  /**
   * Small answers may go this far past the limit, so cheap calls from other clients keep working
   * while large responses are refused.
   */
  readonly reserveBytes: number;

  constructor(readonly limitBytes: number) {
    this.reserveBytes = Math.floor(limitBytes / 8);
  }

  get inUseBytes(): number {
    return this.usedBytes;
  }

  /** No room left for a response larger than a small one. */
  get isExhausted(): boolean {
    return this.usedBytes + SMALL_RESPONSE_BYTES >= this.limitBytes;
  }

  tryAcquire(sizeBytes: number): boolean {
    const ceiling = sizeBytes <= SMALL_RESPONSE_BYTES ? this.limitBytes + this.reserveBytes : this.limitBytes;
    if (this.usedBytes + sizeBytes > ceiling) return false;
    this.usedBytes += sizeBytes;
    return true;
  }

  release(sizeBytes: number): void {
    this.usedBytes -= sizeBytes;
  }
}

/** Marks a response serializer that passes already encoded bytes through. */
const PASSES_ENCODED = Symbol('passesEncodedResponses');

type Serialize = ((value: unknown) => Buffer) & { [PASSES_ENCODED]?: true };

/**
 * The service with serializers that accept a response the quota interceptor already encoded, so
 * each response is encoded once. Register services through this where the interceptor is installed.
 */
export function acceptingEncodedResponses<T extends ServiceDefinition>(service: T): T {
  const wrapped: Record<string, unknown> = {};
  for (const [name, method] of Object.entries(service)) {
    const serialize = method.responseSerialize as Serialize;
    const passing: Serialize = (value) => (Buffer.isBuffer(value) ? value : serialize(value));
    passing[PASSES_ENCODED] = true;
    wrapped[name] = { ...method, responseSerialize: passing };
  }
  return wrapped as T;
}

/** `sizeBytes` 0: refused before it ran. */
function refusal(quota: ResponseMemoryQuota, sizeBytes: number) {
  const what = sizeBytes > 0 ? `this ${sizeBytes}-byte response is refused` : 'this call is refused before it runs';
  const error = new TinyKvError(
    ErrorCode.MemoryQuotaExceeded,
    `server is holding ${quota.inUseBytes} bytes of unsent responses (quota ${quota.limitBytes}); ${what}, retry later`,
    {},
    { retryable: true },
  );
  return toServiceError(error);
}

/**
 * Methods whose answers are large by design (scans). While the quota is used up they are refused
 * before any work is done, instead of being run only to have their answer refused.
 */
export const LARGE_RESPONSE_METHODS: ReadonlySet<string> = new Set([
  '/tinykvpb.TinyKv/RawScan',
  '/tinykvpb.TinyKv/KvScan',
  '/tinykvpb.TinyKv/Coprocessor',
  '/schedulerpb.Scheduler/ScanRegions',
  '/schedulerpb.Scheduler/GetAllStores',
]);

/** Counts each unary response against `quota` from the moment it is sent until its call is over. */
export function responseQuotaInterceptor(quota: ResponseMemoryQuota): ServerInterceptor {
  return (method, call: ServerInterceptingCallInterface) => {
    if (method.responseStream) return new ServerInterceptingCall(call);
    const serialize = method.responseSerialize as Serialize;
    const large = LARGE_RESPONSE_METHODS.has(method.path);
    let heldBytes = 0;
    let over = false;
    const release = () => {
      over = true;
      quota.release(heldBytes);
      heldBytes = 0;
    };
    return new ServerInterceptingCall(call, {
      start: (next) =>
        next({
          onReceiveMetadata: (metadata, forward) => {
            // The handler never starts; grpc-js discards the request body.
            if (large && quota.isExhausted) call.sendStatus(refusal(quota, 0));
            else forward(metadata);
          },
          // grpc-js reports cancel once the status has gone out after the data (or the stream closed).
          onCancel: release,
        }),
      sendMessage: (message, next) => {
        // A handler that finishes after its call ended: grpc-js drops the message; hold nothing.
        if (over) {
          next(message);
          return;
        }
        let encoded: Buffer;
        try {
          encoded = serialize(message);
        } catch {
          next(message); // grpc-js reports the encoding failure itself
          return;
        }
        if (!quota.tryAcquire(encoded.length)) {
          call.sendStatus(refusal(quota, encoded.length));
          return;
        }
        heldBytes += encoded.length;
        next(serialize[PASSES_ENCODED] ? encoded : message);
      },
    });
  };
}
