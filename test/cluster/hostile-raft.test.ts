// End to end, with store processes started by the CLI: hostile Raft traffic aimed at real stores.
// A forged heartbeat with term 2^53-1 from a store that does not exist, and a snapshot from the
// real leader's peer id whose data is garbage, are both dropped before Raft; every store keeps
// serving (the victim of the snapshot is needed for a quorum once the leader stops) and stops on
// its first SIGTERM.
import { afterAll, describe, expect, it } from 'vitest';
import type { ChildProcess } from 'node:child_process';
import { credentials } from '@grpc/grpc-js';
import { connect, ClientError } from '../../src/client/index.js';
import { MessageType } from '../../src/proto/eraftpb.js';
import { RaftMessage, SnapshotChunk } from '../../src/proto/raft_serverpb.js';
import { TinyKvClient } from '../../src/proto/tinykvpb.js';
import { SchedulerClient } from '../../src/client/scheduler-client.js';
import { putThroughAnyStore, startSchedulerProcess, startServerProcess, type ServerProcess } from '../helpers/cli-process.js';
import { internalFailureLines, unhealthyReason } from '../helpers/store-health.js';
import { tempDir } from '../helpers/tmp.js';

const dir = tempDir();
const processes: ChildProcess[] = [];

afterAll(() => {
  for (const child of processes) child.kill('SIGKILL');
  dir.cleanup();
});

async function startScheduler(): Promise<string> {
  return (await startSchedulerProcess(`${dir.path}/scheduler`, 3, (child) => processes.push(child))).addr;
}

async function startStore(scheduler: string, n: number): Promise<ServerProcess> {
  const store = await startServerProcess([
    '--scheduler',
    scheduler,
    '--addr',
    '127.0.0.1:0',
    '--data-dir',
    `${dir.path}/store-${n}`,
    '--raft-base-tick-ms',
    '20',
    '--raft-pollers',
    '1',
    '--log-level',
    'warn',
  ]);
  processes.push(store.child);
  return store;
}

function put(stores: ServerProcess[], key: string, value: string, deadlineMs?: number): Promise<void> {
  return putThroughAnyStore(stores, key, value, deadlineMs);
}

/** A store answers at all (a follower answers NotLeader at once; a hung store times out). */
async function answers(store: ServerProcess): Promise<boolean> {
  const client = await connect({ node: store.addr, requestTimeoutMs: 2_000, maxRetries: 0 });
  try {
    await client.get('probe');
    return true;
  } catch (err) {
    return err instanceof ClientError && !/deadline|timed out|unavailable/i.test(err.message);
  } finally {
    await client.close();
  }
}

/** Sends raw Raft messages to a store over TinyKv/Raft. */
function sendRaft(addr: string, messages: RaftMessage[]): Promise<void> {
  const client = new TinyKvClient(addr, credentials.createInsecure());
  return new Promise<void>((resolve, reject) => {
    const stream = client.raft((err) => (err ? reject(err) : resolve()));
    for (const message of messages) stream.write(message);
    stream.end();
  }).finally(() => client.close());
}

/** Sends a snapshot stream: the message, then `data` as one chunk. */
function sendSnapshot(addr: string, message: RaftMessage, data: Buffer): Promise<void> {
  const client = new TinyKvClient(addr, credentials.createInsecure());
  return new Promise<void>((resolve, reject) => {
    const stream = client.snapshot((err) => (err ? reject(err) : resolve()));
    stream.write(SnapshotChunk.fromPartial({ message }));
    stream.write(SnapshotChunk.fromPartial({ data }));
    stream.end();
  }).finally(() => client.close());
}

describe('hostile Raft traffic against store processes', () => {
  it('drops a forged term-2^53-1 heartbeat and a garbage snapshot; every store keeps serving and stops on SIGTERM', async () => {
    const schedulerAddr = await startScheduler();
    const stores = await Promise.all([1, 2, 3].map((n) => startStore(schedulerAddr, n)));
    await put(stores, 'before', '1');

    const scheduler = await SchedulerClient.connect(schedulerAddr);
    try {
      let info = await scheduler.getRegion(Buffer.from('before'));
      for (const deadline = Date.now() + 20_000; !info?.leader && Date.now() < deadline;) {
        await new Promise((r) => setTimeout(r, 200));
        info = await scheduler.getRegion(Buffer.from('before'));
      }
      const region = info!.region;
      const leaderPeer = info!.leader!;
      const addrOf = async (storeId: number) => (await scheduler.getStore(storeId))!.address;

      // 1. A heartbeat with term 2^53-1 from store 999 (which does not exist) to every peer.
      for (const peer of region.peers) {
        await sendRaft(await addrOf(peer.storeId), [
          RaftMessage.fromPartial({
            regionId: region.id,
            fromPeer: { id: 999, storeId: 999 },
            toPeer: peer,
            regionEpoch: region.regionEpoch,
            message: { msgType: MessageType.MsgHeartbeat, from: 999, to: peer.id, term: Number.MAX_SAFE_INTEGER },
          }),
        ]);
      }
      await new Promise((r) => setTimeout(r, 500));
      await put(stores, 'after-heartbeat', '2', 10_000);

      // 2. A snapshot "from the leader" with a high term and index, whose data is not a snapshot.
      const victimPeer = region.peers.find((peer) => peer.storeId !== leaderPeer.storeId)!;
      const victimAddr = await addrOf(victimPeer.storeId);
      const victim = stores.find((store) => store.addr === victimAddr)!;
      const term = 1_000_000;
      await sendSnapshot(
        victimAddr,
        RaftMessage.fromPartial({
          regionId: region.id,
          fromPeer: leaderPeer,
          toPeer: victimPeer,
          regionEpoch: region.regionEpoch,
          message: {
            msgType: MessageType.MsgSnapshot,
            from: leaderPeer.id,
            to: victimPeer.id,
            term,
            snapshot: { metadata: { index: 1_000_000, term, confState: { nodes: region.peers.map((p) => p.id) } } },
          },
        }),
        Buffer.from([0x0f, 0xff, 0xff, 0xff, 0x01, 0x02, 0x03]),
      );
      await new Promise((r) => setTimeout(r, 500));
      expect(await answers(victim)).toBe(true);
      await put(stores, 'after-snapshot', '3', 10_000);
      await new Promise((r) => setTimeout(r, 200));
      expect(victim.stderr()).toMatch(/"reason":"bad-snapshot"/);
      // Neither forgery stopped or broke a store: all three still run and logged no fatal line
      // (level 60, "fatal: <reason>") and no thread failure.
      stores.forEach((store, i) => expect(unhealthyReason(`store ${i + 1}`, store.child, store.stderr())).toBeUndefined());

      // 3. The leader goes: the other two, the victim among them, must elect and serve.
      const leaderAddr = await addrOf(leaderPeer.storeId);
      const leader = stores.find((store) => store.addr === leaderAddr)!;
      leader.child.kill('SIGTERM');
      expect(await leader.exited).toBe(0);
      const rest = stores.filter((store) => store !== leader);
      await put(rest, 'after-leader-stopped', '4', 30_000);

      // 4. The victim stops on its first SIGTERM.
      victim.child.kill('SIGTERM');
      const exit = await Promise.race([victim.exited, new Promise<string>((r) => setTimeout(() => r('still running'), 20_000))]);
      expect(exit).toBe(0);
      // A store that failed internally at any point (even one that then exited 0) logged it.
      for (const store of stores) expect(internalFailureLines(store.stderr())).toEqual([]);
    } finally {
      scheduler.close();
    }
  });
});
