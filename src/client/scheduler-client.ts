/**
 * The one client of the scheduler ("PD"), used by stores (registration, heartbeats, id allocation,
 * store address lookups), by tools and by the client library (TSO, region and store lookups).
 *
 * - Discovery: `connect(addrs)` asks the given addresses for the membership (GetMembers), follows
 *   the reported leader and learns the cluster id, which it stamps on every request afterwards.
 *   After an UNAVAILABLE answer it looks for the leader again among the known members and seeds.
 * - Unary calls have a deadline (`timeoutMs`) and are retried on UNAVAILABLE after a bounded
 *   exponential backoff (`backoffBaseMs` doubling up to `backoffMaxMs`, at most `maxRetries`
 *   retries), so a scheduler restart is ridden out; grpc-js reconnects the channel underneath
 *   (with the capped backoff of util/grpc-channel.ts).
 * - Every failure is a ClientError: a gRPC status keeps `grpcStatus` and the server's stable code
 *   (`serverCode`); an in-band header error (NOT_BOOTSTRAPPED, STORE_TOMBSTONE, ...) gets
 *   `serverCode` the scheduler's code for that type (KV:Scheduler:*) and `details.headerType`.
 * - Timestamps come batched over one long-lived Tso stream (tso-batcher.ts); region heartbeats go
 *   over a self-reopening stream (region-heartbeat-stream.ts).
 *
 * It lives in the client library (not in src/scheduler) so the library's
 * import graph holds none
 * of the scheduler server, and its errors are the library's ClientError without a folder cycle.
 */
import { credentials, status as GrpcStatus, type ServiceError } from '@grpc/grpc-js';
import { codeOfSchedulerHeaderType } from '../rpc/error-status.js';
import { setMaxListeners } from 'node:events';
import type { Logger } from 'pino';
import { silentLogger } from '../log/logger.js';
import type { Cluster, Peer, Region, Store } from '../proto/metapb.js';
import {
  ErrorType,
  SchedulerClient as GrpcSchedulerClient,
  StoreStats,
  type DeepPartial,
  type GetMembersResponse,
  type RegionHeartbeatResponse,
  type RequestHeader,
  type ResponseHeader,
} from '../proto/schedulerpb.js';
import { callUnary, type UnaryMethod } from '../rpc/unary.js';
import { RECONNECT_CHANNEL_OPTIONS } from '../util/grpc-channel.js';
import { ClientError, ClientErrorCode, fromServiceError } from './errors.js';
import { openRegionHeartbeatStream, type RegionHeartbeatStream } from './region-heartbeat-stream.js';
import { closedError, TsoBatcher } from './tso-batcher.js';
import { sleep } from './util.js';

export { composeTs, physicalMs, PHYSICAL_SHIFT, TSO_MAX_BATCH } from './tso-batcher.js';
export type { RegionHeartbeat, RegionHeartbeatStream } from './region-heartbeat-stream.js';

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
  getRegion(key: Uint8Array): Promise<RegionLookup | undefined>;
  getRegionById(id: bigint): Promise<RegionLookup | undefined>;
  getStore(id: bigint): Promise<Store | undefined>;
}

export interface SchedulerClientOptions {
  /** Default: silent. */
  readonly logger?: Logger;
  /** Deadline of each attempt of a unary call and of one TSO round trip, ms (default 3000). */
  readonly timeoutMs?: number;
  /** Retries of a unary call after UNAVAILABLE (default 10, TinyKV's). */
  readonly maxRetries?: number;
  /**
   * Which failed calls look for the leader again and retry: 'unavailable' (UNAVAILABLE only, the
   * default, what stores use) or 'transport' (also DEADLINE_EXCEEDED: a hung or cut-off member,
   * which the client library would rather leave for another).
   */
  readonly retryOn?: 'unavailable' | 'transport';
  /** Backoff between retries and stream reopens: base doubling up to max, ms (defaults 50 and 1000). */
  readonly backoffBaseMs?: number;
  readonly backoffMaxMs?: number;
  /** How many Tso requests one caller's timestamps may ride on before it fails (default maxRetries + 1). */
  readonly tsoMaxAttempts?: number;
  readonly maxMessageBytes?: number;
  /** Skip discovery: talk to the first address and use this cluster id. */
  readonly clusterId?: bigint;
}

