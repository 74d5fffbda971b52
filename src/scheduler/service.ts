/**
 * The gRPC `schedulerpb.Scheduler` service over a SchedulerCore.
 *
 * Every RPC checks that `header.cluster_id` is this cluster's (a mismatch, 0 included, is gRPC
 * FAILED_PRECONDITION), except GetMembers and ScatterRegion (no checks), as in TinyKV. Typed errors
 * that TinyKV answers in-band (NOT_BOOTSTRAPPED, ALREADY_BOOTSTRAPPED, STORE_TOMBSTONE,
 * REGION_NOT_FOUND) become `ResponseHeader.error`; the others become gRPC statuses (errors.ts).
 * Deviation from TinyKV: PutStore is accepted before bootstrap, because that is how stores
 * register for the scheduler-driven bootstrap.
 *
 * RegionHeartbeat: each request is checked and applied in arrival order; a problem with one
 * heartbeat (stale epoch, unknown store, not bootstrapped, ...) is answered with a header error
 * (region_id set) on the same stream, which stays open. A cluster id mismatch ends the stream.
 */
import { RateLimitedLog } from '../util/rate-limited-log.js';
import type { ServerDuplexStream, UntypedServiceImplementation } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import {
  AllocIDResponse,
  AskSplitResponse,
  BootstrapResponse,
  ErrorType,
  GetAllStoresResponse,
  GetClusterConfigResponse,
  GetGCSafePointResponse,
  GetMembersResponse,
  GetOperatorResponse,
  GetRegionResponse,
  GetStoreResponse,
  IsBootstrappedResponse,
  Member,
  PutClusterConfigResponse,
  PutStoreResponse,
  ResponseHeader,
  ScanRegionsResponse,
  ScatterRegionResponse,
  SchedulerService,
  StoreHeartbeatResponse,
  TsoResponse,
  UpdateGCSafePointResponse,
  type AllocIDRequest,
  type AskSplitRequest,
  type BootstrapRequest,
  type DeepPartial,
  type GetAllStoresRequest,
  type GetClusterConfigRequest,
  type GetGCSafePointRequest,
  type GetMembersRequest,
  type GetOperatorRequest,
  type GetRegionByIDRequest,
  type GetRegionRequest,
  type GetStoreRequest,
  type IsBootstrappedRequest,
  type MessageFns,
  type PutClusterConfigRequest,
  type PutStoreRequest,
  type RegionHeartbeatRequest,
  type RegionHeartbeatResponse,
  type RequestHeader,
  type ScanRegionsRequest,
  type StoreHeartbeatRequest,
  type TsoRequest,
  type UpdateGCSafePointRequest,
} from '../proto/schedulerpb.js';
import { Peer } from '../proto/metapb.js';
import { CallTracker, unary, unimplementedService } from '../server/grpc-service.js';
import { schedulerHeaderErrorOf, toServiceError } from '../rpc/error-status.js';
import type { RegionInfo } from './cluster-state.js';
import { SchedulerCore, toId } from './core.js';
import { serveTsoStream, type TsoStreamHandle } from './tso-stream.js';
import type { HeartbeatSink } from './heartbeat-streams.js';
import { SchedulerError, SchedulerErrorCode, isSchedulerError } from './errors.js';
import { notBootstrapped } from './bootstrap.js';

export interface SchedulerServiceDeps {
  readonly core: SchedulerCore;
  readonly tracker: CallTracker;
  readonly logger: Logger;
  /** The address clients reach this scheduler at (GetMembers' client_urls). */
  readonly advertiseAddr: () => string;
}

export interface SchedulerServiceHandle {
  readonly implementation: UntypedServiceImplementation;
  /** Ends every open Tso and RegionHeartbeat stream (before a graceful shutdown). */
  closeStreams(): void;
}

interface WithHeader {
  header?: RequestHeader | undefined;
}

