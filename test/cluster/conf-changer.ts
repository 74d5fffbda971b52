// TinyKV's confchanger for the threaded in-process cluster: one membership change at a time, sent
// to the region's current leader as a ChangePeer admin command, retried on region errors; plus the
// checks a conf-change scenario makes of the stores' engines (a removed store holds none of the
// region's data, every replica holds the same data).
import { DATA_COLUMN_FAMILIES } from '../../src/engine/engine.js';
import { ConfChangeType } from '../../src/proto/eraftpb.js';
import type { Peer, Region } from '../../src/proto/metapb.js';
import { AdminCmdType, RaftCmdRequest, type RaftCmdResponse } from '../../src/proto/raft_cmdpb.js';
import { PeerState, RegionLocalState } from '../../src/proto/raft_serverpb.js';
import type { SeededRandom } from '../../src/raft/index.js';
import { regionStateKey } from '../../src/raftstore/keys.js';
import { rangesToClear, type KeyRange } from '../../src/raftstore/peer/peer-destroy.js';
import type { ClusterNode } from '../../src/server/cluster-node.js';
import { transferLeaderCommand } from '../../src/server/heartbeat-commands.js';
import { waitUntil, type InProcessCluster } from './harness.js';
import { sleep } from './workload.js';

/** How long one proposal may go unanswered (its leader crashed or lost leadership) before it is sent again. */
const PROPOSAL_TIMEOUT_MS = 3_000;

/** The running store whose peer leads the region (as its poller last reported), with its view of the region. */
export function leaderOf(cluster: InProcessCluster, regionId: number): { node: ClusterNode; region: Region; leader: Peer } | undefined {
  for (const node of cluster.all()) {
    const found = node.store.leaderRegions().find((r) => r.region.id === regionId);
    if (found) return { node, ...found };
  }
  return undefined;
}

/** One ChangePeer through the current leader; undefined when no answer came in time. */
async function proposeOnce(node: ClusterNode, request: RaftCmdRequest): Promise<RaftCmdResponse | undefined> {
  let timer: NodeJS.Timeout | undefined;
  let cancel = () => {};
  const answered = new Promise<RaftCmdResponse>((resolve) => (cancel = node.store.propose(request, (result) => resolve(result.response))));
  const timedOut = new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), PROPOSAL_TIMEOUT_MS)));
  try {
    const response = await Promise.race([answered, timedOut]);
    if (response === undefined) cancel();
    return response;
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Makes the change through the region's leader, retrying on region errors (no leader, epoch
 * changed, a conf change pending, a leader handing over) until a leader says the change is in
 * effect; gives up when `abandon()` holds (the run stopped). Returns whether it was done.
 */
export async function changePeer(
  cluster: InProcessCluster,
  regionId: number,
  changeType: ConfChangeType,
  peer: Peer,
  abandon: () => boolean = () => false,
  deadlineMs = 20_000,
): Promise<boolean> {
  const deadline = Date.now() + deadlineMs;
  while (!abandon()) {
    const current = leaderOf(cluster, regionId);
    // Seen done (a stale view sent it again, or an answer was lost to a timeout): nothing to send.
    if (current && inEffect(current.region, changeType, peer)) return true;
    if (current) {
      const request = RaftCmdRequest.fromPartial({
        header: { regionId, peer: current.leader, regionEpoch: current.region.regionEpoch },
        adminRequest: { cmdType: AdminCmdType.ChangePeer, changePeer: { changeType, peer } },
      });
      const response = await proposeOnce(current.node, request);
      if (response && !response.header?.error) return true;
    }
    if (Date.now() > deadline)
      throw new Error(`${ConfChangeType[changeType]} of peer ${peer.id} on store ${peer.storeId}: not done in ${deadlineMs} ms`);
    await sleep(50);
  }
  return false;
}

/** Whether the region already reflects the change: the store has a peer (add), or the peer is gone (remove). */
function inEffect(region: Region, changeType: ConfChangeType, peer: Peer): boolean {
  if (changeType === ConfChangeType.AddNode) return region.peers.some((p) => p.storeId === peer.storeId);
  return !region.peers.some((p) => p.id === peer.id);
}

/** The region's state on a store's disk (Tombstone once its peer there was destroyed). */
export function regionStateOn(node: ClusterNode, regionId: number): RegionLocalState | undefined {
  const bytes = node.engines.kv.get('meta', regionStateKey(regionId));
  return bytes && RegionLocalState.decode(bytes);
}

/** Every data pair of a store (all column families), encoded to compare stores; the cluster has one region spanning every key. */
export function dataDump(node: ClusterNode): string[] {
  const snapshot = node.engines.kv.snapshot();
  try {
    return DATA_COLUMN_FAMILIES.flatMap((cf) =>
      [...snapshot.scan(cf)].map(({ key, value }) => `${cf}:${key.toString('hex')}=${value.toString('hex')}`),
    );
  } finally {
    snapshot.close();
  }
}

