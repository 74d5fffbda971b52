/**
 * A small promise-based client of the scheduler, for stores and tools.
 *
 * - `SchedulerClient.connect(addr)` learns the cluster id with GetMembers and stamps it on every
 *   request header afterwards.
 * - Every unary call has a deadline (`timeoutMs`) and is retried on UNAVAILABLE with exponential
 *   backoff (`backoffBaseMs` doubling up to `backoffMaxMs`, at most `maxRetries` retries), so a
 *   scheduler restart is ridden out; grpc-js reconnects the channel underneath.
 * - Header errors (NOT_BOOTSTRAPPED, ALREADY_BOOTSTRAPPED, STORE_TOMBSTONE, ...) and other gRPC
 *   statuses reject with a SchedulerClientError carrying `headerType` or `grpcCode` + `errorCode`.
 * - `tso(count)` uses one persistent Tso stream (requests answered in order), reopened on demand.
 * - `openRegionHeartbeat(onResponse)` keeps a RegionHeartbeat stream open, reopening it with
 *   backoff when it breaks; `send` reports false while there is no stream (heartbeats are
 *   periodic, so the next one goes out on the new stream).
 */
import { RECONNECT_CHANNEL_OPTIONS } from '../util/grpc-channel.js';
import { TinyKvError } from '../util/errors.js';
import { codeOfSchedulerHeaderType } from '../rpc/error-status.js';
import {
  Metadata,
  credentials,
  status as GrpcStatus,
  type CallOptions,
  type ClientDuplexStream,
  type ClientUnaryCall,
  type ServiceError,
} from '@grpc/grpc-js';
import {
  ErrorType,
  SchedulerClient as GrpcSchedulerClient,
  StoreStats,
  type DeepPartial,
  type AllocIDResponse,
  type AskSplitResponse,
  type BootstrapResponse,
  type GetAllStoresResponse,
  type GetClusterConfigResponse,
  type GetGCSafePointResponse,
  type GetMembersResponse,
  type GetRegionResponse,
  type GetStoreResponse,
  type IsBootstrappedResponse,
  type PutClusterConfigResponse,
  type PutStoreResponse,
  type ScanRegionsResponse,
  type StoreHeartbeatResponse,
  type UpdateGCSafePointResponse,
  type RegionHeartbeatRequest,
  type RegionHeartbeatResponse,
  type ResponseHeader,
  type TsoRequest,
  type TsoResponse,
} from '../proto/schedulerpb.js';
import type { Cluster, Peer, Region, Store } from '../proto/metapb.js';

export interface SchedulerClientOptions {
  /** Deadline of each attempt of a call, ms (default 3000). */
  readonly timeoutMs?: number;
  /** Retries after UNAVAILABLE (default 10, TinyKV's). */
  readonly maxRetries?: number;
  readonly backoffBaseMs?: number;
  readonly backoffMaxMs?: number;
  /** Skip discovery and use this cluster id. */
  readonly clusterId?: bigint;
}

/**
 * A failed scheduler call. `code` is the server's stable code (the trailer, or the one its header
 * error type stands for); without one, KV:Client:Transport for an unreachable or timed-out
 * scheduler, else KV:Client:ServerError.
 */
export class SchedulerClientError extends TinyKvError {
  constructor(
    message: string,
    /** The header error type, for errors answered in-band. */
    readonly headerType: ErrorType | undefined,
    /** The gRPC status, for errors answered as a status. */
    readonly grpcCode: GrpcStatus | undefined,
    /** The stable `tinykv-error-code` trailer, when the server sent one. */
    readonly errorCode: string | undefined,
  ) {
    super(schedulerClientCode(headerType, grpcCode, errorCode), message, {}, { retryable: grpcCode === GrpcStatus.UNAVAILABLE });
  }
}

const SCHEDULER_TRANSPORT_STATUSES: ReadonlySet<GrpcStatus | undefined> = new Set([
  GrpcStatus.UNAVAILABLE,
  GrpcStatus.DEADLINE_EXCEEDED,
  GrpcStatus.CANCELLED,
]);

function schedulerClientCode(headerType: ErrorType | undefined, grpcCode: GrpcStatus | undefined, errorCode: string | undefined): string {
  const serverCode = errorCode ?? (headerType === undefined ? undefined : codeOfSchedulerHeaderType(headerType));
  if (serverCode !== undefined) return serverCode;
  // The client library's codes for the same two cases (docs/errors.md, KV:Client:*).
  return SCHEDULER_TRANSPORT_STATUSES.has(grpcCode) ? 'KV:Client:Transport' : 'KV:Client:ServerError';
}

export interface RegionInfoReply {
  readonly region: Region;
  readonly leader: Peer | undefined;
}

