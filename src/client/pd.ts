/**
 * The scheduler ("PD") client: cluster id discovery, batched timestamps over one long-lived Tso
 * stream, and region/store lookups.
 *
 * TSO batching: concurrent getTimestamp() calls queue up while one TsoRequest is in flight; the
 * next request asks for all of them at once (count = N) and hands out the N consecutive
 * timestamps ending at the returned one (the response carries the last logical of the batch).
 * A broken or silent stream is torn down and reopened; waiting callers are re-queued (timestamps
 * of a lost response are simply skipped, which is safe) up to a bounded number of attempts.
 */
import { RECONNECT_CHANNEL_OPTIONS } from '../util/grpc-channel.js';
import {
  credentials,
  Metadata,
  status as GrpcStatus,
  type ClientDuplexStream,
  type ServiceError,
} from '@grpc/grpc-js';
import type { Logger } from 'pino';
import type { Peer, Region, Store } from '../proto/metapb.js';
import {
  ErrorType,
  GetMembersRequest,
  GetRegionByIDRequest,
  GetRegionRequest,
  GetStoreRequest,
  SchedulerClient,
  TsoRequest,
  type GetMembersResponse,
  type ResponseHeader,
  type TsoResponse,
} from '../proto/schedulerpb.js';
import { ClientError, ClientErrorCode, fromServiceError } from './errors.js';
import { backoffMs, sleep } from './util.js';

export const PHYSICAL_SHIFT = 18n;
/** Largest count one TsoRequest may ask for (the server's TSO_MAX_COUNT). */
export const TSO_MAX_BATCH = 10_000;

export function composeTs(physicalMs: bigint, logical: bigint): bigint {
  return (physicalMs << PHYSICAL_SHIFT) | logical;
}

export function physicalMs(ts: bigint): bigint {
  return ts >> PHYSICAL_SHIFT;
}

export interface TimestampSource {
  getTimestamp(): Promise<bigint>;
}

export interface RegionLookup {
  readonly region: Region;
  readonly leader: Peer | undefined;
}

/** What the region cache needs from the scheduler. */
export interface RegionSource {
  /** The region containing `key`; throws a ClientError with grpcStatus UNIMPLEMENTED on a standalone node. */
  getRegion(key: Buffer): Promise<RegionLookup | undefined>;
  getRegionById(id: bigint): Promise<RegionLookup | undefined>;
  getStore(id: bigint): Promise<Store | undefined>;
}

export interface PdClientOptions {
  readonly logger: Logger;
  /** Deadline of unary calls and of one TSO round trip. */
  readonly timeoutMs?: number;
  /** How many times one getTimestamp() is re-sent after stream failures before it fails. */
  readonly tsoMaxAttempts?: number;
  readonly maxMessageBytes?: number;
}

interface TsoWaiter {
  resolve(ts: bigint): void;
  reject(err: unknown): void;
  attempts: number;
}

type Unary<Req, Res> = (req: Req, md: Metadata, opts: { deadline: Date }, cb: (err: ServiceError | null, res: Res) => void) => unknown;

export class PdClient implements TimestampSource, RegionSource {
  private closed = false;
  private stream: ClientDuplexStream<TsoRequest, TsoResponse> | undefined;
  private pending: TsoWaiter[] = [];
  private inFlight: TsoWaiter[] | undefined;
  private inFlightTimer: NodeJS.Timeout | undefined;
  private reopenAttempt = 0;
  private reopening = false;
  private lastTs = 0n;
  /** Client URLs (host:port) of every member, from the last GetMembers. */
  private members: string[] = [];
  private rediscovering: Promise<void> | undefined;
  /** Requests sent and timestamps handed out, for tests and metrics. */
  readonly stats = { tsoRequests: 0, timestamps: 0 };

  private constructor(
    private client: SchedulerClient,
    /** The member this client talks to. */
    public addr: string,
    readonly clusterId: bigint,
    private readonly seeds: readonly string[],
    private readonly options: Required<Omit<PdClientOptions, 'maxMessageBytes'>> & { maxMessageBytes: number },
  ) {}

  /** Finds a reachable member among `addrs` (following the reported leader), and reads the cluster id. */
  static async connect(addrs: readonly string[], options: PdClientOptions): Promise<PdClient> {
    const resolved = {
      logger: options.logger,
      timeoutMs: options.timeoutMs ?? 10_000,
      tsoMaxAttempts: options.tsoMaxAttempts ?? 5,
      maxMessageBytes: options.maxMessageBytes ?? 16 * 1024 * 1024,
    };
    let lastError: unknown;
    for (const addr of addrs) {
      try {
        const found = await discover(addr, resolved.maxMessageBytes, resolved.timeoutMs);
        const pd = new PdClient(found.client, found.addr, found.clusterId, addrs, resolved);
        pd.members = found.members;
        return pd;
      } catch (err) {
        lastError = err;
        options.logger.debug({ err, addr }, 'scheduler member unreachable');
      }
    }
    if (lastError instanceof ClientError) throw lastError;
    throw new ClientError(ClientErrorCode.Transport, `no scheduler reachable at ${addrs.join(', ')}`, { cause: lastError });
  }

