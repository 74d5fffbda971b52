/**
 * The scheduler stand-in of a client connected to one node directly (`connect({ node })`): every
 * request goes to that node, which routes it to its region by key (a cluster store) or serves it
 * (a standalone node). No scheduler is asked, so there are no timestamps and no transactions.
 */
import { status as GrpcStatus } from '@grpc/grpc-js';
import type { Store } from '../proto/metapb.js';
import { ClientError, ClientErrorCode } from './errors.js';
import type { RegionLookup, RegionSource, TimestampSource } from './scheduler-client.js';

/** What the client needs from its scheduler: timestamps, region and store lookups, the cluster id. */
export interface SchedulerLink extends TimestampSource, RegionSource {
  readonly clusterId: bigint;
  /** Where requests go when there is no region routing (a standalone node). */
  readonly addr: string;
  close(): void;
}

export class DirectNode implements SchedulerLink {
  readonly clusterId = 0n;

  constructor(readonly addr: string) {}

  getTimestamp(): Promise<bigint> {
    return Promise.reject(
      new ClientError(
        ClientErrorCode.InvalidArgument,
        `a client connected with { node } has no timestamps: connect with { scheduler } or { addr } for transactions`,
      ),
    );
  }

  /** UNIMPLEMENTED, as a standalone node answers: the region cache then sends every key to `addr`. */
  getRegion(): Promise<RegionLookup | undefined> {
    return Promise.reject(unimplemented('GetRegion'));
  }

  getRegionById(): Promise<RegionLookup | undefined> {
    return Promise.reject(unimplemented('GetRegionByID'));
  }

  /** No store is known: a NotLeader hint cannot be followed, and the request fails as RegionUnavailable. */
  getStore(): Promise<Store | undefined> {
    return Promise.resolve(undefined);
  }

  close(): void {}
}

function unimplemented(what: string): ClientError {
  return new ClientError(ClientErrorCode.ServerError, `${what}: no scheduler (connected to one node)`, { grpcStatus: GrpcStatus.UNIMPLEMENTED });
}
