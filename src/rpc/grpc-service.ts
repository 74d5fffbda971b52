/**
 * Adapts promise-returning handlers to grpc-js: answers a failure with its status
 * (rpc/error-status.ts), counts in-flight calls for graceful shutdown, and answers UNIMPLEMENTED
 * for methods whose feature has not landed.
 */
import {
  status as GrpcStatus,
  type ServiceDefinition,
  type UntypedHandleCall,
  type UntypedServiceImplementation,
  type sendUnaryData,
  type ServerUnaryCall,
} from '@grpc/grpc-js';
import type { RequestLog } from '../log/request-log.js';
import { performance } from 'node:perf_hooks';
import { ErrorCode, TinyKvError } from '../util/errors.js';
import { grpcStatusOf, toServiceError } from './error-status.js';

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

/** `requests` logs the slow calls and those answered DATA_LOSS or INTERNAL (log/request-log.ts). */
/**
 * Told how each call of one method ended (metrics). Bound per method once, so a call costs no
 * lookup; `startedMs` is performance.now() when the call arrived.
 */
export interface CallObserver {
  done(code: GrpcStatus, startedMs: number): void;
}

/**
 * A handler as every call of `method` runs it, unary or in a BatchCommands stream: counted in
 * flight (refused once the server is closing), logged when slow or failed, observed for metrics.
 * Rejects with the handler's own error; the caller maps it to a gRPC status.
 */
export function observedCall<Req, Res>(
  method: string,
  handler: UnaryHandler<Req, Res>,
  tracker: CallTracker,
  requests: RequestLog,
  observer?: CallObserver,
): (request: Req) => Promise<Res> {
  return async (request) => {
    const startedMs = performance.now();
    if (!tracker.enter()) {
      const refusal = new TinyKvError(ErrorCode.ServerClosing, 'server is shutting down');
      observer?.done(toServiceError(refusal).code, startedMs);
      throw refusal;
    }
    let response: Res;
    try {
      response = await handler(request);
    } catch (err) {
      tracker.leave();
      requests.finished(method, request, performance.now() - startedMs, grpcStatusOf(err), err);
      observer?.done(toServiceError(err).code, startedMs);
      throw err;
    }
    tracker.leave();
    requests.finished(method, request, performance.now() - startedMs, GrpcStatus.OK);
    observer?.done(GrpcStatus.OK, startedMs);
    return response;
  };
}

export function unary<Req, Res>(
  method: string,
  handler: UnaryHandler<Req, Res>,
  tracker: CallTracker,
  requests: RequestLog,
  observer?: CallObserver,
): (call: ServerUnaryCall<Req, Res>, callback: sendUnaryData<Res>) => void {
  return unaryOf(observedCall(method, handler, tracker, requests, observer));
}

/** A grpc-js unary handler over an observed call (observedCall). */
export function unaryOf<Req, Res>(run: (request: Req) => Promise<Res>): (call: ServerUnaryCall<Req, Res>, callback: sendUnaryData<Res>) => void {
  return (call, callback) => {
    run(call.request).then(
      (response) => callback(null, response),
      (err: unknown) => callback(toServiceError(err), null),
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
