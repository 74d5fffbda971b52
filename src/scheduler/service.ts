/**
 * The gRPC `schedulerpb.Scheduler` service over a SchedulerCore.
 *
 * Every RPC checks that `header.cluster_id` is this cluster's (a mismatch, 0 included, is gRPC
 * FAILED_PRECONDITION), except GetMembers and ScatterRegion (no checks), as in TinyKV. Typed errors
 * that TinyKV answers in-band (NOT_BOOTSTRAPPED, ALREADY_BOOTSTRAPPED, STORE_TOMBSTONE,
 * REGION_NOT_FOUND) become `ResponseHeader.error`; the others become gRPC statuses (errors.ts).
 * Deviation from TinyKV: PutStore is accepted before bootstrap, because that is how stores
 * register for the scheduler-driven bootstrap.
 * RegionHeartbeat streams are served by region-heartbeat-stream.ts, Tso streams by tso-stream.ts.
 */
import type { ServerDuplexStream, UntypedServiceImplementation } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import {
  AllocIDResponse,
  AskSplitResponse,
  BootstrapResponse,
  GetAllStoresResponse,
  GetClusterConfigResponse,
  GetGCSafePointResponse,
  GetMembersResponse,
  GetOperatorResponse,
  GetRegionResponse,
  OperatorStatus,
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
import { CallTracker, unary, unimplementedService } from '../rpc/grpc-service.js';
import { RequestLog } from '../log/request-log.js';
import { schedulerHeaderErrorOf } from '../rpc/error-status.js';
import type { RegionInfo } from './cluster-state.js';
import { SchedulerCore, toId } from './core.js';
import { serveTsoStream, type TsoStreamHandle } from './tso-stream.js';
import { SchedulerError, SchedulerErrorCode } from './errors.js';
import { serveRegionHeartbeat } from './region-heartbeat-stream.js';
import { notBootstrapped } from './bootstrap.js';
import type { OpStatus } from './schedule/operator.js';
import type { SchedulerMetrics } from '../metrics/scheduler-metrics.js';

const OPERATOR_STATUS: Readonly<Record<OpStatus, OperatorStatus>> = {
  running: OperatorStatus.RUNNING,
  success: OperatorStatus.SUCCESS,
  timeout: OperatorStatus.TIMEOUT,
  cancel: OperatorStatus.CANCEL,
  replace: OperatorStatus.REPLACE,
};

export interface SchedulerServiceDeps {
  readonly core: SchedulerCore;
  readonly tracker: CallTracker;
  readonly logger: Logger;
  /** The address clients reach this scheduler at (GetMembers' client_urls). */
  readonly advertiseAddr: () => string;
  /** Where TSO requests and heartbeats are counted (none: not counted). */
  readonly metrics?: Pick<SchedulerMetrics, 'tsoRequest' | 'heartbeat'>;
}

export interface SchedulerServiceHandle {
  readonly implementation: UntypedServiceImplementation;
  /** Ends every open Tso and RegionHeartbeat stream (before a graceful shutdown). */
  closeStreams(): void;
}

interface WithHeader {
  header?: RequestHeader | undefined;
}

/** What the handler groups share: the core, the cluster header check and the unary wrapper. */
interface ServiceContext {
  readonly core: SchedulerCore;
  readonly okHeader: () => ResponseHeader;
  readonly checkHeader: (header: RequestHeader | undefined) => void;
  readonly rpc: Rpc;
  readonly metrics: Pick<SchedulerMetrics, 'tsoRequest' | 'heartbeat'>;
}

const UNCOUNTED: Pick<SchedulerMetrics, 'tsoRequest' | 'heartbeat'> = { tsoRequest: () => {}, heartbeat: () => {} };

/** Wraps a handler as a unary RPC: header check, in-band header errors, everything else through `unary`. */
type Rpc = <Req extends WithHeader, Res>(
  method: string,
  fns: MessageFns<Res>,
  handler: (request: Req) => Promise<DeepPartial<Res>> | DeepPartial<Res>,
  options?: { checkCluster?: boolean },
) => ReturnType<typeof unary<Req, Res>>;

export function createSchedulerService(deps: SchedulerServiceDeps): SchedulerServiceHandle {
  const { core, logger } = deps;
  const context = serviceContext(deps);
  const tsoStreams = new Set<TsoStreamHandle>();
  const serveTso = (call: ServerDuplexStream<TsoRequest, TsoResponse>): void => {
    const handle = serveTsoStream(call, {
      allocate: (count) => {
        context.metrics.tsoRequest();
        return core.allocTimestamp(count);
      },
      header: context.okHeader,
      check: (request) => context.checkHeader(request.header),
      logger,
      onDone: () => tsoStreams.delete(handle),
    });
    tsoStreams.add(handle);
  };
  const implementation: UntypedServiceImplementation = {
    ...unimplementedService(SchedulerService, () => 'not in scope until the multi-raft issue'),
    getMembers: membersHandler(context, deps.advertiseAddr),
    tso: serveTso,
    regionHeartbeat: (call: ServerDuplexStream<RegionHeartbeatRequest, RegionHeartbeatResponse>) =>
      serveRegionHeartbeat(call, { core, checkHeader: context.checkHeader, logger, onRequest: () => context.metrics.heartbeat('region') }),
    ...clusterHandlers(context),
    ...storeHandlers(context),
    ...regionHandlers(context),
  };
  return {
    implementation,
    closeStreams: () => {
      core.streams.closeAll();
      for (const stream of [...tsoStreams]) stream.close();
    },
  };
}

function serviceContext(deps: SchedulerServiceDeps): ServiceContext {
  const { core, tracker, logger } = deps;
  const requests = new RequestLog(logger);
  const clusterId = core.clusterId;
  const okHeader = () => ResponseHeader.fromPartial({ clusterId });
  const checkHeader = (header: RequestHeader | undefined): void => {
    const got = header?.clusterId ?? 0n;
    if (got !== clusterId) {
      throw new SchedulerError(SchedulerErrorCode.ClusterIdMismatch, `mismatch cluster id, need ${clusterId} but got ${got}`, {
        clusterId: String(got),
      });
    }
  };
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
      requests,
    );
  }
  return { core, okHeader, checkHeader, rpc, metrics: deps.metrics ?? UNCOUNTED };
}

