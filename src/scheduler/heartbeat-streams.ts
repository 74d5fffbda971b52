/**
 * RegionHeartbeat response streams, bound per store (PD's heartbeat_streams.go). A store's region
 * leaders report over a bidi stream; each heartbeat binds that stream to the leader's store, and
 * scheduling commands (operators, later) are pushed to the store through `send`. Errors about one
 * heartbeat are answered as header errors on the stream it came in on.
 */
import { ErrorType, RegionHeartbeatResponse, ResponseHeader } from '../proto/schedulerpb.js';
import { RegionEpoch } from '../proto/metapb.js';
import type { RegionInfo } from './cluster-state.js';

/** The writable side of one RegionHeartbeat call. */
export interface HeartbeatSink {
  write(response: RegionHeartbeatResponse): boolean;
  end(): void;
}

export class HeartbeatStreams {
  private readonly byStore = new Map<number, HeartbeatSink>();
  private readonly open = new Set<HeartbeatSink>();
  private sentCount = 0;
  private droppedCount = 0;

  constructor(private readonly clusterId: bigint) {}

  /** Tracks a new call so `closeAll` can end it. */
  opened(sink: HeartbeatSink): void {
    this.open.add(sink);
  }

  /** Binds the store's response stream to `sink` (the latest heartbeat's stream wins). */
  bind(storeId: number, sink: HeartbeatSink): void {
    this.byStore.set(storeId, sink);
  }

  /** Forgets a call that ended; stores bound to it have no stream until their next heartbeat. */
  closed(sink: HeartbeatSink): void {
    this.open.delete(sink);
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
  sendToLeader(info: RegionInfo, command: Partial<Pick<RegionHeartbeatResponse, 'changePeer' | 'transferLeader'>>): boolean {
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