type ResolvedOptions = Required<Omit<SchedulerClientOptions, 'clusterId'>>;

interface Member {
  readonly grpc: GrpcSchedulerClient;
  readonly addr: string;
  readonly clusterId: bigint;
  /** Client URLs (host:port) of every member. */
  readonly members: string[];
}

export class SchedulerClient implements TimestampSource, RegionSource {
  private closedValue = false;
  /** Aborted by close(): cancels the unary calls in flight. */
  private readonly abort = new AbortController();
  private readonly tsoBatcher: TsoBatcher;
  private readonly heartbeatStreams = new Set<RegionHeartbeatStream>();
  private rediscovering: Promise<void> | undefined;

  private constructor(
    private member: Member,
    private readonly seeds: readonly string[],
    private readonly options: ResolvedOptions,
  ) {
    // Every call in flight listens on the signal (and stops listening when it settles): many
    // concurrent calls are not a leak, so no listener-count warning.
    setMaxListeners(0, this.abort.signal);
    this.tsoBatcher = new TsoBatcher(
      {
        openTsoStream: () => this.member.grpc.tso(),
        clusterId: member.clusterId,
        rediscover: () => this.rediscover(),
        checkHeader,
      },
      {
        logger: options.logger,
        timeoutMs: options.timeoutMs,
        maxAttempts: options.tsoMaxAttempts,
        backoffMs: (attempt) => this.backoffMs(attempt),
      },
    );
  }

  /**
   * Finds a reachable member among `addrs` (following the reported leader) and reads the cluster id;
   * when none answers, tries them all again after a backoff, up to `maxRetries` times.
   */
  static async connect(addrs: string | readonly string[], options: SchedulerClientOptions = {}): Promise<SchedulerClient> {
    const seeds = typeof addrs === 'string' ? [addrs] : [...addrs];
    const firstSeed = seeds[0];
    if (firstSeed === undefined) throw new ClientError(ClientErrorCode.InvalidArgument, 'no scheduler address given');
    const resolved = resolveOptions(options);
    if (options.clusterId !== undefined) {
      const member = { grpc: makeGrpcClient(firstSeed, resolved.maxMessageBytes), addr: firstSeed, clusterId: options.clusterId, members: [] };
      return new SchedulerClient(member, seeds, resolved);
    }
    let lastError: unknown;
    for (let attempt = 0; attempt <= resolved.maxRetries; attempt++) {
      if (attempt > 0) await sleep(backoffMs(resolved, attempt - 1));
      for (const addr of seeds) {
        try {
          return new SchedulerClient(await discover(addr, resolved), seeds, resolved);
        } catch (err) {
          lastError = err;
          resolved.logger.debug({ err, addr }, 'scheduler member unreachable');
        }
      }
      if (!isUnavailable(lastError)) break;
    }
    if (lastError instanceof ClientError) throw lastError;
    throw new ClientError(ClientErrorCode.Transport, `no scheduler reachable at ${seeds.join(', ')}`, { cause: lastError });
  }

  /** The member this client talks to. */
  get addr(): string {
    return this.member.addr;
  }

  get clusterId(): bigint {
    return this.member.clusterId;
  }

  /** Tso requests sent and timestamps handed out, for tests and metrics. */
  get stats(): { readonly tsoRequests: number; readonly timestamps: number } {
    return this.tsoBatcher.stats;
  }

  /** Fails pending and later calls with ClientClosed and closes the streams and the channel. */
  close(): void {
    if (this.closedValue) return;
    this.closedValue = true;
    for (const stream of [...this.heartbeatStreams]) stream.close();
    this.tsoBatcher.close();
    this.abort.abort();
    this.member.grpc.close();
  }

  // ---- TSO ------------------------------------------------------------------------------------

  /** One fresh timestamp. */
  getTimestamp(): Promise<bigint> {
    return this.tsoBatcher.next(1);
  }

  /** Allocates `count` timestamps; resolves to the last (the batch is `last - count + 1 .. last`). */
  tso(count = 1): Promise<bigint> {
    return this.tsoBatcher.next(count);
  }

  // ---- unary calls ----------------------------------------------------------------------------

  getMembers(): Promise<GetMembersResponse> {
    return this.call((c) => c.getMembers, { header: this.header() }, 'GetMembers');
  }