/**
 * Moves the region's leadership off `peer` (a TransferLeader admin command to the current leader,
 * answered at once), waiting up to `waitMs` for another peer to lead. Returns whether it moved.
 */
export async function moveLeaderOff(cluster: InProcessCluster, regionId: number, peer: Peer, waitMs = 2_000): Promise<boolean> {
  const current = leaderOf(cluster, regionId);
  if (current?.leader.id !== peer.id) return true;
  const target = current.region.peers.find((p) => p.id !== peer.id);
  if (!target) return false;
  await proposeOnce(current.node, transferLeaderCommand(current.region, current.leader, target));
  await waitUntil(() => {
    const now = leaderOf(cluster, regionId);
    return now !== undefined && now.leader.id !== peer.id;
  }, waitMs);
  return leaderOf(cluster, regionId)?.leader.id !== peer.id;
}

/**
 * How the confchanger removes the leader's own peer: 'direct' as TinyKV does (the leader proposes
 * its own removal); 'transfer-first' moves leadership to another peer first, so the removed peer is
 * a follower (a workaround while a destroyed leader can answer a read with its cleared range, see
 * conf-change-scenarios.test.ts).
 */
export type LeaderRemoval = 'direct' | 'transfer-first';

export interface ConfChangerReport {
  adds: number;
  removes: number;
  /** Removed stores seen with the region's tombstone on disk, whose data was then checked gone. */
  removalsChecked: number;
  /** What was wrong with a removed store's engine. */
  readonly problems: string[];
}

/**
 * TinyKV's confchanger: until `stopped()`, picks a random store of `storeIds`; removes the region's
 * peer there if it has one and is not the last, else adds a peer there with a new id from the
 * scheduler's allocator; then sleeps up to 200 ms. After a removal it watches the removed store for
 * a while: once the removal reached it (Tombstone on disk) its data must be gone.
 */
export async function runConfChanger(
  cluster: InProcessCluster,
  regionId: number,
  storeIds: readonly number[],
  rng: SeededRandom,
  stopped: () => boolean,
  leaderRemoval: LeaderRemoval = 'direct',
): Promise<ConfChangerReport> {
  const report: ConfChangerReport = { adds: 0, removes: 0, removalsChecked: 0, problems: [] };
  while (!stopped()) {
    const current = leaderOf(cluster, regionId);
    if (current) await changeOnce(cluster, current.region, rng.pick(storeIds), { report, stopped, leaderRemoval });
    await sleep(current ? rng.int(200) : 20);
  }
  return report;
}

/** One step of the confchanger on store `storeId`, as the leader sees the region now. */
async function changeOnce(
  cluster: InProcessCluster,
  region: Region,
  storeId: number,
  run: {
    readonly report: ConfChangerReport;
    readonly stopped: () => boolean;
    readonly leaderRemoval: LeaderRemoval;
    /** How a removal that went through is checked on the removed store; checkRemoved when absent. */
    readonly checkRemoval?: RemovalCheck;
  },
): Promise<void> {
  const { report, stopped } = run;
  const check = run.checkRemoval ?? checkRemoved;
  const existing = region.peers.find((p) => p.storeId === storeId);
  if (!existing) {
    const peer = { id: await cluster.scheduler.core.allocId(), storeId };
    if (await changePeer(cluster, region.id, ConfChangeType.AddNode, peer, stopped)) report.adds++;
    return;
  }
  if (region.peers.length < 2) return;
  if (run.leaderRemoval === 'transfer-first' && !(await moveLeaderOff(cluster, region.id, existing))) return;
  if (await changePeer(cluster, region.id, ConfChangeType.RemoveNode, existing, stopped)) {
    report.removes++;
    await check(cluster, region.id, storeId, report, stopped);
  }
}

/**
 * Waits up to `waitMs` for the removal to reach the store (its peer destroyed: Tombstone on disk);
 * then, while it is still removed (nothing re-adds it meanwhile: changes are one at a time), the
 * region's data must be gone from it. A store the removal did not reach (cut off, or down) is not checked.
 */
export async function checkRemoved(
  cluster: InProcessCluster,
  regionId: number,
  storeId: number,
  report: ConfChangerReport,
  abandon: () => boolean,
  waitMs = 1_000,
): Promise<boolean> {
  for (const deadline = Date.now() + waitMs; Date.now() < deadline && !abandon(); await sleep(20)) {
    // Synchronous from here: a store still in the cluster has its engines open.
    const node = cluster.nodes.get(storeId);
    if (!node || regionStateOn(node, regionId)?.state !== PeerState.Tombstone) continue;
    const left = dataDump(node);
    if (left.length > 0)
      report.problems.push(`store ${storeId} removed from region ${regionId} (tombstone) still holds ${left.length} pairs, e.g. ${left[0]}`);
    // The main thread hears of the destroy from the poller just after the apply thread wrote it.
    const serves = () => node.store.regions().some((r) => r.id === regionId);
    await waitUntil(() => !serves(), 2_000);
    if (serves()) report.problems.push(`store ${storeId} still serves region ${regionId} 2 s after its tombstone`);
    report.removalsChecked++;
    return true;
  }
  return false;
}