export function createSchedulerService(deps: SchedulerServiceDeps): SchedulerServiceHandle {
  const { core, tracker, logger } = deps;
  const clusterId = core.clusterId;
  const okHeader = () => ResponseHeader.fromPartial({ clusterId });
  const tsoStreams = new Set<TsoStreamHandle>();

  const checkHeader = (header: RequestHeader | undefined): void => {
    const got = header?.clusterId ?? 0n;
    if (got !== clusterId) {
      throw new SchedulerError(SchedulerErrorCode.ClusterIdMismatch, `mismatch cluster id, need ${clusterId} but got ${got}`, {
        clusterId: String(got),
      });
    }
  };

  /** A unary RPC: header check, in-band header errors, everything else through `unary`. */
  function rpc<Req extends WithHeader, Res>(
    method: string,
    fns: MessageFns<Res>,
    handler: (request: Req) => Promise<DeepPartial<Res>> | DeepPartial<Res>,
    options: { checkCluster?: boolean } = {},
  ) {
    return unary(
      method,
      async (request: Req): Promise<Res> => {
        if (options.checkCluster !== false) checkHeader(request.header);
        try {
          const body = await handler(request);
          return fns.fromPartial({ ...(body as object), header: okHeader() } as DeepPartial<Res>);
        } catch (err) {
          const error = schedulerHeaderErrorOf(err);
          if (error !== undefined) {
            const header = { clusterId, error };
            return fns.fromPartial({ header } as DeepPartial<Res>);
          }
          throw err;
        }
      },
      tracker,
      logger,
    );
  }

  const self = () =>
    Member.fromPartial({ name: 'tinykv-scheduler', memberId: clusterId, clientUrls: [`http://${deps.advertiseAddr()}`] });

  const regionResponse = (info: RegionInfo | undefined): DeepPartial<GetRegionResponse> =>
    info ? { region: info.region, leader: info.leader } : {};

  const implementation: UntypedServiceImplementation = {
    ...unimplementedService(SchedulerService, () => 'not in scope until the multi-raft issue'),
    getMembers: rpc<GetMembersRequest, GetMembersResponse>(
      'GetMembers',
      GetMembersResponse,
      () => ({ members: [self()], leader: self(), etcdLeader: self() }),
      { checkCluster: false },
    ),
    tso: (call: ServerDuplexStream<TsoRequest, TsoResponse>) => serveTso(call),
    bootstrap: rpc<BootstrapRequest, BootstrapResponse>('Bootstrap', BootstrapResponse, async (r) => {
      await core.bootstrap(r.store);
      return {};
    }),
    isBootstrapped: rpc<IsBootstrappedRequest, IsBootstrappedResponse>('IsBootstrapped', IsBootstrappedResponse, () => ({
      bootstrapped: core.isBootstrapped,
    })),
    allocId: rpc<AllocIDRequest, AllocIDResponse>('AllocID', AllocIDResponse, async () => ({ id: BigInt(await core.allocId()) })),
    putStore: rpc<PutStoreRequest, PutStoreResponse>('PutStore', PutStoreResponse, async (r) => {
      await core.putStore(r.store);
      return {};
    }),
    getStore: rpc<GetStoreRequest, GetStoreResponse>('GetStore', GetStoreResponse, (r) => {
      const info = core.getStore(toId(r.storeId, 'store id'));
      return { store: info.store, stats: info.stats };
    }),
    getAllStores: rpc<GetAllStoresRequest, GetAllStoresResponse>('GetAllStores', GetAllStoresResponse, (r) => ({
      stores: core.getAllStores(r.excludeTombstoneStores).map((s) => s.store),
    })),
    storeHeartbeat: rpc<StoreHeartbeatRequest, StoreHeartbeatResponse>('StoreHeartbeat', StoreHeartbeatResponse, (r) => {
      core.storeHeartbeat(r.stats);
      return {};
    }),
    regionHeartbeat: (call: ServerDuplexStream<RegionHeartbeatRequest, RegionHeartbeatResponse>) => serveRegionHeartbeat(call),
    getRegion: rpc<GetRegionRequest, GetRegionResponse>('GetRegion', GetRegionResponse, (r) =>
      regionResponse(core.getRegion(r.regionKey)),
    ),
    getPrevRegion: rpc<GetRegionRequest, GetRegionResponse>('GetPrevRegion', GetRegionResponse, (r) =>
      regionResponse(core.getPrevRegion(r.regionKey)),
    ),
    getRegionById: rpc<GetRegionByIDRequest, GetRegionResponse>('GetRegionByID', GetRegionResponse, (r) =>
      regionResponse(core.getRegionById(toId(r.regionId, 'region id'))),
    ),
    scanRegions: rpc<ScanRegionsRequest, ScanRegionsResponse>('ScanRegions', ScanRegionsResponse, (r) => {
      const infos = core.scanRegions(r.startKey, r.endKey, r.limit);
      // leaders[i] belongs to regions[i]; an unknown leader is an empty Peer, as in PD.
      return { regions: infos.map((i) => i.region), leaders: infos.map((i) => i.leader ?? Peer.fromPartial({})) };
    }),
    askSplit: rpc<AskSplitRequest, AskSplitResponse>('AskSplit', AskSplitResponse, async (r) => {
      const result = await core.askSplit(r.region);
      return { newRegionId: BigInt(result.newRegionId), newPeerIds: result.newPeerIds.map(BigInt) };
    }),
    getClusterConfig: rpc<GetClusterConfigRequest, GetClusterConfigResponse>('GetClusterConfig', GetClusterConfigResponse, () => ({
      cluster: core.clusterConfig(),
    })),
    putClusterConfig: rpc<PutClusterConfigRequest, PutClusterConfigResponse>(
      'PutClusterConfig',
      PutClusterConfigResponse,
      async (r) => {
        await core.putClusterConfig(r.cluster);
        return {};
      },
    ),
    scatterRegion: rpc('ScatterRegion', ScatterRegionResponse, () => ({}), { checkCluster: false }),
    getGcSafePoint: rpc<GetGCSafePointRequest, GetGCSafePointResponse>('GetGCSafePoint', GetGCSafePointResponse, () => ({
      safePoint: core.getGcSafePoint(),
    })),
    updateGcSafePoint: rpc<UpdateGCSafePointRequest, UpdateGCSafePointResponse>(
      'UpdateGCSafePoint',
      UpdateGCSafePointResponse,
      async (r) => ({ newSafePoint: await core.updateGcSafePoint(r.safePoint) }),
    ),
    getOperator: rpc<GetOperatorRequest, GetOperatorResponse>('GetOperator', GetOperatorResponse, (r) => {
      if (!core.isBootstrapped) throw notBootstrapped();
      // No operators exist until the scheduling issue; every region answers "not found" like PD.
      throw new SchedulerError(SchedulerErrorCode.RegionNotFound, `no operator for region ${r.regionId}`);
    }),
  };

  function serveTso(call: ServerDuplexStream<TsoRequest, TsoResponse>): void {
    const handle = serveTsoStream(call, {
      allocate: (count) => core.allocTimestamp(count),
      header: okHeader,
      check: (request) => checkHeader(request.header),
      logger,
      onDone: () => tsoStreams.delete(handle),
    });
    tsoStreams.add(handle);
  }

  function serveRegionHeartbeat(call: ServerDuplexStream<RegionHeartbeatRequest, RegionHeartbeatResponse>): void {
    let open = true;
    const refusals = new RefusalLog(logger, call.getPeer());
    const sink: HeartbeatSink = {
      // A client that does not read its responses gets no more once its buffer is full (bounded).
      write: (response) => (open && !call.cancelled && !call.writableNeedDrain ? call.write(response) : false),
      end: () => {
        if (!open) return;
        open = false;
        call.end();
      },
    };
    const close = () => {
      open = false;
      core.streams.closed(sink);
    };
    core.streams.opened(sink);
    call.on('data', (request: RegionHeartbeatRequest) => {
      if (!open) return;
      try {
        checkHeader(request.header);
      } catch (err) {
        close();
        call.emit('error', toServiceError(err));
        return;
      }
      const input = {
        region: request.region,
        leader: request.leader,
        pendingPeers: request.pendingPeers,
        approximateSizeBytes: Number(request.approximateSize),
      };
      core.regionHeartbeat(input, sink).catch((err: unknown) => {
        const type = schedulerHeaderErrorOf(err)?.type ?? ErrorType.UNKNOWN;
        if (!isSchedulerError(err)) logger.error({ err }, 'region heartbeat failed');
        else refusals.note(err, request.region?.id);
        const message = isSchedulerError(err) ? `[${err.code}] ${err.message}` : String(err);
        sink.write(core.streams.errorResponse(type, message, request.region?.id));
      });
    });
    call.on('end', () => {
      if (open) call.end();
      close();
    });
    call.on('error', close);
    call.on('cancelled', close);
  }

  return {
    implementation,
    closeStreams: () => {
      core.streams.closeAll();
      for (const stream of [...tsoStreams]) stream.close();
    },
  };
}

/** Interval between two warn lines about refused heartbeats from one stream; the rest are counted. */
const REFUSAL_LOG_INTERVAL_MS = 10_000;

/**
 * Refused heartbeats are answered on the stream; the log gets a warn line per stream at most every
 * REFUSAL_LOG_INTERVAL_MS (with how many were refused meanwhile), so a flood cannot flood the log.
 */
class RefusalLog {
  private readonly limit = new RateLimitedLog(REFUSAL_LOG_INTERVAL_MS);

  constructor(
    private readonly logger: Logger,
    private readonly peer: string,
  ) {}

  note(err: SchedulerError, regionId: number | undefined): void {
    if (err.code === SchedulerErrorCode.StaleRegion) {
      // Routine after a split or leader change: the other report got there first.
      this.logger.debug({ err: err.message, regionId }, 'region heartbeat rejected');
      return;
    }
    this.limit.run((suppressed) =>
      this.logger.warn(
        { code: err.code, err: err.message, regionId, peer: this.peer, suppressedSinceLast: suppressed },
        'region heartbeat refused',
      ),
    );
  }
}