  getTimestamp(): Promise<bigint> {
    if (this.closed) return Promise.reject(closedError());
    return new Promise<bigint>((resolve, reject) => {
      this.pending.push({ resolve, reject, attempts: 0 });
      this.flush();
    });
  }

  async getRegion(key: Buffer): Promise<RegionLookup | undefined> {
    const res = await this.call(this.client.getRegion, GetRegionRequest.fromPartial({ header: this.header(), regionKey: key }), 'GetRegion');
    return res.region === undefined ? undefined : { region: res.region, leader: res.leader };
  }

  async getRegionById(id: bigint): Promise<RegionLookup | undefined> {
    const res = await this.call(
      this.client.getRegionById,
      GetRegionByIDRequest.fromPartial({ header: this.header(), regionId: id }),
      'GetRegionByID',
    );
    return res.region === undefined ? undefined : { region: res.region, leader: res.leader };
  }

  async getStore(id: bigint): Promise<Store | undefined> {
    const res = await this.call(this.client.getStore, GetStoreRequest.fromPartial({ header: this.header(), storeId: id }), 'GetStore');
    return res.store;
  }

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
    this.client.close();
  }

  private header() {
    return { clusterId: this.clusterId };
  }

  private async call<Req, Res extends { header?: ResponseHeader | undefined }>(
    method: Unary<Req, Res>,
    request: Req,
    what: string,
  ): Promise<Res> {
    if (this.closed) throw closedError();
    let res: Res;
    try {
      res = await unary(this.client, method, request, this.options.timeoutMs, what);
    } catch (err) {
      if (!(err instanceof ClientError) || err.code !== ClientErrorCode.Transport) throw err;
      // The member may be gone: find the (new) leader among the known members and try once more.
      await this.rediscover();
      if (this.closed) throw closedError();
      res = await unary(this.client, method, request, this.options.timeoutMs, what);
    }
    checkHeader(res.header, what);
    return res;
  }

  /**
   * Looks for the leader among the known members (and the seed addresses) after a transport
   * failure, and switches to it. Concurrent callers share one search; failures are swallowed (the
   * caller's retry reports them).
   */
  private rediscover(): Promise<void> {
    this.rediscovering ??= (async () => {
      const candidates = [...new Set([...this.members, ...this.seeds].filter((a) => a !== this.addr)), this.addr];
      for (const addr of candidates) {
        if (this.closed) return;
        try {
          const found = await discover(addr, this.options.maxMessageBytes, this.options.timeoutMs);
          if (found.clusterId !== this.clusterId || this.closed) {
            found.client.close();
            continue;
          }
          this.members = found.members;
          if (found.addr !== this.addr) {
            this.options.logger.info({ from: this.addr, to: found.addr }, 'switching scheduler member');
            const old = this.client;
            this.client = found.client;
            this.addr = found.addr;
            old.close();
          } else {
            found.client.close();
          }
          return;
        } catch (err) {
          this.options.logger.debug({ err, addr }, 'scheduler member unreachable');
        }
      }
    })().finally(() => {
      this.rediscovering = undefined;
    });
    return this.rediscovering;
  }

  // ---- TSO ----

  private flush(): void {
    if (this.closed || this.inFlight !== undefined || this.reopening || this.pending.length === 0) return;
    const batch = this.pending.splice(0, TSO_MAX_BATCH);
    this.inFlight = batch;
    const stream = this.openStream();
    this.stats.tsoRequests++;
    this.inFlightTimer = setTimeout(
      () => this.failStream(stream, new ClientError(ClientErrorCode.Transport, `Tso: no response within ${this.options.timeoutMs} ms`)),
      this.options.timeoutMs,
    );
    stream.write(TsoRequest.fromPartial({ header: this.header(), count: batch.length }));
  }

  private openStream(): ClientDuplexStream<TsoRequest, TsoResponse> {
    if (this.stream !== undefined) return this.stream;
    const stream = this.client.tso();
    this.stream = stream;
    stream.on('data', (res: TsoResponse) => this.onTsoResponse(stream, res));
    stream.on('error', (err: ServiceError) => this.failStream(stream, fromServiceError(err, 'Tso')));
    stream.on('end', () => this.failStream(stream, new ClientError(ClientErrorCode.Transport, 'Tso: stream ended by the server')));
    return stream;
  }

  private onTsoResponse(stream: ClientDuplexStream<TsoRequest, TsoResponse>, res: TsoResponse): void {
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
      checkHeader(res.header, 'Tso');
      const count = BigInt(batch.length);
      if (res.timestamp === undefined || res.count !== batch.length || res.timestamp.logical < count - 1n) {
        throw new ClientError(ClientErrorCode.ServerError, `Tso: malformed response (asked ${batch.length}, got count ${res.count})`);
      }
      const last = composeTs(res.timestamp.physical, res.timestamp.logical);
      const first = last - count + 1n;
      if (first <= this.lastTs) {
        throw new ClientError(ClientErrorCode.ServerError, `Tso: timestamp ${first} is not above the last one handed out (${this.lastTs})`);
      }
      this.lastTs = last;
      this.stats.timestamps += batch.length;
      batch.forEach((waiter, i) => waiter.resolve(first + BigInt(i)));
    } catch (err) {
      for (const waiter of batch) waiter.reject(err);
    }
    this.flush();
  }

  private failStream(stream: ClientDuplexStream<TsoRequest, TsoResponse>, err: ClientError): void {
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
      if (waiter.attempts >= this.options.tsoMaxAttempts || !err.retryable) waiter.reject(err);
      else retry.push(waiter);
    }
    this.pending.unshift(...retry);
    this.options.logger.warn({ err: err.message, retrying: retry.length }, 'tso stream failed; reopening');
    this.reopening = true;
    const delay = 1 + backoffMs(this.reopenAttempt++, 10, 1000);
    void sleep(delay)
      .then(() => (err.code === ClientErrorCode.Transport ? this.rediscover() : undefined))
      .then(() => {
        this.reopening = false;
        this.flush();
      });
  }
}