  async allocId(): Promise<number> {
    return Number((await this.call((c) => c.allocId, { header: this.header() }, 'AllocID')).id);
  }

  async isBootstrapped(): Promise<boolean> {
    return (await this.call((c) => c.isBootstrapped, { header: this.header() }, 'IsBootstrapped')).bootstrapped;
  }

  async bootstrap(store: Store): Promise<void> {
    await this.call((c) => c.bootstrap, { header: this.header(), store }, 'Bootstrap');
  }

  async putStore(store: Store): Promise<void> {
    await this.call((c) => c.putStore, { header: this.header(), store }, 'PutStore');
  }

  async getStore(storeId: number | bigint): Promise<Store | undefined> {
    return (await this.getStoreInfo(storeId)).store;
  }

  /** The store and the statistics of its last heartbeat. */
  async getStoreInfo(storeId: number | bigint): Promise<{ store: Store | undefined; stats: StoreStats | undefined }> {
    const response = await this.call((c) => c.getStore, { header: this.header(), storeId: BigInt(storeId) }, 'GetStore');
    return { store: response.store, stats: response.stats };
  }

  async getAllStores(excludeTombstoneStores = false): Promise<Store[]> {
    return (await this.call((c) => c.getAllStores, { header: this.header(), excludeTombstoneStores }, 'GetAllStores')).stores;
  }

  async storeHeartbeat(stats: DeepPartial<StoreStats>): Promise<void> {
    await this.call((c) => c.storeHeartbeat, { header: this.header(), stats: StoreStats.fromPartial(stats) }, 'StoreHeartbeat');
  }

  async getRegion(key: Uint8Array): Promise<RegionLookup | undefined> {
    return regionReply(await this.call((c) => c.getRegion, { header: this.header(), regionKey: Buffer.from(key) }, 'GetRegion'));
  }

  async getPrevRegion(key: Uint8Array): Promise<RegionLookup | undefined> {
    return regionReply(await this.call((c) => c.getPrevRegion, { header: this.header(), regionKey: Buffer.from(key) }, 'GetPrevRegion'));
  }

  async getRegionById(regionId: number | bigint): Promise<RegionLookup | undefined> {
    return regionReply(await this.call((c) => c.getRegionById, { header: this.header(), regionId: BigInt(regionId) }, 'GetRegionByID'));
  }

  /** Regions from the one holding `startKey` up to `endKey` (empty: the end), at most `limit` (<= 0: no limit). */
  async scanRegions(startKey: Uint8Array, endKey: Uint8Array = Buffer.alloc(0), limit = 0): Promise<RegionLookup[]> {
    const request = { header: this.header(), startKey: Buffer.from(startKey), endKey: Buffer.from(endKey), limit };
    const response = await this.call((c) => c.scanRegions, request, 'ScanRegions');
    return response.regions.map((region, i) => {
      const leader = response.leaders[i];
      return { region, leader: leader && leader.id !== 0 ? leader : undefined };
    });
  }

  async askSplit(region: Region): Promise<{ newRegionId: number; newPeerIds: number[] }> {
    const response = await this.call((c) => c.askSplit, { header: this.header(), region }, 'AskSplit');
    return { newRegionId: Number(response.newRegionId), newPeerIds: response.newPeerIds.map(Number) };
  }

  async getClusterConfig(): Promise<Cluster> {
    const { cluster } = await this.call((c) => c.getClusterConfig, { header: this.header() }, 'GetClusterConfig');
    if (cluster === undefined) throw new ClientError(ClientErrorCode.ServerError, 'GetClusterConfig: response without a cluster');
    return cluster;
  }

  async putClusterConfig(cluster: Cluster): Promise<void> {
    await this.call((c) => c.putClusterConfig, { header: this.header(), cluster }, 'PutClusterConfig');
  }

  async getGcSafePoint(): Promise<bigint> {
    return (await this.call((c) => c.getGcSafePoint, { header: this.header() }, 'GetGCSafePoint')).safePoint;
  }

  /** Saves the safe point if it is larger; resolves to the safe point in force. */
  async updateGcSafePoint(safePoint: bigint): Promise<bigint> {
    return (await this.call((c) => c.updateGcSafePoint, { header: this.header(), safePoint }, 'UpdateGCSafePoint')).newSafePoint;
  }

