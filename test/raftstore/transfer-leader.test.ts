// TransferLeader (TinyKV 3B): the admin command is checked like every command (leadership,
// version and conf_ver), never enters the log, and is answered at once; on the simulated cluster
// the leadership moves to each store in turn while writes keep working.
import { describe, expect, it } from 'vitest';
import type { Peer as PeerMeta } from '../../src/proto/metapb.js';
import { AdminCmdType, RaftCmdRequest, type DeepPartial, type RaftRequestHeader } from '../../src/proto/raft_cmdpb.js';
import { checkCommand } from '../../src/raftstore/operation/command.js';
import { FakePeer } from './fake-peer.js';
import { isTransferLeader, transferLeader } from '../../src/raftstore/operation/transfer-leader.js';
import { RegionError } from '../../src/raftstore/router/errors.js';
import type { CommandResult } from '../../src/raftstore/router/command-callback.js';
import { transferLeaderCommand } from '../../src/server/heartbeat-commands.js';
import { SimCluster, seedFromEnv } from './cluster.js';

const transfer = (target: DeepPartial<PeerMeta> | undefined, header: DeepPartial<RaftRequestHeader> = {}) =>
  RaftCmdRequest.fromPartial({ header, adminRequest: { cmdType: AdminCmdType.TransferLeader, transferLeader: { peer: target } } });

function regionErrorOf(fn: () => void): string[] {
  try {
    fn();
  } catch (err) {
    if (err instanceof RegionError)
      return Object.entries(err.regionError)
        .filter(([k, v]) => k !== 'message' && v !== undefined)
        .map(([k]) => k);
    throw err;
  }
  return [];
}

describe('transferLeader', () => {
  it('asks Raft to transfer to the target and answers a TransferLeader admin response at once', () => {
    const asked: number[] = [];
    const response = transferLeader(transfer({ id: 12, storeId: 2 }), new FakePeer(), { transferLeader: (id) => asked.push(id) });
    expect(asked).toEqual([12]);
    expect(response.header?.error).toBeUndefined();
    expect(response.header?.currentTerm).toBe(7);
    expect(response.adminResponse?.cmdType).toBe(AdminCmdType.TransferLeader);
    expect(response.adminResponse?.transferLeader).toEqual({});
  });

  it('refuses a target that is not a peer of the region, without asking Raft', () => {
    const asked: number[] = [];
    const node = { transferLeader: (id: number) => asked.push(id) };
    for (const target of [{ id: 13, storeId: 3 }, { id: 12, storeId: 3 }, undefined]) {
      const response = transferLeader(transfer(target), new FakePeer(), node);
      expect(response.header?.error?.message).toMatch(/not in region 1/);
      expect(response.adminResponse).toBeUndefined();
    }
    expect(asked).toEqual([]);
  });

  it('is checked for leadership and for both version and conf_ver', () => {
    const peer = new FakePeer();
    expect(isTransferLeader(transfer({ id: 12 }))).toBe(true);
    expect(regionErrorOf(() => checkCommand(transfer({ id: 12 }, { regionEpoch: { confVer: 2, version: 3 } }), peer))).toEqual([]);
    expect(regionErrorOf(() => checkCommand(transfer({ id: 12 }, { regionEpoch: { confVer: 2, version: 2 } }), peer))).toEqual(['epochNotMatch']);
    expect(regionErrorOf(() => checkCommand(transfer({ id: 12 }, { regionEpoch: { confVer: 1, version: 3 } }), peer))).toEqual(['epochNotMatch']);
    peer.leader = false;
    expect(regionErrorOf(() => checkCommand(transfer({ id: 12 }), peer))).toEqual(['notLeader']);
  });
});

describe('TransferLeader on the simulated cluster', () => {
  it('moves the leader to each store in turn; writes keep working', async () => {
    const seed = seedFromEnv(31);
    console.log(`[raftstore] transfer-leader: seed ${seed} (replay with RAFTSTORE_SEED=${seed})`);
    const cluster = new SimCluster({ stores: 5, seed });
    await cluster.start();
    await cluster.waitLeader();
    for (const storeId of [1, 2, 3, 4, 5, 1]) {
      await cluster.transferLeader(1, storeId);
      expect(cluster.leaderStore(1)).toBe(storeId);
      await cluster.put(`k${storeId}`, `v${storeId}`);
      expect(await cluster.get(`k${storeId}`)).toBe(`v${storeId}`);
    }
  });

  it('answers at once on the leader (nothing waits in the log) and NotLeader on a follower', async () => {
    const cluster = new SimCluster({ stores: 3, seed: seedFromEnv(32) });
    await cluster.start();
    const leaderId = await cluster.waitLeader();
    const followerId = leaderId === 1 ? 2 : 1;
    const leading = cluster.stores.get(leaderId)!.peer(1)!;
    const target = cluster.region.peers.find((p) => p.storeId === followerId)!;
    const answers: CommandResult[] = [];
    cluster.stores.get(leaderId)!.propose(transferLeaderCommand(leading.region, leading.meta, target), (r) => answers.push(r));
    await cluster.settle();
    expect(answers).toHaveLength(1);
    expect(answers[0]!.response.adminResponse?.cmdType).toBe(AdminCmdType.TransferLeader);
    const follower = cluster.stores.get(followerId)!.peer(1)!;
    cluster.stores.get(followerId)!.propose(transferLeaderCommand(follower.region, follower.meta, target), (r) => answers.push(r));
    await cluster.settle();
    expect(answers[1]!.response.header?.error?.notLeader).toBeDefined();
  });
});
