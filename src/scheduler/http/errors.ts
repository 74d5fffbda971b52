/**
 * Errors of the admin HTTP API and the one mapping from any error to an HTTP status. Domain errors
 * (SchedulerError) keep their codes; only the HTTP layer's own refusals have `KV:Http:*` codes.
 */
import { TinyKvError } from '../../util/errors.js';
import { SchedulerErrorCode, type SchedulerErrorCodeValue } from '../errors.js';

export const HttpErrorCode = {
  /** No route for the path, or nothing at it (an operator to cancel). */
  NotFound: 'KV:Http:NotFound',
  /** The path exists but not for this method. */
  MethodNotAllowed: 'KV:Http:MethodNotAllowed',
  /** The request body is over the server's limit. */
  BodyTooLarge: 'KV:Http:BodyTooLarge',
  /** The request body is not JSON, or not the JSON shape the route takes. */
  MalformedJson: 'KV:Http:MalformedJson',
  /** The request did not finish within the server's time limit. */
  Timeout: 'KV:Http:Timeout',
} as const;

export type HttpErrorCodeValue = (typeof HttpErrorCode)[keyof typeof HttpErrorCode];

export class HttpError extends TinyKvError {
  declare readonly code: HttpErrorCodeValue;

  constructor(
    readonly status: number,
    code: HttpErrorCodeValue,
    message: string,
  ) {
    super(code, message);
  }
}

/** Code an unexpected failure (a bug) is answered with, the same as at the gRPC edge. */
export const UNEXPECTED_ERROR_CODE = 'KV:Internal:Unexpected';

const SCHEDULER_HTTP_STATUS: Readonly<Record<SchedulerErrorCodeValue, number>> = {
  [SchedulerErrorCode.ClusterIdMismatch]: 400,
  [SchedulerErrorCode.NotBootstrapped]: 503,
  [SchedulerErrorCode.AlreadyBootstrapped]: 409,
  [SchedulerErrorCode.StoreTombstone]: 410,
  [SchedulerErrorCode.RegionNotFound]: 404,
  [SchedulerErrorCode.StoreNotFound]: 404,
  [SchedulerErrorCode.DuplicateStoreAddress]: 409,
  [SchedulerErrorCode.StaleRegion]: 409,
  [SchedulerErrorCode.UnknownRegion]: 404,
  [SchedulerErrorCode.InvalidArgument]: 400,
  [SchedulerErrorCode.RegionConflict]: 409,
  [SchedulerErrorCode.StreamStoreMismatch]: 409,
  [SchedulerErrorCode.OperatorExists]: 409,
  [SchedulerErrorCode.OperatorRejected]: 400,
  [SchedulerErrorCode.SchedulerNotFound]: 404,
  [SchedulerErrorCode.SchedulerExists]: 409,
  [SchedulerErrorCode.StoreNotDrained]: 409,
};

export interface ErrorAnswer {
  readonly status: number;
  readonly code: string;
  readonly message: string;
  /** False for a bug: the message stays in the log, the client gets a generic one. */
  readonly expected: boolean;
}

export function errorAnswer(err: unknown): ErrorAnswer {
  if (err instanceof HttpError) return { status: err.status, code: err.code, message: err.message, expected: true };
  if (err instanceof TinyKvError) {
    const status = (SCHEDULER_HTTP_STATUS as Readonly<Record<string, number>>)[err.code];
    if (status !== undefined) return { status, code: err.code, message: err.message, expected: true };
    return { status: 500, code: err.code, message: err.message, expected: false };
  }
  return { status: 500, code: UNEXPECTED_ERROR_CODE, message: 'internal error', expected: false };
}
