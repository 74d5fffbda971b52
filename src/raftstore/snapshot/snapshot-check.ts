/**
 * Checks a received snapshot before it reaches Raft. A snapshot that Raft accepts is written
 * over the region's data and state on the poll round's path, where a decoding error or a
 * mismatch would stop the raft poller; so everything that writing it assumes is verified here,
 * on the way in, and a snapshot that fails is dropped like any other bad message.
 */
import { DATA_COLUMN_FAMILIES } from '../../engine/engine.js';
import type { Snapshot } from '../../proto/eraftpb.js';
import type { Region } from '../../proto/metapb.js';
import { RaftSnapshotData } from '../../proto/raft_serverpb.js';
import { isRaftNumberSafe } from '../batch/message-check.js';
import { epochOf, isEpochStale, keyInRegion } from '../region.js';

/** Why a snapshot is refused, or undefined when it may go to Raft. */
export function checkSnapshot(snapshot: Snapshot, target: { readonly region: Region; readonly peerId: number }): string | undefined {
  const meta = snapshot.metadata;
  if (!meta || meta.index === 0 || meta.term === 0) return 'snapshot without index and term';
  if (!isRaftNumberSafe(meta.index) || !isRaftNumberSafe(meta.term)) return 'snapshot index or term out of range';
  let data: RaftSnapshotData;
  try {
    data = RaftSnapshotData.decode(snapshot.data);
  } catch (err) {
    return `snapshot data does not decode: ${(err as Error).message}`;
  }
  const region = data.region;
  if (!region) return 'snapshot data without a region';
  if (region.id !== target.region.id) return `snapshot of region ${region.id}, not ${target.region.id}`;
  if (!region.peers.some((peer) => peer.id === target.peerId)) return `snapshot region has no peer ${target.peerId}`;
  if (isEpochStale(epochOf(region), epochOf(target.region))) return 'snapshot region epoch is older than the current one';
  const nodes = [...(meta.confState?.nodes ?? [])].sort((a, b) => a - b);
  const peers = region.peers.map((peer) => peer.id).sort((a, b) => a - b);
  if (nodes.length !== peers.length || nodes.some((id, i) => id !== peers[i])) return 'snapshot conf state does not match its region';
  for (const { key } of data.data) {
    const tag = key[0];
    if (key.length < 2 || tag === undefined || DATA_COLUMN_FAMILIES[tag] === undefined) return 'snapshot data key without a column family';
    if (!keyInRegion(key.subarray(1), region)) return 'snapshot data key outside its region';
  }
  return undefined;
}
