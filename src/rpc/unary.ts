/**
 * One promise wrapper for gRPC unary calls, so the deadline, cancellation and the mapping of a
 * failed status to an error are decided in one place rather than in every client.
 *
 * The error mapping is a parameter: this folder is shared plumbing and must not depend on the
 * client library's error type (src/client imports src/rpc, not the other way round).
 */
import { Metadata, type CallOptions, type ClientUnaryCall, type ServiceError } from '@grpc/grpc-js';

/** The shape of every generated unary method of @grpc/grpc-js clients (the metadata + options overload). */
export type UnaryMethod<Req, Res> = (
  request: Req,
  metadata: Metadata,
  options: Partial<CallOptions>,
  callback: (error: ServiceError | null, response: Res) => void,
) => ClientUnaryCall;

export interface UnaryCallOptions {
  /** Deadline of this call, from now. */
  readonly timeoutMs: number;
  /** Cancels the call; it then fails with the CANCELLED status (mapped like any other). */
  readonly signal?: AbortSignal;
}

/**
 * Calls `method` on `client` and settles with the response, or with `toError(status)` when the call
 * fails (deadline exceeded, cancelled, unreachable, or an error status from the server).
 */
export function callUnary<Req, Res>(
  client: object,
  method: UnaryMethod<Req, Res>,
  request: Req,
  options: UnaryCallOptions,
  toError: (error: ServiceError) => Error,
): Promise<Res> {
  return new Promise<Res>((resolve, reject) => {
    const deadline = new Date(Date.now() + options.timeoutMs);
    const signal = options.signal;
    const onAbort = () => call.cancel();
    const call = method.call(client, request, new Metadata(), { deadline }, (error, response) => {
      signal?.removeEventListener('abort', onAbort);
      if (error) reject(toError(error));
      else resolve(response);
    });
    if (signal === undefined) return;
    if (signal.aborted) call.cancel();
    else signal.addEventListener('abort', onAbort, { once: true });
  });
}
