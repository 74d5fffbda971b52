/**
 * One Tso stream, shared by the scheduler and the standalone node's scheduler service.
 *
 * - Every request is answered, in order, before the stream ends: a half-close ends the stream only
 *   once the answers still waiting for the oracle (e.g. for the timestamp window to be saved) are
 *   written.
 * - Bounded: with `maxPendingRequests` requests unanswered, or with answers piling up unread
 *   (call.write() returned false), the stream stops reading requests until they drain. HTTP/2 flow
 *   control then holds the client back, so a client that sends without reading costs a bounded
 *   amount of memory.
 */
import type { ServerDuplexStream } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import type { ResponseHeader, TsoRequest, TsoResponse } from '../proto/schedulerpb.js';
import { toServiceError } from '../rpc/error-status.js';
import { isTinyKvError } from '../util/errors.js';
import { tsoResponse, type Timestamp } from './tso.js';

/** Unanswered requests one stream may have before it stops reading. */
export const TSO_MAX_PENDING_REQUESTS_PER_STREAM = 64;

export interface TsoStreamOptions {
  allocate(count: number): Promise<Timestamp>;
  header(): ResponseHeader;
  /** Throws for a request the server refuses; the stream then ends with that error's status. */
  check?(request: TsoRequest): void;
  readonly logger: Logger;
  readonly maxPendingRequests?: number;
  /** Called once when the stream is over (ended, failed or cancelled). */
  onDone?(): void;
}

export interface TsoStreamHandle {
  /** Takes no more requests; ends the stream once the pending ones are answered. */
  close(): void;
}

export function serveTsoStream(call: ServerDuplexStream<TsoRequest, TsoResponse>, options: TsoStreamOptions): TsoStreamHandle {
  const maxPending = options.maxPendingRequests ?? TSO_MAX_PENDING_REQUESTS_PER_STREAM;
  let pending = 0;
  let writeBlocked = false;
  let paused = false;
  let noMoreRequests = false; // half-closed by the client, or closed by the server
  let done = false;

  const finish = () => {
    if (done) return false;
    done = true;
    options.onDone?.();
    return true;
  };

  const updateFlow = () => {
    if (done) return;
    const shouldPause = pending >= maxPending || writeBlocked;
    if (shouldPause && !paused) call.pause();
    else if (!shouldPause && paused) call.resume();
    paused = shouldPause;
  };

  const maybeEnd = () => {
    if (noMoreRequests && pending === 0 && finish()) call.end(); // queued answers go out before the status
  };

  const fail = (err: unknown) => {
    if (finish()) call.emit('error', toServiceError(err));
  };

  call.on('data', (request: TsoRequest) => {
    if (done || noMoreRequests) return;
    try {
      options.check?.(request);
    } catch (err) {
      fail(err);
      return;
    }
    pending++;
    updateFlow();
    options.allocate(request.count).then(
      (ts) => {
        pending--;
        if (done || call.cancelled) return;
        if (!call.write(tsoResponse(options.header(), request.count, ts)) && !writeBlocked) {
          writeBlocked = true;
          call.once('drain', () => {
            writeBlocked = false;
            updateFlow();
          });
        }
        updateFlow();
        maybeEnd();
      },
      (err: unknown) => {
        pending--;
        if (!isTinyKvError(err)) options.logger.error({ err }, 'tso allocation failed');
        fail(err);
      },
    );
  });
  call.on('end', () => {
    noMoreRequests = true;
    maybeEnd();
  });
  call.on('error', finish);
  call.on('cancelled', finish);

  return {
    close: () => {
      noMoreRequests = true;
      maybeEnd();
    },
  };
}
