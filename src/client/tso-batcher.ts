/**
 * Timestamps over one long-lived Tso stream, batched.
 *
 * Callers queue up while one TsoRequest is in flight; the next request asks for all of them at
 * once (the sum of their counts, at most TSO_MAX_BATCH) and hands each caller its consecutive
 * range out of the answer (the response carries the last timestamp of the whole batch). Only one
 * request is in flight, so answers cannot be misaligned. A broken or silent stream is torn down
 * and reopened after a backoff; its callers are re-queued (the timestamps of a lost response are
 * simply skipped, which is safe) up to a bounded number of attempts each.
 */
import type { ClientDuplexStream, ServiceError } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { TsoRequest, type ResponseHeader, type TsoResponse } from '../proto/schedulerpb.js';
import { ClientError, ClientErrorCode, fromServiceError, invalidArgument } from './errors.js';
import { sleep } from './util.js';

export const PHYSICAL_SHIFT = 18n;
/** Largest count one TsoRequest may ask for (the server's TSO_MAX_COUNT). */
export const TSO_MAX_BATCH = 10_000;

export function composeTs(physicalMs: bigint, logical: bigint): bigint {
  return (physicalMs << PHYSICAL_SHIFT) | logical;
}

export function physicalMs(ts: bigint): bigint {
  return ts >> PHYSICAL_SHIFT;
}

type TsoStream = ClientDuplexStream<TsoRequest, TsoResponse>;

/** What the batcher needs from the scheduler client that owns it. */
export interface TsoStreamSource {
  /** Opens a Tso stream to the member the client talks to now. */
  openTsoStream(): TsoStream;
  readonly clusterId: bigint;
  /** Looks for the (new) leader after a transport failure, before the stream is reopened. */
  rediscover(): Promise<void>;
  /** Raises the scheduler's in-band header error, if any. */
  checkHeader(header: ResponseHeader | undefined, what: string): void;
}

export interface TsoBatcherOptions {
  readonly logger: Logger;
  /** How long one request may wait for its answer before the stream is torn down. */
  readonly timeoutMs: number;
  /** How many requests one caller's timestamps may ride on before it fails. */
  readonly maxAttempts: number;
  readonly backoffMs: (attempt: number) => number;
}

interface TsoWaiter {
  readonly count: number;
  /** Receives the last timestamp of this caller's range. */
  resolve(last: bigint): void;
  reject(err: unknown): void;
  attempts: number;
}

export class TsoBatcher {
  private closed = false;
  private stream: TsoStream | undefined;
  private pending: TsoWaiter[] = [];
  private inFlight: TsoWaiter[] | undefined;
  private inFlightTimer: NodeJS.Timeout | undefined;
  private reopenAttempt = 0;
  private reopening = false;
  private lastTs = 0n;
  /** Requests sent and timestamps handed out, for tests and metrics. */
  readonly stats = { tsoRequests: 0, timestamps: 0 };

  constructor(
    private readonly source: TsoStreamSource,
    private readonly options: TsoBatcherOptions,
  ) {}

  /** `count` consecutive timestamps; resolves to the last (the range is `last - count + 1 .. last`). */
  next(count: number): Promise<bigint> {
    if (!Number.isInteger(count) || count < 1 || count > TSO_MAX_BATCH) {
      return Promise.reject(invalidArgument(`tso count must be an integer in 1..${TSO_MAX_BATCH}, got ${count}`));
    }
    if (this.closed) return Promise.reject(closedError());
    return new Promise<bigint>((resolve, reject) => {
      this.pending.push({ count, resolve, reject, attempts: 0 });
      this.flush();
    });
  }