/** Asks the member at `addr` for the membership; returns a client for the leader (or for `addr` itself when alone). */
async function discover(
  addr: string,
  maxMessageBytes: number,
  timeoutMs: number,
): Promise<{ client: SchedulerClient; addr: string; clusterId: bigint; members: string[] }> {
  const client = makeClient(addr, maxMessageBytes);
  let members: GetMembersResponse;
  try {
    members = await unary(client, client.getMembers, GetMembersRequest.fromPartial({}), timeoutMs, 'GetMembers');
  } catch (err) {
    client.close();
    throw err;
  }
  const clusterId = members.header?.clusterId ?? 0n;
  const urls = members.members.flatMap((m) => m.clientUrls.map(stripScheme)).filter((u) => u !== '');
  const leaderAddr = leaderAddress(members);
  // A single member is the one that answered: keep the address we reached it by.
  if (leaderAddr !== undefined && members.members.length > 1 && leaderAddr !== addr) {
    client.close();
    return { client: makeClient(leaderAddr, maxMessageBytes), addr: leaderAddr, clusterId, members: urls };
  }
  return { client, addr, clusterId, members: urls };
}

function stripScheme(url: string): string {
  return url.replace(/^[a-z]+:\/\//i, '').replace(/\/$/, '');
}

function makeClient(addr: string, maxMessageBytes: number): SchedulerClient {
  return new SchedulerClient(addr, credentials.createInsecure(), {
    'grpc.max_receive_message_length': maxMessageBytes,
    'grpc.max_send_message_length': maxMessageBytes,
    ...RECONNECT_CHANNEL_OPTIONS,
  });
}

function unary<Req, Res>(client: SchedulerClient, method: Unary<Req, Res>, request: Req, timeoutMs: number, what: string): Promise<Res> {
  return new Promise((resolve, reject) => {
    method.call(client, request, new Metadata(), { deadline: new Date(Date.now() + timeoutMs) }, (err, res) => {
      if (err) reject(fromServiceError(err, what));
      else resolve(res);
    });
  });
}

function checkHeader(header: ResponseHeader | undefined, what: string): void {
  const error = header?.error;
  if (error === undefined || error.type === ErrorType.OK) return;
  const serverCode = `Scheduler:${ErrorType[error.type] ?? error.type}`;
  const code =
    error.type === ErrorType.NOT_BOOTSTRAPPED || error.type === ErrorType.REGION_NOT_FOUND
      ? ClientErrorCode.RegionUnavailable
      : ClientErrorCode.ServerError;
  throw new ClientError(code, `${what}: ${error.message || serverCode}`, { serverCode });
}

function leaderAddress(members: GetMembersResponse): string | undefined {
  const url = members.leader?.clientUrls[0];
  if (url === undefined || url === '') return undefined;
  return stripScheme(url);
}

function closedError(): ClientError {
  return new ClientError(ClientErrorCode.ClientClosed, 'the client is closed');
}

export function isUnimplemented(err: unknown): boolean {
  return err instanceof ClientError && err.grpcStatus === GrpcStatus.UNIMPLEMENTED;
}