/** Checks, on the removed store, a removal the confchanger made; true once it reached the store. */
export type RemovalCheck = (
  cluster: InProcessCluster,
  regionId: number,
  storeId: number,
  report: ConfChangerReport,
  abandon: () => boolean,
) => Promise<boolean>;

/** Every region some running store leads, once each (the view with the newest epoch when leaders overlap). */
export function ledRegions(cluster: InProcessCluster): Region[] {
  const newest = new Map<number, Region>();
  for (const node of cluster.all()) {
    for (const { region } of node.store.leaderRegions()) {
      const seen = newest.get(region.id);
      const version = (r: Region | undefined) => (r?.regionEpoch?.version ?? -1) * 1e6 + (r?.regionEpoch?.confVer ?? 0);
      if (version(region) > version(seen)) newest.set(region.id, region);
    }
  }
  return [...newest.values()];
}

/**
 * TinyKV's confchanger once the key space splits: each step picks a random region (TinyKV asks its
 * scheduler; here, among the regions some store leads) and a random store, and removes or adds
 * that region's peer there as runConfChanger does, through the region's current leader. A removal
 * is checked with checkRemovedFromRange: the removed store keeps the data of its other regions.
 */
export async function runRegionsConfChanger(
  cluster: InProcessCluster,
  storeIds: readonly number[],
  rng: SeededRandom,
  stopped: () => boolean,
): Promise<ConfChangerReport> {
  const report: ConfChangerReport = { adds: 0, removes: 0, removalsChecked: 0, problems: [] };
  const run = { report, stopped, leaderRemoval: 'direct' as const, checkRemoval: checkRemovedFromRange };
  while (!stopped()) {
    const regions = ledRegions(cluster);
    if (regions.length > 0) await changeOnce(cluster, rng.pick(regions), rng.pick(storeIds), run);
    await sleep(regions.length > 0 ? rng.int(200) : 20);
  }
  return report;
}

/**
 * checkRemoved for a store holding other regions too: once the removal reached the store
 * (Tombstone on disk), no data may be left in the removed region's last range except where a
 * region the store still serves covers it (a region split off before the removal and catching up
 * there). A leftover is looked at again after `settleMs`, as a region whose snapshot was just
 * written may not be in the main thread's view yet.
 */
export async function checkRemovedFromRange(
  cluster: InProcessCluster,
  regionId: number,
  storeId: number,
  report: ConfChangerReport,
  abandon: () => boolean,
  waitMs = 1_000,
  settleMs = 500,
): Promise<boolean> {
  for (const deadline = Date.now() + waitMs; Date.now() < deadline && !abandon(); await sleep(20)) {
    const node = cluster.nodes.get(storeId);
    const state = node && regionStateOn(node, regionId);
    if (!node || state?.state !== PeerState.Tombstone || !state.region) continue;
    const removedRange = { startKey: Buffer.from(state.region.startKey), endKey: Buffer.from(state.region.endKey) };
    const leftover = () => orphanData(node, regionId, removedRange);
    if (leftover().length > 0) await sleep(settleMs);
    // The store may have been stopped meanwhile: its engines are closed then.
    const left = cluster.nodes.get(storeId) === node ? leftover() : [];
    if (left.length > 0)
      report.problems.push(
        `store ${storeId} removed from region ${regionId} (tombstone) still holds ${left.length} pairs of its range, e.g. ${left[0]}`,
      );
    const serves = () => node.store.regions().some((r) => r.id === regionId);
    await waitUntil(() => !serves(), 2_000);
    if (serves()) report.problems.push(`store ${storeId} still serves region ${regionId} 2 s after its tombstone`);
    report.removalsChecked++;
    return true;
  }
  return false;
}

/** The store's data pairs in `range` that none of its other (initialized) regions covers. */
function orphanData(node: ClusterNode, regionId: number, range: KeyRange): string[] {
  const kept = node.store
    .regions()
    // An uninitialized peer's region has no peers and no range yet.
    .filter((r) => r.id !== regionId && r.peers.length > 0)
    .map((r) => ({ startKey: Buffer.from(r.startKey), endKey: Buffer.from(r.endKey) }));
  const gaps = rangesToClear(range, kept);
  const snapshot = node.engines.kv.snapshot();
  try {
    return gaps.flatMap((gap) =>
      DATA_COLUMN_FAMILIES.flatMap((cf) =>
        [
          ...snapshot.scan(cf, { start: gap.startKey.length > 0 ? gap.startKey : undefined, end: gap.endKey.length > 0 ? gap.endKey : undefined }),
        ].map(({ key, value }) => `${cf}:${key.toString('hex')}=${value.toString('hex')}`),
      ),
    );
  } finally {
    snapshot.close();
  }
}
