/**
 * Domain values (admin.ts) as PD's `/pd/api/v1` JSON: PD's field names, keys in upper-case hex,
 * sizes in MiB where PD counts MiB, byte sizes and durations as Go prints them. Pure.
 */
import type { Peer } from '../../proto/metapb.js';
import type { RegionInfo } from '../cluster-state.js';
import type { ClusterStatusView, MemberView, OperatorView, StoreView } from '../admin.js';
import type { ScheduleConfig } from '../schedule/schedule-config.js';
import { describeStep } from '../schedule/operator.js';
import { formatByteSize, formatGoDuration, formatTime } from './go-format.js';

const MIB = 1024 * 1024;

/** PD's region size: whole MiB, at least 1 for a region holding anything (EmptyRegionApproximateSize). */
export function sizeMiB(bytes: number): number {
  return bytes === 0 ? 0 : Math.max(1, Math.floor(bytes / MIB));
}

/** PD's key form (core.HexRegionKeyStr): upper-case hex, "" for the unbounded end. */
export function hexKey(key: Uint8Array): string {
  return Buffer.from(key.buffer, key.byteOffset, key.byteLength).toString('hex').toUpperCase();
}

function peerJson(peer: Peer): Record<string, unknown> {
  return { id: peer.id, store_id: peer.storeId, role_name: 'Voter' };
}

export function regionJson(info: RegionInfo): Record<string, unknown> {
  const region = info.region;
  return {
    id: region.id,
    start_key: hexKey(region.startKey),
    end_key: hexKey(region.endKey),
    epoch: { conf_ver: region.regionEpoch?.confVer ?? 0, version: region.regionEpoch?.version ?? 0 },
    peers: region.peers.map(peerJson),
    // PD writes an empty peer for an unknown leader; leaving the field out says the same plainly.
    ...(info.leader ? { leader: peerJson(info.leader) } : {}),
    down_peers: info.downPeers.map((d) => ({ peer: peerJson(d.peer), down_seconds: d.downSeconds })),
    pending_peers: info.pendingPeers.map(peerJson),
    approximate_size: sizeMiB(info.approximateSizeBytes),
    approximate_keys: info.approximateKeys,
  };
}

export function regionsJson(regions: readonly RegionInfo[]): Record<string, unknown> {
  return { count: regions.length, regions: regions.map(regionJson) };
}

export function storeJson(view: StoreView): Record<string, unknown> {
  const { info } = view;
  const stats = info.stats;
  const status: Record<string, unknown> = {
    capacity: formatByteSize(Number(stats?.capacity ?? 0n)),
    available: formatByteSize(Number(stats?.available ?? 0n)),
    used_size: formatByteSize(Number(stats?.usedSize ?? 0n)),
    leader_count: info.leaderCount,
    leader_size: sizeMiB(info.leaderSizeBytes),
    region_count: info.regionCount,
    region_size: sizeMiB(info.regionSizeBytes),
    pending_peer_count: info.pendingPeerCount,
    sending_snap_count: stats?.sendingSnapCount ?? 0,
    receiving_snap_count: stats?.receivingSnapCount ?? 0,
    is_busy: stats?.isBusy ?? false,
    // PD's StoreStats flow over the last heartbeat's interval (an extension of TinyKV's).
    bytes_written: Number(stats?.bytesWritten ?? 0n),
    keys_written: Number(stats?.keysWritten ?? 0n),
    bytes_read: Number(stats?.bytesRead ?? 0n),
    keys_read: Number(stats?.keysRead ?? 0n),
    interval_seconds: stats?.interval ? Number(stats.interval.endTimestamp - stats.interval.startTimestamp) : 0,
  };
  if (stats && stats.startTime > 0) status.start_ts = formatTime(stats.startTime * 1_000);
  if (info.lastHeartbeatMs !== undefined) {
    status.last_heartbeat_ts = formatTime(info.lastHeartbeatMs);
    // PD's uptime: from the store's start to its last heartbeat.
    if (stats && stats.startTime > 0 && info.lastHeartbeatMs > stats.startTime * 1_000) {
      status.uptime = formatGoDuration(info.lastHeartbeatMs - stats.startTime * 1_000);
    }
  }
  return {
    store: { id: info.store.id, address: info.store.address, state: info.store.state, state_name: view.stateName },
    status,
  };
}

export function storesJson(views: readonly StoreView[]): Record<string, unknown> {
  return { count: views.length, stores: views.map(storeJson) };
}

export function operatorJson(view: OperatorView): Record<string, unknown> {
  return {
    region_id: view.regionId,
    desc: view.desc,
    kind: view.kind,
    status: view.status.toUpperCase(),
    steps: view.steps.map(describeStep),
    step_index: view.stepIndex,
    create_time: formatTime(view.createdMs),
    ...(view.finishedMs === undefined ? {} : { finish_time: formatTime(view.finishedMs) }),
    text: view.text,
  };
}

export function memberJson(member: MemberView): Record<string, unknown> {
  return { name: member.name, member_id: member.memberId, client_urls: member.clientUrls, peer_urls: [] };
}

export function clusterStatusJson(status: ClusterStatusView): Record<string, unknown> {
  return {
    ...(status.bootstrapTimeMs === undefined ? {} : { raft_bootstrap_time: formatTime(status.bootstrapTimeMs) }),
    is_initialized: status.prepared,
    bootstrapped: status.bootstrapped,
    cluster_id: status.clusterId,
  };
}

/** PD's replication section (`/config/replicate`). */
export function replicationConfigJson(config: ScheduleConfig): Record<string, unknown> {
  return { 'max-replicas': config.maxReplicas };
}

/** PD's schedule section (`/config/schedule`), hyphenated keys, durations as Go strings. */
export function scheduleConfigJson(config: ScheduleConfig): Record<string, unknown> {
  return {
    'max-store-down-time': formatGoDuration(config.maxStoreDownTimeMs),
    'leader-schedule-limit': config.leaderScheduleLimit,
    'region-schedule-limit': config.regionScheduleLimit,
    'replica-schedule-limit': config.replicaScheduleLimit,
    'patrol-region-interval': formatGoDuration(config.patrolRegionIntervalMs),
  };
}

export function configJson(config: ScheduleConfig): Record<string, unknown> {
  return { replication: replicationConfigJson(config), schedule: scheduleConfigJson(config) };
}