  /** Fails every waiting caller with ClientClosed and drops the stream. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.inFlightTimer);
    const waiters = [...(this.inFlight ?? []), ...this.pending];
    this.inFlight = undefined;
    this.pending = [];
    for (const waiter of waiters) waiter.reject(closedError());
    const stream = this.stream;
    this.stream = undefined;
    stream?.cancel();
  }

  private flush(): void {
    if (this.closed || this.inFlight !== undefined || this.reopening || this.pending.length === 0) return;
    const batch = this.takeBatch();
    this.inFlight = batch;
    const stream = this.openStream();
    this.stats.tsoRequests++;
    const timeoutMs = this.options.timeoutMs;
    this.inFlightTimer = setTimeout(
      () => this.failStream(stream, new ClientError(ClientErrorCode.Transport, `Tso: no response within ${timeoutMs} ms`)),
      timeoutMs,
    );
    stream.write(TsoRequest.fromPartial({ header: { clusterId: this.source.clusterId }, count: totalCount(batch) }));
  }

  /** The longest prefix of the queue whose counts fit in one request (always at least one caller). */
  private takeBatch(): TsoWaiter[] {
    let total = 0;
    let n = 0;
    for (let waiter = this.pending[n]; waiter !== undefined && total + waiter.count <= TSO_MAX_BATCH; waiter = this.pending[++n]) {
      total += waiter.count;
    }
    return this.pending.splice(0, Math.max(1, n));
  }

  private openStream(): TsoStream {
    if (this.stream !== undefined) return this.stream;
    const stream = this.source.openTsoStream();
    this.stream = stream;
    stream.on('data', (res: TsoResponse) => this.onResponse(stream, res));
    stream.on('error', (err: ServiceError) => this.failStream(stream, fromServiceError(err, 'Tso')));
    stream.on('end', () => this.failStream(stream, new ClientError(ClientErrorCode.Transport, 'Tso: stream ended by the server')));
    return stream;
  }

  private onResponse(stream: TsoStream, res: TsoResponse): void {
    if (stream !== this.stream) return;
    const batch = this.inFlight;
    if (batch === undefined) {
      this.failStream(stream, new ClientError(ClientErrorCode.ServerError, 'Tso: response without a request'));
      return;
    }
    clearTimeout(this.inFlightTimer);
    this.inFlight = undefined;
    this.reopenAttempt = 0;
    try {
      this.handOut(batch, res);
    } catch (err) {
      for (const waiter of batch) waiter.reject(err);
    }
    this.flush();
  }

  private handOut(batch: readonly TsoWaiter[], res: TsoResponse): void {
    this.source.checkHeader(res.header, 'Tso');
    const total = totalCount(batch);
    if (res.timestamp === undefined || res.count !== total || res.timestamp.logical < BigInt(total) - 1n) {
      throw new ClientError(ClientErrorCode.ServerError, `Tso: malformed response (asked ${total}, got count ${res.count})`);
    }
    const last = composeTs(res.timestamp.physical, res.timestamp.logical);
    const first = last - BigInt(total) + 1n;
    if (first <= this.lastTs) {
      throw new ClientError(ClientErrorCode.ServerError, `Tso: timestamp ${first} is not above the last one handed out (${this.lastTs})`);
    }
    this.lastTs = last;
    this.stats.timestamps += total;
    let end = first - 1n;
    for (const waiter of batch) {
      end += BigInt(waiter.count);
      waiter.resolve(end);
    }
  }

  private failStream(stream: TsoStream, err: ClientError): void {
    if (stream !== this.stream) return;
    this.stream = undefined;
    clearTimeout(this.inFlightTimer);
    stream.removeAllListeners('data');
    stream.on('error', () => {}); // late errors of a dropped stream
    stream.cancel();
    const batch = this.inFlight ?? [];
    this.inFlight = undefined;
    if (this.closed) return;
    const retry: TsoWaiter[] = [];
    for (const waiter of batch) {
      waiter.attempts++;
      if (waiter.attempts >= this.options.maxAttempts || !err.retryable) waiter.reject(err);
      else retry.push(waiter);
    }
    this.pending.unshift(...retry);
    this.options.logger.warn({ err: err.message, retrying: retry.length }, 'tso stream failed; reopening');
    this.reopen(err);
  }

  private reopen(err: ClientError): void {
    this.reopening = true;
    void sleep(this.options.backoffMs(this.reopenAttempt++))
      .then(() => (err.code === ClientErrorCode.Transport && !this.closed ? this.source.rediscover() : undefined))
      .then(() => {
        this.reopening = false;
        this.flush();
      });
  }
}

function totalCount(batch: readonly TsoWaiter[]): number {
  return batch.reduce((sum, waiter) => sum + waiter.count, 0);
}

export function closedError(): ClientError {
  return new ClientError(ClientErrorCode.ClientClosed, 'the client is closed');
}