export interface RegionHeartbeat {
  readonly region: Region;
  readonly leader: Peer;
  readonly pendingPeers?: readonly Peer[];
  readonly approximateSizeBytes?: number;
}

export interface RegionHeartbeatStream {
  /** Sends one heartbeat; false when no stream is open right now (the heartbeat is dropped). */
  send(heartbeat: RegionHeartbeat): boolean;
  readonly connected: boolean;
  close(): void;
}

type UnaryInvoker<Res> = (
  metadata: Metadata,
  options: Partial<CallOptions>,
  callback: (error: ServiceError | null, response: Res) => void,
) => ClientUnaryCall;

interface PendingTso {
  readonly count: number;
  readonly resolve: (ts: bigint) => void;
  readonly reject: (err: Error) => void;
  readonly timer: NodeJS.Timeout;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export class SchedulerClient {
  private readonly grpc: GrpcSchedulerClient;
  private readonly timeoutMs: number;
  private readonly maxRetries: number;
  private readonly backoffBaseMs: number;
  private readonly backoffMaxMs: number;
  private clusterIdValue: bigint;
  private tsoStream: ClientDuplexStream<TsoRequest, TsoResponse> | undefined;
  private tsoPending: PendingTso[] = [];
  private readonly heartbeatStreams = new Set<RegionHeartbeatStream>();
  private closed = false;

  private constructor(
    readonly addr: string,
    options: SchedulerClientOptions,
  ) {
    this.grpc = new GrpcSchedulerClient(addr, credentials.createInsecure(), { ...RECONNECT_CHANNEL_OPTIONS });
    this.timeoutMs = options.timeoutMs ?? 3_000;
    this.maxRetries = options.maxRetries ?? 10;
    this.backoffBaseMs = options.backoffBaseMs ?? 50;
    this.backoffMaxMs = options.backoffMaxMs ?? 1_000;
    this.clusterIdValue = options.clusterId ?? 0n;
  }

  /** Connects and learns the cluster id (unless given). */
  static async connect(addr: string, options: SchedulerClientOptions = {}): Promise<SchedulerClient> {
    const client = new SchedulerClient(addr, options);
    if (options.clusterId === undefined) {
      try {
        const members = await client.getMembers();
        client.clusterIdValue = members.header?.clusterId ?? 0n;
      } catch (err) {
        client.close();
        throw err;
      }
    }
    return client;
  }

  get clusterId(): bigint {
    return this.clusterIdValue;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const stream of [...this.heartbeatStreams]) stream.close();
    this.failTso(closedError());
    this.grpc.close();
  }

  // ---- unary calls ----------------------------------------------------------------------------

  getMembers(): Promise<GetMembersResponse> {
    const request = { header: this.header() };
    return this.unary<GetMembersResponse>((md, o, cb) => this.grpc.getMembers(request, md, o, cb));
  }

  async allocId(): Promise<number> {
    const request = { header: this.header() };
    const response = await this.unary<AllocIDResponse>((md, o, cb) => this.grpc.allocId(request, md, o, cb));
    return Number(response.id);
  }

  async isBootstrapped(): Promise<boolean> {
    const request = { header: this.header() };
    const response = await this.unary<IsBootstrappedResponse>((md, o, cb) => this.grpc.isBootstrapped(request, md, o, cb));
    return response.bootstrapped;
  }

  async bootstrap(store: Store): Promise<void> {
    const request = { header: this.header(), store };
    await this.unary<BootstrapResponse>((md, o, cb) => this.grpc.bootstrap(request, md, o, cb));
  }

  async putStore(store: Store): Promise<void> {
    const request = { header: this.header(), store };
    await this.unary<PutStoreResponse>((md, o, cb) => this.grpc.putStore(request, md, o, cb));
  }

  async getStore(storeId: number): Promise<{ store: Store; stats: StoreStats | undefined }> {
    const request = { header: this.header(), storeId: BigInt(storeId) };
    const response = await this.unary<GetStoreResponse>((md, o, cb) => this.grpc.getStore(request, md, o, cb));
    return { store: response.store!, stats: response.stats };
  }

  async getAllStores(excludeTombstoneStores = false): Promise<Store[]> {
    const request = { header: this.header(), excludeTombstoneStores };
    const response = await this.unary<GetAllStoresResponse>((md, o, cb) => this.grpc.getAllStores(request, md, o, cb));
    return response.stores;
  }

  async storeHeartbeat(stats: DeepPartial<StoreStats>): Promise<void> {
    const request = { header: this.header(), stats: StoreStats.fromPartial(stats) };
    await this.unary<StoreHeartbeatResponse>((md, o, cb) => this.grpc.storeHeartbeat(request, md, o, cb));
  }

