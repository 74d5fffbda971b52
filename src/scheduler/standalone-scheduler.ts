/**
 * The part of schedulerpb.Scheduler a standalone node serves: GetMembers and Tso, so one client
 * works against a standalone node and a cluster alike. Everything else answers UNIMPLEMENTED.
 */
import type { ServerDuplexStream, UntypedServiceImplementation } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import {
  GetMembersResponse,
  Member,
  ResponseHeader,
  SchedulerService,
  TsoResponse,
  type GetMembersRequest,
  type TsoRequest,
} from '../proto/schedulerpb.js';
import type { Engine } from '../engine/engine.js';
import type { Clock } from '../env/clock.js';
import { CallTracker, unary, unimplementedService } from '../rpc/grpc-service.js';
import { RequestLog } from '../log/request-log.js';
import { TimestampOracle } from './tso.js';
import { serveTsoStream } from './tso-stream.js';

const TSO_SAVED_UNTIL_KEY = Buffer.from('scheduler/tso-saved-until-ms');
const CLUSTER_ID_KEY = Buffer.from('scheduler/cluster-id');

/** Loads the node's cluster id, creating and persisting one on first start. */
export async function loadClusterId(engine: Engine, clock: Clock, random: () => number): Promise<bigint> {
  const stored = engine.get('meta', CLUSTER_ID_KEY);
  if (stored) return stored.readBigUInt64BE();
  // PD-style: wall-clock seconds in the high bits, randomness below, so ids differ across clusters.
  const id = (BigInt(Math.floor(clock.nowMs() / 1000)) << 32n) | BigInt(Math.floor(random() * 0xffffffff));
  const bytes = Buffer.alloc(8);
  bytes.writeBigUInt64BE(id);
  await engine.write([{ type: 'put', cf: 'meta', key: CLUSTER_ID_KEY, value: bytes }]);
  return id;
}

export async function startOracle(engine: Engine, clock: Clock): Promise<TimestampOracle> {
  return TimestampOracle.start(clock, {
    load: () => {
      const value = engine.get('meta', TSO_SAVED_UNTIL_KEY);
      return value ? Number(value.readBigUInt64BE()) : 0;
    },
    save: async (savedUntilMs) => {
      const bytes = Buffer.alloc(8);
      bytes.writeBigUInt64BE(BigInt(savedUntilMs));
      await engine.write([{ type: 'put', cf: 'meta', key: TSO_SAVED_UNTIL_KEY, value: bytes }]);
    },
  });
}

export interface StandaloneSchedulerDeps {
  readonly clusterId: bigint;
  readonly oracle: TimestampOracle;
  readonly advertiseAddr: () => string;
  readonly tracker: CallTracker;
  readonly logger: Logger;
}

export function standaloneSchedulerService(deps: StandaloneSchedulerDeps): UntypedServiceImplementation {
  const header = () => ResponseHeader.fromPartial({ clusterId: deps.clusterId });
  const self = () => Member.fromPartial({ name: 'tinykv-standalone', memberId: deps.clusterId, clientUrls: [`http://${deps.advertiseAddr()}`] });
  return {
    ...unimplementedService(SchedulerService, () => 'a standalone node serves only GetMembers and Tso'),
    getMembers: unary(
      'GetMembers',
      async (_request: GetMembersRequest) =>
        GetMembersResponse.fromPartial({ header: header(), members: [self()], leader: self(), etcdLeader: self() }),
      deps.tracker,
      new RequestLog(deps.logger),
    ),
    tso: (call: ServerDuplexStream<TsoRequest, TsoResponse>) => {
      serveTsoStream(call, { allocate: (count) => deps.oracle.allocate(count), header: () => header(), logger: deps.logger });
    },
  };
}
