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
  const stream = new TsoStream(call, options);
  call.on('data', (request: TsoRequest) => stream.onRequest(request));
  call.on('end', () => stream.close()); // half-closed by the client
  call.on('error', () => stream.finish());
  call.on('cancelled', () => stream.finish());
  return { close: () => stream.close() };
}

/** The state of one stream: requests waiting for the oracle, and whether reading is paused. */
class TsoStream {
  private readonly maxPending: number;
  private pending = 0;
  private writeBlocked = false;
  private paused = false;
  private noMoreRequests = false; // half-closed by the client, or closed by the server
  private done = false;

  constructor(
    private readonly call: ServerDuplexStream<TsoRequest, TsoResponse>,
    private readonly options: TsoStreamOptions,
  ) {
    this.maxPending = options.maxPendingRequests ?? TSO_MAX_PENDING_REQUESTS_PER_STREAM;
  }

  onRequest(request: TsoRequest): void {
    if (this.done || this.noMoreRequests) return;
    try {
      this.options.check?.(request);
    } catch (err) {
      this.fail(err);
      return;
    }
    this.pending++;
    this.updateFlow();
    this.options.allocate(request.count).then(
      (ts) => this.answer(request, ts),
      (err: unknown) => {
        this.pending--;
        if (!isTinyKvError(err)) this.options.logger.error({ err }, 'tso allocation failed');
        this.fail(err);
      },
    );
  }

  /** Takes no more requests; the stream ends once the pending ones are answered. */
  close(): void {
    this.noMoreRequests = true;
    this.maybeEnd();
  }

  /** Marks the stream over; false when it already was. */
  finish(): boolean {
    if (this.done) return false;
    this.done = true;
    this.options.onDone?.();
    return true;
  }

  private answer(request: TsoRequest, ts: Timestamp): void {
    this.pending--;
    if (this.done || this.call.cancelled) return;
    if (!this.call.write(tsoResponse(this.options.header(), request.count, ts)) && !this.writeBlocked) {
      this.writeBlocked = true;
      this.call.once('drain', () => {
        this.writeBlocked = false;
        this.updateFlow();
      });
    }
    this.updateFlow();
    this.maybeEnd();
  }

  private updateFlow(): void {
    if (this.done) return;
    const shouldPause = this.pending >= this.maxPending || this.writeBlocked;
    if (shouldPause && !this.paused) this.call.pause();
    else if (!shouldPause && this.paused) this.call.resume();
    this.paused = shouldPause;
  }

  private maybeEnd(): void {
    if (this.noMoreRequests && this.pending === 0 && this.finish()) this.call.end(); // queued answers go out before the status
  }

  private fail(err: unknown): void {
    if (this.finish()) this.call.emit('error', toServiceError(err));
  }
}
