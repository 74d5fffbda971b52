/**
 * One RegionHeartbeat stream: each request is checked and applied in arrival order; a problem
 * with one heartbeat (stale epoch, unknown store, not bootstrapped, ...) is answered with a header
 * error (region_id set) on the same stream, which stays open. A cluster id mismatch ends the stream.
 */
import type { ServerDuplexStream } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { ErrorType, type RegionHeartbeatRequest, type RegionHeartbeatResponse, type RequestHeader } from '../proto/schedulerpb.js';
import { schedulerHeaderErrorOf, toServiceError } from '../rpc/error-status.js';
import { RateLimitedLog } from '../util/rate-limited-log.js';
import type { SchedulerCore } from './core.js';
import { SchedulerError, SchedulerErrorCode, isSchedulerError } from './errors.js';
import type { HeartbeatSink } from './heartbeat-streams.js';

export interface RegionHeartbeatDeps {
  readonly core: SchedulerCore;
  readonly checkHeader: (header: RequestHeader | undefined) => void;
  readonly logger: Logger;
  /** Called for every request that arrives on an open stream, before it is checked (the heartbeat counter). */
  readonly onRequest: () => void;
}

export function serveRegionHeartbeat(call: ServerDuplexStream<RegionHeartbeatRequest, RegionHeartbeatResponse>, deps: RegionHeartbeatDeps): void {
  const { core, checkHeader, logger } = deps;
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
    deps.onRequest();
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
      downPeers: request.downPeers.map((stats) => ({ peer: stats.peer, downSeconds: Number(stats.downSeconds) })),
      approximateSizeBytes: Number(request.approximateSize),
      approximateKeys: Number(request.approximateKeys),
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
      this.logger.warn({ code: err.code, err: err.message, regionId, peer: this.peer, suppressedSinceLast: suppressed }, 'region heartbeat refused'),
    );
  }
}