/** GetMembers: this scheduler is the only member and its own leader (no cluster header check, as in TinyKV). */
function membersHandler({ core, rpc }: ServiceContext, advertiseAddr: () => string) {
  const self = () => Member.fromPartial({ name: 'tinykv-scheduler', memberId: core.clusterId, clientUrls: [`http://${advertiseAddr()}`] });
  return rpc<GetMembersRequest, GetMembersResponse>(
    'GetMembers',
    GetMembersResponse,
    () => ({ members: [self()], leader: self(), etcdLeader: self() }),
    { checkCluster: false },
  );
}

/** Bootstrap, ids, the cluster config and the GC safe point. */
function clusterHandlers({ core, rpc }: ServiceContext): UntypedServiceImplementation {
  return {
    bootstrap: rpc<BootstrapRequest, BootstrapResponse>('Bootstrap', BootstrapResponse, async (r) => {
      await core.bootstrap(r.store);
      return {};
    }),
    isBootstrapped: rpc<IsBootstrappedRequest, IsBootstrappedResponse>('IsBootstrapped', IsBootstrappedResponse, () => ({
      bootstrapped: core.isBootstrapped,
    })),
    allocId: rpc<AllocIDRequest, AllocIDResponse>('AllocID', AllocIDResponse, async () => ({ id: BigInt(await core.allocId()) })),
    getClusterConfig: rpc<GetClusterConfigRequest, GetClusterConfigResponse>('GetClusterConfig', GetClusterConfigResponse, () => ({
      cluster: core.clusterConfig(),
    })),
    putClusterConfig: rpc<PutClusterConfigRequest, PutClusterConfigResponse>('PutClusterConfig', PutClusterConfigResponse, async (r) => {
      await core.putClusterConfig(r.cluster);
      return {};
    }),
    getGcSafePoint: rpc<GetGCSafePointRequest, GetGCSafePointResponse>('GetGCSafePoint', GetGCSafePointResponse, () => ({
      safePoint: core.getGcSafePoint(),
    })),
    updateGcSafePoint: rpc<UpdateGCSafePointRequest, UpdateGCSafePointResponse>('UpdateGCSafePoint', UpdateGCSafePointResponse, async (r) => ({
      newSafePoint: await core.updateGcSafePoint(r.safePoint),
    })),
  };
}

/** Stores registering, reporting and being looked up. */
function storeHandlers({ core, rpc, metrics }: ServiceContext): UntypedServiceImplementation {
  return {
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
      metrics.heartbeat('store');
      core.storeHeartbeat(r.stats);
      return {};
    }),
  };
}

/** Region lookups, splits, scatter and operators. */
function regionHandlers({ core, rpc }: ServiceContext): UntypedServiceImplementation {
  const regionResponse = (info: RegionInfo | undefined): DeepPartial<GetRegionResponse> =>
    info
      ? {
          region: info.region,
          leader: info.leader,
          downPeers: info.downPeers.map(({ peer, downSeconds }) => ({ peer, downSeconds: BigInt(downSeconds) })),
          pendingPeers: [...info.pendingPeers],
        }
      : {};
  return {
    getRegion: rpc<GetRegionRequest, GetRegionResponse>('GetRegion', GetRegionResponse, (r) => regionResponse(core.getRegion(r.regionKey))),
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
    scatterRegion: rpc('ScatterRegion', ScatterRegionResponse, () => ({}), { checkCluster: false }),
    getOperator: rpc<GetOperatorRequest, GetOperatorResponse>('GetOperator', GetOperatorResponse, (r) => {
      if (!core.isBootstrapped) throw notBootstrapped();
      const regionId = toId(r.regionId, 'region id');
      // The running operator, else the last one that finished; PD answers REGION_NOT_FOUND for none.
      const op = core.operators.getLatest(regionId);
      if (!op) throw new SchedulerError(SchedulerErrorCode.RegionNotFound, `no operator for region ${regionId}`, { regionId });
      return {
        regionId: BigInt(regionId),
        desc: Buffer.from(op.desc),
        status: OPERATOR_STATUS[op.status],
        kind: Buffer.from(op.kindNames()),
      };
    }),
  };
}
