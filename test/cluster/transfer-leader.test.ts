// TinyKV's TestTransferLeader3B on the real, threaded store (in-process harness, gRPC on loopback,
// LMDB): the leader of the one region moves to each of five stores in turn. The transfers are asked
// the way the scheduler will ask them, as transfer_leader in a RegionHeartbeat response to the
// leader's store (re-sent until a heartbeat shows the move, as a scheduler does), and observed as
// TinyKV observes them, through the leader the heartbeats report. Writes keep working after each
// move. A TransferLeader admin command sent straight to the leader's router is answered at once.
import { afterEach, describe, expect, it } from 'vitest';
import type { Peer, Region } from '../../src/proto/metapb.js';
import { AdminCmdType } from '../../src/proto/raft_cmdpb.js';
import { findPeerOnStore } from '../../src/raftstore/region.js';
import type { CommandResult } from '../../src/raftstore/router/command-callback.js';
import type { ClusterNode } from '../../src/server/cluster-node.js';
import { transferLeaderCommand } from '../../src/server/heartbeat-commands.js';
import { defined } from '../../src/util/assert.js';
import { InProcessCluster, waitUntil } from './harness.js';
import { ScenarioClient, sleep } from './workload.js';

/** TinyKV waits 5 s for each move; this machine is shared and the stores are in one process. */
const TRANSFER_DEADLINE_MS = 10_000;
/** How often the command is re-sent while the move is not seen (the scheduler's heartbeat pace). */
const RESEND_MS = 300;

let running: { cluster: InProcessCluster; sc: ScenarioClient } | undefined;

afterEach(async () => {
  running?.sc.close();
  await running?.cluster.close();
  running = undefined;
});

async function startCluster(stores: number): Promise<{ cluster: InProcessCluster; sc: ScenarioClient; region: Region }> {
  // Heartbeats every 100 ms: the scheduler learns the leader (and can reach its store) quickly.
  const cluster = await InProcessCluster.start({ raftPollers: 1, regionHeartbeatIntervalMs: 100 }, {}, { initialStores: stores });
  const sc = new ScenarioClient(() => cluster.all());
  running = { cluster, sc };
  await sc.must('first write', (c) => c.put('warm-up', '1'), 20_000);
  await waitUntil(() => cluster.all().every((node) => node.store.regions().length > 0), 20_000);
  const region = defined(cluster.all()[0]?.store.regions()[0], 'the bootstrap region');
  return { cluster, sc, region };
}

function leadsHere(node: ClusterNode, regionId: number): boolean {
  return node.store.leaderRegions().some(({ region }) => region.id === regionId);
}

/** The leader's store as the scheduler last heard it from a heartbeat. */
function reportedLeaderStore(cluster: InProcessCluster, regionId: number): number | undefined {
  return cluster.scheduler.core.getRegionById(regionId)?.leader?.storeId;
}

/** TinyKV's MustTransferLeader, asked through the scheduler's heartbeat response. */
async function transferThroughScheduler(cluster: InProcessCluster, regionId: number, target: Peer): Promise<void> {
  const moved = () =>
    reportedLeaderStore(cluster, regionId) === target.storeId && leadsHere(defined(cluster.nodes.get(target.storeId), 'target store'), regionId);
  for (const deadline = Date.now() + TRANSFER_DEADLINE_MS; !moved(); await sleep(RESEND_MS)) {
    if (Date.now() > deadline) throw new Error(`region ${regionId}: store ${target.storeId} does not lead after ${TRANSFER_DEADLINE_MS} ms`);
    const info = cluster.scheduler.core.getRegionById(regionId);
    if (info) cluster.scheduler.core.streams.sendToLeader(info, { transferLeader: { peer: target } });
  }
}

describe('TinyKV 3B leader transfer on threaded stores', () => {
  it('transfer leader: the leader moves to each of five stores in turn, asked through the scheduler; writes keep working', async () => {
    const { cluster, sc, region } = await startCluster(5);
    const order = [...cluster.storeIds(), defined(cluster.storeIds()[0], 'first store')];
    for (const storeId of order) {
      const target = defined(findPeerOnStore(region, storeId), `peer on store ${storeId}`);
      await transferThroughScheduler(cluster, region.id, target);
      await sc.must(`put after the move to store ${storeId}`, (c) => c.put(`k${storeId}`, `v${storeId}`));
      const value = await sc.must(`get after the move to store ${storeId}`, (c) => c.get(`k${storeId}`));
      expect(value?.toString()).toBe(`v${storeId}`);
    }
    // Every write made on the way reads back.
    for (const storeId of order) expect((await sc.must('final get', (c) => c.get(`k${storeId}`)))?.toString()).toBe(`v${storeId}`);
  });

  it('a TransferLeader admin command to the leader is answered at once, then the target leads', async () => {
    const { cluster, region } = await startCluster(3);
    await waitUntil(() => cluster.all().some((node) => leadsHere(node, region.id)));
    const leaderNode = defined(
      cluster.all().find((node) => leadsHere(node, region.id)),
      'a leader',
    );
    const targetNode = defined(
      cluster.all().find((node) => node !== leaderNode),
      'another store',
    );
    const leader = defined(findPeerOnStore(region, leaderNode.storeId), 'leader peer');
    const target = defined(findPeerOnStore(region, targetNode.storeId), 'target peer');
    const answer = await new Promise<CommandResult>((resolve) => leaderNode.store.propose(transferLeaderCommand(region, leader, target), resolve));
    expect(answer.response.header?.error).toBeUndefined();
    expect(answer.response.adminResponse?.cmdType).toBe(AdminCmdType.TransferLeader);
    await waitUntil(() => leadsHere(targetNode, region.id), TRANSFER_DEADLINE_MS);
    expect(leadsHere(targetNode, region.id)).toBe(true);
  });
});
