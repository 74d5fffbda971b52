/**
 * A gRPC server that cannot listen: grpc-js reports it as "No address added out of total N
 * resolved errors: [...]"; the operator needs the address and the reason (in use, not allowed).
 */
import { ErrorCode, TinyKvError } from '../util/errors.js';

export function listenError(addr: string, cause: Error): TinyKvError {
  const reason = /EADDRINUSE/.test(cause.message)
    ? 'address already in use'
    : /EACCES/.test(cause.message)
      ? 'permission denied'
      : /EADDRNOTAVAIL/.test(cause.message)
        ? 'address not available on this machine'
        : cause.message;
  const error = new TinyKvError(ErrorCode.ListenFailed, `cannot listen on ${addr}: ${reason}`, { addr });
  error.cause = cause;
  return error;
}