  // ---- region heartbeats ----------------------------------------------------------------------

  /** Opens a RegionHeartbeat stream that reopens itself with backoff; scheduler commands go to `onResponse`. */
  openRegionHeartbeat(onResponse: (response: RegionHeartbeatResponse) => void, onError?: (err: ClientError) => void): RegionHeartbeatStream {
    const source = {
      openHeartbeatCall: () => this.member.grpc.regionHeartbeat(),
      header: () => this.header(),
      backoffMs: (attempt: number) => this.backoffMs(attempt),
      isClosed: () => this.closedValue,
    };
    const stream = openRegionHeartbeatStream(source, onResponse, onError, () => this.heartbeatStreams.delete(stream));
    this.heartbeatStreams.add(stream);
    return stream;
  }

  // ---- plumbing -------------------------------------------------------------------------------

  private header(): RequestHeader {
    return { clusterId: this.member.clusterId };
  }

  private backoffMs(attempt: number): number {
    return backoffMs(this.options, attempt);
  }

  /** One unary call on the current member, retried on UNAVAILABLE (looking for the leader again first). */
  private async call<Req, Res extends { header?: ResponseHeader | undefined }>(
    pick: (grpc: GrpcSchedulerClient) => UnaryMethod<Req, Res>,
    request: Req,
    what: string,
  ): Promise<Res> {
    for (let attempt = 0; ; attempt++) {
      if (this.closedValue) throw closedError();
      const grpc = this.member.grpc;
      const options = { timeoutMs: this.options.timeoutMs, signal: this.abort.signal };
      try {
        const response = await callUnary(grpc, pick(grpc), request, options, (err) => fromServiceError(err, what));
        checkHeader(response.header, what);
        return response;
      } catch (err) {
        if (this.closedValue) throw closedError();
        if (!this.retries(err) || attempt >= this.options.maxRetries) throw err;
        await sleep(this.backoffMs(attempt));
        await this.rediscover();
      }
    }
  }

  private retries(err: unknown): boolean {
    if (isUnavailable(err)) return true;
    return this.options.retryOn === 'transport' && err instanceof ClientError && err.grpcStatus === GrpcStatus.DEADLINE_EXCEEDED;
  }

  /**
   * Looks for the leader among the known members and the seeds after a transport failure, and
   * switches to it. Concurrent callers share one search; failures are swallowed (the caller's
   * retry reports them). With no other address known there is nothing to look for. A scheduler
   * that reports itself as its only member is the one reached through the seeds: its advertised
   * URL (which may be a wildcard such as 0.0.0.0:2379) is not another place to look.
   */
  private rediscover(): Promise<void> {
    const current = this.member;
    const members = current.members.length > 1 ? current.members : [];
    const others = [...new Set([...members, ...this.seeds])].filter((a) => a !== current.addr);
    if (others.length === 0 || this.closedValue) return Promise.resolve();
    this.rediscovering ??= this.searchLeader([...others, current.addr]).finally(() => {
      this.rediscovering = undefined;
    });
    return this.rediscovering;
  }

  private async searchLeader(candidates: readonly string[]): Promise<void> {
    for (const addr of candidates) {
      if (this.closedValue) return;
      let found: Member;
      try {
        found = await discover(addr, this.options);
      } catch (err) {
        this.options.logger.debug({ err, addr }, 'scheduler member unreachable');
        continue;
      }
      if (found.clusterId !== this.member.clusterId || this.closedValue) {
        found.grpc.close();
        continue;
      }
      this.switchTo(found);
      return;
    }
  }

  private switchTo(found: Member): void {
    const old = this.member;
    if (found.addr === old.addr) {
      this.member = { ...old, members: found.members };
      found.grpc.close();
      return;
    }
    this.options.logger.info({ from: old.addr, to: found.addr }, 'switching scheduler member');
    this.member = found;
    old.grpc.close();
  }
}