  async getRegion(key: Uint8Array): Promise<RegionInfoReply | undefined> {
    const request = { header: this.header(), regionKey: Buffer.from(key) };
    return regionReply(await this.unary<GetRegionResponse>((md, o, cb) => this.grpc.getRegion(request, md, o, cb)));
  }

  async getPrevRegion(key: Uint8Array): Promise<RegionInfoReply | undefined> {
    const request = { header: this.header(), regionKey: Buffer.from(key) };
    return regionReply(await this.unary<GetRegionResponse>((md, o, cb) => this.grpc.getPrevRegion(request, md, o, cb)));
  }

  async getRegionById(regionId: number): Promise<RegionInfoReply | undefined> {
    const request = { header: this.header(), regionId: BigInt(regionId) };
    return regionReply(await this.unary<GetRegionResponse>((md, o, cb) => this.grpc.getRegionById(request, md, o, cb)));
  }

  /** Regions from the one holding `startKey` up to `endKey` (empty: the end), at most `limit` (<= 0: no limit). */
  async scanRegions(startKey: Uint8Array, endKey: Uint8Array = Buffer.alloc(0), limit = 0): Promise<RegionInfoReply[]> {
    const request = { header: this.header(), startKey: Buffer.from(startKey), endKey: Buffer.from(endKey), limit };
    const response = await this.unary<ScanRegionsResponse>((md, o, cb) => this.grpc.scanRegions(request, md, o, cb));
    return response.regions.map((region, i) => {
      const leader = response.leaders[i];
      return { region, leader: leader && leader.id !== 0 ? leader : undefined };
    });
  }

  async askSplit(region: Region): Promise<{ newRegionId: number; newPeerIds: number[] }> {
    const request = { header: this.header(), region };
    const response = await this.unary<AskSplitResponse>((md, o, cb) => this.grpc.askSplit(request, md, o, cb));
    return { newRegionId: Number(response.newRegionId), newPeerIds: response.newPeerIds.map(Number) };
  }

  async getClusterConfig(): Promise<Cluster> {
    const request = { header: this.header() };
    const response = await this.unary<GetClusterConfigResponse>((md, o, cb) => this.grpc.getClusterConfig(request, md, o, cb));
    return response.cluster!;
  }

  async putClusterConfig(cluster: Cluster): Promise<void> {
    const request = { header: this.header(), cluster };
    await this.unary<PutClusterConfigResponse>((md, o, cb) => this.grpc.putClusterConfig(request, md, o, cb));
  }

  async getGcSafePoint(): Promise<bigint> {
    const request = { header: this.header() };
    const response = await this.unary<GetGCSafePointResponse>((md, o, cb) => this.grpc.getGcSafePoint(request, md, o, cb));
    return response.safePoint;
  }

  /** Saves the safe point if it is larger; resolves to the safe point in force. */
  async updateGcSafePoint(safePoint: bigint): Promise<bigint> {
    const request = { header: this.header(), safePoint };
    const response = await this.unary<UpdateGCSafePointResponse>((md, o, cb) => this.grpc.updateGcSafePoint(request, md, o, cb));
    return response.newSafePoint;
  }

  // ---- TSO ------------------------------------------------------------------------------------

