/**
 * A RegionHeartbeat stream that keeps itself open: a store sends its leaders' heartbeats on it and
 * gets scheduler commands back. When the stream breaks it is reopened after a backoff; `send`
 * reports false meanwhile (heartbeats are periodic, so the next one goes out on the new stream).
 */
import { status as GrpcStatus, type ClientDuplexStream, type ServiceError } from '@grpc/grpc-js';
import type { Peer, Region } from '../proto/metapb.js';
import type { PeerStats, RegionHeartbeatRequest, RegionHeartbeatResponse, RequestHeader } from '../proto/schedulerpb.js';
import { ClientError, ClientErrorCode, fromServiceError } from './errors.js';

export interface RegionHeartbeat {
  readonly region: Region;
  readonly leader: Peer;
  /** Followers behind the leader's truncated index (they need a snapshot). */
  readonly pendingPeers?: readonly Peer[];
  /** Followers the leader has not heard from for raftstore.max-peer-down-duration. */
  readonly downPeers?: readonly DownPeer[];
  /** Absent or 0: unknown (the scheduler keeps what it had). */
  readonly approximateSizeBytes?: number;
  readonly approximateKeys?: number;
}

export interface DownPeer {
  readonly peer: Peer;
  readonly downSeconds: number;
}

export interface RegionHeartbeatStream {
  /** Sends one heartbeat; false when no stream is open right now (the heartbeat is dropped). */
  send(heartbeat: RegionHeartbeat): boolean;
  readonly connected: boolean;
  close(): void;
}

type HeartbeatCall = ClientDuplexStream<RegionHeartbeatRequest, RegionHeartbeatResponse>;

/** What the stream needs from the scheduler client that owns it. */
export interface HeartbeatStreamSource {
  /** Opens a RegionHeartbeat call to the member the client talks to now. */
  openHeartbeatCall(): HeartbeatCall;
  header(): RequestHeader;
  backoffMs(attempt: number): number;
  /** Whether the owning client is closed (then a broken stream is not reopened). */
  isClosed(): boolean;
}

export function openRegionHeartbeatStream(
  source: HeartbeatStreamSource,
  onResponse: (response: RegionHeartbeatResponse) => void,
  onError: ((err: ClientError) => void) | undefined,
  onClose: () => void,
): RegionHeartbeatStream {
  let call: HeartbeatCall | undefined;
  let closed = false;
  let attempt = 0;
  let reopenTimer: NodeJS.Timeout | undefined;
  const open = () => {
    reopenTimer = undefined;
    if (closed || source.isClosed()) return;
    const current = source.openHeartbeatCall();
    call = current;
    current.on('data', (response: RegionHeartbeatResponse) => {
      attempt = 0;
      onResponse(response);
    });
    const broken = (err: ClientError) => {
      if (call !== current) return;
      call = undefined;
      if (closed) return;
      onError?.(err);
      // A cluster id mismatch will not heal by reconnecting.
      if (err.grpcStatus === GrpcStatus.FAILED_PRECONDITION) return;
      reopenTimer = setTimeout(open, source.backoffMs(attempt++));
    };
    current.on('error', (err: ServiceError) => broken(fromServiceError(err, 'RegionHeartbeat')));
    current.on('end', () => broken(streamEnded()));
  };
  const handle: RegionHeartbeatStream = {
    send: (heartbeat) => {
      if (!call) return false;
      return call.write({
        header: source.header(),
        region: heartbeat.region,
        leader: heartbeat.leader,
        pendingPeers: [...(heartbeat.pendingPeers ?? [])],
        downPeers: (heartbeat.downPeers ?? []).map(toPeerStats),
        approximateSize: BigInt(heartbeat.approximateSizeBytes ?? 0),
        approximateKeys: BigInt(heartbeat.approximateKeys ?? 0),
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
      onClose();
    },
  };
  open();
  return handle;
}

function toPeerStats({ peer, downSeconds }: DownPeer): PeerStats {
  return { peer, downSeconds: BigInt(downSeconds) };
}

function streamEnded(): ClientError {
  return new ClientError(ClientErrorCode.Transport, 'RegionHeartbeat: stream ended by the server', { grpcStatus: GrpcStatus.UNAVAILABLE });
}
