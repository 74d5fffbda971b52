/**
 * Adapts promise-returning handlers to grpc-js: maps TinyKvError codes to gRPC statuses (with the
 * stable code in the `tinykv-error-code` trailer), counts in-flight calls for graceful shutdown,
 * and answers UNIMPLEMENTED for methods whose feature has not landed.
 */
import {
  Metadata,
  status as GrpcStatus,
  type ServerErrorResponse,
  type ServiceDefinition,
  type UntypedHandleCall,
  type UntypedServiceImplementation,
  type sendUnaryData,
  type ServerUnaryCall,
} from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { ErrorCode, TinyKvError, isTinyKvError } from '../util/errors.js';

export type UnaryHandler<Req, Res> = (request: Req) => Promise<Res>;

/** Tracks calls in flight so shutdown can wait for them and refuse new ones. */
export class CallTracker {
  private inFlight = 0;
  private closing = false;
  private idleWaiters: Array<() => void> = [];

  get count(): number {
    return this.inFlight;
  }

  enter(): boolean {
    if (this.closing) return false;
    this.inFlight++;
    return true;
  }

  leave(): void {
    this.inFlight--;
    if (this.inFlight === 0) for (const wake of this.idleWaiters.splice(0)) wake();
  }

  /** Refuses new calls, then resolves once every call in flight has finished. */
  drain(): Promise<void> {
    this.closing = true;
    if (this.inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }
}

/** An error that knows its stable code and gRPC status (TinyKvError, TxnError). */
interface CodedError {
  readonly code: string;
  readonly grpcStatus: GrpcStatus;
  readonly message: string;
}

function isCodedError(err: unknown): err is CodedError {
  if (isTinyKvError(err)) return true;
  const candidate = err as Partial<CodedError> | null;
  return err instanceof Error && typeof candidate?.code === 'string' && typeof candidate.grpcStatus === 'number';
}

/**
 * Longest status message sent. Messages quote client input through quoteForError already; this
 * cap is the backstop, so no message can outgrow the peer's metadata limit (8 KiB by default).
 */
export const STATUS_DETAILS_MAX_CHARS = 1024;

function capDetails(details: string): string {
  return details.length <= STATUS_DETAILS_MAX_CHARS ? details : `${details.slice(0, STATUS_DETAILS_MAX_CHARS)}... (truncated)`;
}

export function toServiceError(err: unknown): Partial<ServerErrorResponse> {
  const metadata = new Metadata();
  if (isCodedError(err)) {
    metadata.set('tinykv-error-code', err.code);
    return { code: err.grpcStatus, details: capDetails(`[${err.code}] ${err.message}`), metadata };
  }
  metadata.set('tinykv-error-code', 'KV:Internal:Unexpected');
  const message = err instanceof Error ? err.message : String(err);
  return { code: GrpcStatus.INTERNAL, details: capDetails(`[KV:Internal:Unexpected] ${message}`), metadata };
}

export function unary<Req, Res>(
  method: string,
  handler: UnaryHandler<Req, Res>,
  tracker: CallTracker,
  logger: Logger,
): (call: ServerUnaryCall<Req, Res>, callback: sendUnaryData<Res>) => void {
  return (call, callback) => {
    if (!tracker.enter()) {
      callback(toServiceError(new TinyKvError(ErrorCode.ServerClosing, 'server is shutting down')), null);
      return;
    }
    handler(call.request).then(
      (response) => {
        tracker.leave();
        callback(null, response);
      },
      (err: unknown) => {
        tracker.leave();
        if (!isCodedError(err) || err.grpcStatus === GrpcStatus.INTERNAL) logger.error({ err, method }, 'request failed');
        callback(toServiceError(err), null);
      },
    );
  };
}

/** A handler for every method of `service` that answers UNIMPLEMENTED; overlay real ones on it. */
export function unimplementedService(service: ServiceDefinition, feature: (method: string) => string): UntypedServiceImplementation {
  const implementation: UntypedServiceImplementation = {};
  for (const [name, definition] of Object.entries(service)) {
    const error = () =>
      toServiceError(new TinyKvError(ErrorCode.Unimplemented, `${definition.path} is unavailable in this server (${feature(name)})`));
    // Calls that answer once take a callback; calls that stream responses take the error as an event.
    const answersOnce = !definition.responseStream;
    const handler = answersOnce
      ? (_call: unknown, callback: sendUnaryData<unknown>) => callback(error(), null)
      : (call: { emit: (event: string, err: unknown) => void }) => call.emit('error', error());
    implementation[name] = handler as UntypedHandleCall;
  }
  return implementation;
}