  /** Allocates `count` timestamps; resolves to the last (the batch is `last - count + 1 .. last`). */
  async tso(count = 1): Promise<bigint> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.tsoOnce(count);
      } catch (err) {
        if (!(err instanceof SchedulerClientError) || !err.retryable || attempt >= this.maxRetries || this.closed) throw err;
        await sleep(this.backoffMs(attempt));
      }
    }
  }

  private tsoOnce(count: number): Promise<bigint> {
    if (this.closed) return Promise.reject(closedError());
    const stream = this.openTsoStream();
    return new Promise<bigint>((resolve, reject) => {
      const timer = setTimeout(() => {
        // Answers come in order, so a lost one misaligns the stream: start over on a new one.
        this.resetTso(stream, unavailable(`tso timed out after ${this.timeoutMs} ms`));
      }, this.timeoutMs);
      this.tsoPending.push({ count, resolve, reject, timer });
      stream.write({ header: this.header(), count });
    });
  }

  private openTsoStream(): ClientDuplexStream<TsoRequest, TsoResponse> {
    if (this.tsoStream) return this.tsoStream;
    const stream = this.grpc.tso();
    this.tsoStream = stream;
    stream.on('data', (response: TsoResponse) => {
      const pending = this.tsoPending.shift();
      if (!pending) return;
      clearTimeout(pending.timer);
      const headerError = toHeaderError(response.header);
      if (headerError) return pending.reject(headerError);
      const ts = response.timestamp!;
      pending.resolve((ts.physical << 18n) | ts.logical);
    });
    stream.on('error', (err: ServiceError) => this.resetTso(stream, toClientError(err)));
    stream.on('end', () => this.resetTso(stream, unavailable('tso stream ended')));
    return stream;
  }

  private resetTso(stream: ClientDuplexStream<TsoRequest, TsoResponse>, err: Error): void {
    if (this.tsoStream !== stream) return;
    this.tsoStream = undefined;
    stream.cancel();
    this.failTso(err);
  }

  private failTso(err: Error): void {
    for (const pending of this.tsoPending.splice(0)) {
      clearTimeout(pending.timer);
      pending.reject(err);
    }
  }

  // ---- region heartbeats ----------------------------------------------------------------------

  /** Opens a RegionHeartbeat stream that reopens itself with backoff; scheduler commands go to `onResponse`. */
  openRegionHeartbeat(
    onResponse: (response: RegionHeartbeatResponse) => void,
    onError?: (err: SchedulerClientError) => void,
  ): RegionHeartbeatStream {
    let call: ClientDuplexStream<RegionHeartbeatRequest, RegionHeartbeatResponse> | undefined;
    let closed = false;
    let attempt = 0;
    let reopenTimer: NodeJS.Timeout | undefined;
    const open = () => {
      reopenTimer = undefined;
      if (closed || this.closed) return;
      const current = this.grpc.regionHeartbeat();
      call = current;
      current.on('data', (response: RegionHeartbeatResponse) => {
        attempt = 0;
        onResponse(response);
      });
      const broken = (err: SchedulerClientError) => {
        if (call !== current) return;
        call = undefined;
        if (closed) return;
        onError?.(err);
        // A cluster id mismatch will not heal by reconnecting.
        if (err.grpcCode === GrpcStatus.FAILED_PRECONDITION) return;
        reopenTimer = setTimeout(open, this.backoffMs(attempt++));
      };
      current.on('error', (err: ServiceError) => broken(toClientError(err)));
      current.on('end', () => broken(unavailable('region heartbeat stream ended')));
    };
    const handle: RegionHeartbeatStream = {
      send: (heartbeat) => {
        if (!call) return false;
        return call.write({
          header: this.header(),
          region: heartbeat.region,
          leader: heartbeat.leader,
          pendingPeers: [...(heartbeat.pendingPeers ?? [])],
          approximateSize: BigInt(heartbeat.approximateSizeBytes ?? 0),
        });
      },
      get connected() {
        return call !== undefined;
      },
      close: () => {
        if (closed) return;
        closed = true;
        clearTimeout(reopenTimer);
        const current = call;
        call = undefined;
        current?.end();
        current?.cancel();
        this.heartbeatStreams.delete(handle);
      },
    };
    this.heartbeatStreams.add(handle);
    open();
    return handle;
  }

  // ---- plumbing -------------------------------------------------------------------------------

  private header() {
    return { clusterId: this.clusterIdValue };
  }

  private backoffMs(attempt: number): number {
    return Math.min(this.backoffMaxMs, this.backoffBaseMs * 2 ** Math.min(attempt, 20));
  }

  private async unary<Res extends { header?: ResponseHeader | undefined }>(invoke: UnaryInvoker<Res>): Promise<Res> {
    for (let attempt = 0; ; attempt++) {
      try {
        const response = await new Promise<Res>((resolve, reject) => {
          const deadline = Date.now() + this.timeoutMs;
          invoke(new Metadata(), { deadline }, (err, res) => (err ? reject(toClientError(err)) : resolve(res)));
        });
        const headerError = toHeaderError(response.header);
        if (headerError) throw headerError;
        return response;
      } catch (err) {
        if (!(err instanceof SchedulerClientError) || !err.retryable || attempt >= this.maxRetries || this.closed) throw err;
        await sleep(this.backoffMs(attempt));
      }
    }
  }
}

function closedError(): SchedulerClientError {
  return new SchedulerClientError('scheduler client closed', undefined, GrpcStatus.CANCELLED, undefined);
}

function unavailable(message: string): SchedulerClientError {
  return new SchedulerClientError(message, undefined, GrpcStatus.UNAVAILABLE, undefined);
}

function toClientError(err: ServiceError): SchedulerClientError {
  const code = err.metadata?.get('tinykv-error-code')[0];
  return new SchedulerClientError(err.details || err.message, undefined, err.code, typeof code === 'string' ? code : undefined);
}

function toHeaderError(header: ResponseHeader | undefined): SchedulerClientError | undefined {
  const error = header?.error;
  if (!error || error.type === ErrorType.OK) return undefined;
  return new SchedulerClientError(`${ErrorType[error.type] ?? error.type}: ${error.message}`, error.type, undefined, undefined);
}

function regionReply(response: { region?: Region | undefined; leader?: Peer | undefined }): RegionInfoReply | undefined {
  return response.region ? { region: response.region, leader: response.leader } : undefined;
}
