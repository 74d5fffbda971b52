/**
 * RegionHeartbeat response streams, bound per store (PD's heartbeat_streams.go). A store's region
 * leaders report over a bidi stream, and scheduling commands (operator steps) are pushed to the
 * store through `send` (operators: `sendToLeader`). Errors about one heartbeat are answered as header errors on the stream it
 * came in on.
 *
 * TinyKV's heartbeat carries no sender, so a stream belongs to the store of the first leader it
 * reports (every node opens one stream for its one store). After that the stream speaks for that
 * store only, and the store speaks on that stream only: another stream claiming the same store is
 * refused while the bound one is open and has reported within STREAM_TAKEOVER_IDLE_MS. So a stray
 * or confused client cannot report regions on behalf of a live store; a restarted store whose old
 * stream is gone (or silent) binds its new stream at once (or after that window).
 */
import { ErrorType, RegionHeartbeatResponse, ResponseHeader } from '../proto/schedulerpb.js';
import { RegionEpoch } from '../proto/metapb.js';
import type { RegionInfo } from './cluster-state.js';
import type { Clock } from '../env/clock.js';
import type { HeartbeatCommand } from './schedule/operator-controller.js';
import { SchedulerError, SchedulerErrorCode } from './errors.js';

/**
 * How long a bound stream must have been silent before another stream may take its store over.
 * Leaders report every 500 ms, so a live store's stream is never this quiet while it leads a region.
 */
export const STREAM_TAKEOVER_IDLE_MS = 5_000;

/** The writable side of one RegionHeartbeat call. */
export interface HeartbeatSink {
  write(response: RegionHeartbeatResponse): boolean;
  end(): void;
}

export class HeartbeatStreams {
  private readonly byStore = new Map<number, HeartbeatSink>();
  /** The store each stream speaks for, and when it last reported. */
  private readonly owners = new Map<HeartbeatSink, { storeId: number; lastReportMs: number }>();
  private readonly open = new Set<HeartbeatSink>();
  private sentCount = 0;
  private droppedCount = 0;

  constructor(
    private readonly clusterId: bigint,
    private readonly clock: Clock,
  ) {}

  /** Tracks a new call so `closeAll` can end it. */
  opened(sink: HeartbeatSink): void {
    this.open.add(sink);
  }

  /**
   * Throws KV:Scheduler:StreamStoreMismatch unless `sink` may report for `storeId`: the stream is
   * unbound or bound to that store, and the store has no other live stream (see the file comment).
   */
  checkMayReport(storeId: number, sink: HeartbeatSink): void {
    const owner = this.owners.get(sink);
    if (owner && owner.storeId !== storeId) {
      throw new SchedulerError(
        SchedulerErrorCode.StreamStoreMismatch,
        `this heartbeat stream belongs to store ${owner.storeId}; a leader on store ${storeId} cannot report on it`,
        { storeId, ownerStoreId: owner.storeId },
      );
    }
    const bound = this.byStore.get(storeId);
    if (bound === undefined || bound === sink) return;
    const lastReportMs = this.owners.get(bound)?.lastReportMs ?? 0;
    if (this.open.has(bound) && this.clock.nowMs() - lastReportMs < STREAM_TAKEOVER_IDLE_MS) {
      throw new SchedulerError(SchedulerErrorCode.StreamStoreMismatch, `store ${storeId} reports on another heartbeat stream`, { storeId });
    }
  }

  /** Binds `sink` and `storeId` to each other after an accepted heartbeat and notes the time. */
  bind(storeId: number, sink: HeartbeatSink): void {
    const previous = this.byStore.get(storeId);
    if (previous !== undefined && previous !== sink) this.owners.delete(previous);
    this.byStore.set(storeId, sink);
    this.owners.set(sink, { storeId, lastReportMs: this.clock.nowMs() });
  }

  /** The store a stream speaks for, if it has reported. */
  ownerOf(sink: HeartbeatSink): number | undefined {
    return this.owners.get(sink)?.storeId;
  }

  /** Forgets a call that ended; stores bound to it have no stream until their next heartbeat. */
  closed(sink: HeartbeatSink): void {
    this.open.delete(sink);
    this.owners.delete(sink);
    for (const [storeId, bound] of this.byStore) if (bound === sink) this.byStore.delete(storeId);
  }

  isBound(storeId: number): boolean {
    return this.byStore.has(storeId);
  }

  get stats(): { open: number; bound: number; sent: number; dropped: number } {
    return { open: this.open.size, bound: this.byStore.size, sent: this.sentCount, dropped: this.droppedCount };
  }

  /** Pushes a response to the store's bound stream, stamped with the cluster id. False if none is bound. */
  send(storeId: number, response: RegionHeartbeatResponse): boolean {
    const sink = this.byStore.get(storeId);
    if (!sink) {
      this.droppedCount++;
      return false;
    }
    sink.write({ ...response, header: ResponseHeader.fromPartial({ ...response.header, clusterId: this.clusterId }) });
    this.sentCount++;
    return true;
  }

  /**
   * A scheduling command for a region (PD's SendMsg): stamps region id, epoch and target peer (the
   * leader) and delivers it to the leader's store. False when the leader is unknown or unbound.
   */
  sendToLeader(info: RegionInfo, command: HeartbeatCommand): boolean {
    const leader = info.leader;
    if (!leader) {
      this.droppedCount++;
      return false;
    }
    const response = RegionHeartbeatResponse.fromPartial({
      regionId: BigInt(info.region.id),
      regionEpoch: RegionEpoch.fromPartial(info.region.regionEpoch ?? {}),
      targetPeer: leader,
      ...command,
    });
    return this.send(leader.storeId, response);
  }

  /** Ends every open call (shutdown). */
  closeAll(): void {
    for (const sink of [...this.open]) {
      this.closed(sink);
      sink.end();
    }
  }

  errorResponse(type: ErrorType, message: string, regionId?: number): RegionHeartbeatResponse {
    return RegionHeartbeatResponse.fromPartial({
      header: { clusterId: this.clusterId, error: { type, message } },
      regionId: regionId === undefined ? 0n : BigInt(regionId),
    });
  }
}