function resolveOptions(options: SchedulerClientOptions): ResolvedOptions {
  const maxRetries = options.maxRetries ?? 10;
  return {
    logger: options.logger ?? silentLogger(),
    timeoutMs: options.timeoutMs ?? 3_000,
    maxRetries,
    retryOn: options.retryOn ?? 'unavailable',
    backoffBaseMs: options.backoffBaseMs ?? 50,
    backoffMaxMs: options.backoffMaxMs ?? 1_000,
    tsoMaxAttempts: options.tsoMaxAttempts ?? maxRetries + 1,
    maxMessageBytes: options.maxMessageBytes ?? 16 * 1024 * 1024,
  };
}

/**
 * Exponential backoff with "equal jitter": between half and all of min(max, base * 2^attempt), so
 * many clients reconnecting to a restarted scheduler spread out while each still waits.
 */
function backoffMs(options: ResolvedOptions, attempt: number): number {
  const ceiling = Math.min(options.backoffMaxMs, options.backoffBaseMs * 2 ** Math.min(attempt, 20));
  return Math.round(ceiling / 2 + (Math.random() * ceiling) / 2);
}

/** Asks the member at `addr` for the membership; returns a client for the leader (or for `addr` itself when alone). */
async function discover(addr: string, options: ResolvedOptions): Promise<Member> {
  const grpc = makeGrpcClient(addr, options.maxMessageBytes);
  let reply: GetMembersResponse;
  try {
    const toError = (err: ServiceError) => fromServiceError(err, 'GetMembers');
    reply = await callUnary(grpc, grpc.getMembers, { header: undefined }, { timeoutMs: options.timeoutMs }, toError);
    checkHeader(reply.header, 'GetMembers');
  } catch (err) {
    grpc.close();
    throw err;
  }
  const clusterId = reply.header?.clusterId ?? 0n;
  const members = reply.members.flatMap((m) => m.clientUrls.map(stripScheme)).filter((u) => u !== '');
  const leaderAddr = leaderAddress(reply);
  // A single member is the one that answered: keep the address we reached it by.
  if (leaderAddr !== undefined && reply.members.length > 1 && leaderAddr !== addr) {
    grpc.close();
    return { grpc: makeGrpcClient(leaderAddr, options.maxMessageBytes), addr: leaderAddr, clusterId, members };
  }
  return { grpc, addr, clusterId, members };
}

function makeGrpcClient(addr: string, maxMessageBytes: number): GrpcSchedulerClient {
  return new GrpcSchedulerClient(addr, credentials.createInsecure(), {
    'grpc.max_receive_message_length': maxMessageBytes,
    'grpc.max_send_message_length': maxMessageBytes,
    ...RECONNECT_CHANNEL_OPTIONS,
  });
}

function stripScheme(url: string): string {
  return url.replace(/^[a-z]+:\/\//i, '').replace(/\/$/, '');
}

function leaderAddress(members: GetMembersResponse): string | undefined {
  const url = members.leader?.clientUrls[0];
  if (url === undefined || url === '') return undefined;
  return stripScheme(url);
}

/** Raises the scheduler's in-band header error as a ClientError (`serverCode` its KV:Scheduler:* code, `details.headerType`). */
function checkHeader(header: ResponseHeader | undefined, what: string): void {
  const error = header?.error;
  if (error === undefined || error.type === ErrorType.OK) return;
  // The scheduler's stable code for this header type (KV:Scheduler:NotBootstrapped, ...), as its
  // trailer would carry it; a type with no code (UNKNOWN) is named by its enum name.
  const serverCode = codeOfSchedulerHeaderType(error.type) ?? `Scheduler:${ErrorType[error.type] ?? error.type}`;
  const code =
    error.type === ErrorType.NOT_BOOTSTRAPPED || error.type === ErrorType.REGION_NOT_FOUND
      ? ClientErrorCode.RegionUnavailable
      : ClientErrorCode.ServerError;
  throw new ClientError(code, `${what}: ${error.message || serverCode}`, { serverCode, details: { headerType: error.type } });
}

function regionReply(response: { region?: Region | undefined; leader?: Peer | undefined }): RegionLookup | undefined {
  return response.region ? { region: response.region, leader: response.leader } : undefined;
}

function isUnavailable(err: unknown): boolean {
  return err instanceof ClientError && err.grpcStatus === GrpcStatus.UNAVAILABLE;
}

export function isUnimplemented(err: unknown): boolean {
  return err instanceof ClientError && err.grpcStatus === GrpcStatus.UNIMPLEMENTED;
}
