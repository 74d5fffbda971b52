// Forged and damaged Raft messages on the simulated network: they are dropped and counted before
// they reach a peer, and the region keeps its leader and keeps serving.
import { BinaryWriter } from '@bufbuild/protobuf/wire';
import { describe, expect, it } from 'vitest';
import { MemoryEngine } from '../../src/engine/memory-engine.js';
import { MessageType } from '../../src/proto/eraftpb.js';
import type { Region } from '../../src/proto/metapb.js';
import { RaftMessage, RaftSnapshotData } from '../../src/proto/raft_serverpb.js';
import { checkRaftMessage, MAX_RAFT_NUMBER, MAX_TERM_STEP } from '../../src/raftstore/batch/message-check.js';
import { PeerStorage } from '../../src/raftstore/peer/peer-storage.js';
import { buildRegionSnapshot } from '../../src/raftstore/snapshot/snapshot-data.js';
import { checkSnapshot } from '../../src/raftstore/snapshot/snapshot-check.js';
import { SimCluster } from './cluster.js';
import { defined } from '../../src/util/assert.js';

async function clusterWithLeader(seed: number): Promise<{ cluster: SimCluster; leader: number }> {
  const cluster = new SimCluster({ stores: 3, seed });
  await cluster.start();
  const leader = await cluster.waitLeader();
  await cluster.put('before', 'x');
  return { cluster, leader };
}

function terms(cluster: SimCluster): number[] {
  return [...cluster.stores.values()].map((store) => store.peer(1)!.term());
}

/** Hands `message` to every store as bytes off the wire (each addressed to that store's peer). */
function deliverToAll(cluster: SimCluster, build: (toStore: number, toPeer: number) => RaftMessage): void {
  for (const [storeId, store] of cluster.stores) {
    store.onRaftMessageBytes(RaftMessage.encode(build(storeId, storeId + 100)).finish());
  }
}

function heartbeat(from: { id: number; storeId: number }, toStore: number, toPeer: number, term: number): RaftMessage {
  return RaftMessage.fromPartial({
    regionId: 1,
    fromPeer: from,
    toPeer: { id: toPeer, storeId: toStore },
    regionEpoch: { confVer: 1, version: 1 },
    message: { msgType: MessageType.MsgHeartbeat, from: from.id, to: toPeer, term, commit: 0 },
  });
}

describe('forged Raft messages', () => {
  it('a heartbeat with term 2^53-1 from a store that does not exist changes nothing', async () => {
    const { cluster, leader } = await clusterWithLeader(11);
    const before = terms(cluster);
    deliverToAll(cluster, (toStore, toPeer) => heartbeat({ id: 999, storeId: 77 }, toStore, toPeer, Number.MAX_SAFE_INTEGER));
    await cluster.run(30);
    expect(terms(cluster)).toEqual(before);
    expect(cluster.leaderStore()).toBe(leader);
    for (const store of cluster.stores.values()) expect(store.droppedMessages.get('number-out-of-range')).toBe(1);
    await cluster.put('after', 'y');
    expect(await cluster.get('after')).toBe('y');
  });

  it('a heartbeat with a plausible term from a peer outside the region, or from a member on the wrong store, is dropped', async () => {
    const { cluster, leader } = await clusterWithLeader(12);
    const before = terms(cluster);
    deliverToAll(cluster, (toStore, toPeer) => heartbeat({ id: 999, storeId: 77 }, toStore, toPeer, 1_000));
    // Peer 101 exists, but on store 1: a message claiming it from store 2 is forged.
    deliverToAll(cluster, (toStore, toPeer) => heartbeat({ id: 101, storeId: 2 }, toStore, toPeer, 1_000));
    await cluster.run(30);
    expect(terms(cluster)).toEqual(before);
    expect(cluster.leaderStore()).toBe(leader);
    for (const store of cluster.stores.values()) expect(store.droppedMessages.get('unknown-from-peer')).toBeGreaterThanOrEqual(1);
    expect(
      cluster.stores.get(2)!.droppedMessages.get('from-store-mismatch') + cluster.stores.get(3)!.droppedMessages.get('from-store-mismatch'),
    ).toBe(2);
    await cluster.put('after', 'y');
  });

  it('malformed appends, acknowledgements past the log and local-only types from a real member are dropped; no store halts', async () => {
    const { cluster, leader } = await clusterWithLeader(15);
    const before = terms(cluster);
    const forge = (fromStore: number, toStore: number, fields: Partial<NonNullable<RaftMessage['message']>>) => {
      const message = heartbeat({ id: fromStore + 100, storeId: fromStore }, toStore, toStore + 100, defined(before[0], 'before[0]'));
      return { ...message, message: { ...message.message!, ...fields } };
    };
    const entry = (index: number, term: number) => ({ entryType: 0, term, index, data: Buffer.alloc(0) });
    for (const to of [1, 2, 3]) {
      const from = to === leader ? [1, 2, 3].find((id) => id !== leader)! : leader;
      const store = cluster.stores.get(to)!;
      const last = store.peer(1)!.lastIndex();
      const term = defined(before[0], 'before[0]');
      // Each of these reached a Raft invariant before the gate checked shapes, which stops the store.
      store.onRaftMessage(
        forge(from, to, { msgType: MessageType.MsgAppend, index: last, logTerm: term, entries: [entry(last + 1, term), entry(last + 3, term)] }),
      );
      store.onRaftMessage(
        forge(from, to, { msgType: MessageType.MsgAppend, index: last, logTerm: term, entries: [entry(last + 1, term), entry(last + 2, term - 1)] }),
      );
      store.onRaftMessage(forge(from, to, { msgType: MessageType.MsgAppend, index: last, logTerm: term, entries: [entry(last + 2, term)] }));
      store.onRaftMessage(forge(from, to, { msgType: MessageType.MsgAppendResponse, index: last + 1_000 }));
      store.onRaftMessage(forge(from, to, { msgType: MessageType.MsgPropose, entries: [] }));
      store.onRaftMessage(forge(from, to, { msgType: MessageType.MsgHup }));
      // Term 0 reads as a local message to Raft (a candidate would follow it back to term 0).
      store.onRaftMessage(forge(from, to, { msgType: MessageType.MsgHeartbeat, term: 0 }));
      // A term at the safe limit would be adopted by the region, leaving no room for elections.
      store.onRaftMessage(forge(from, to, { msgType: MessageType.MsgHeartbeat, term: MAX_RAFT_NUMBER }));
      // The messages reach the store's poller as frames.
      await store.settle();
      expect(store.droppedMessages.get('malformed-message')).toBe(5);
      expect(store.droppedMessages.get('local-message-type')).toBe(2);
      expect(store.droppedMessages.get('term-too-far')).toBe(1);
    }
    await cluster.run(30);
    expect(terms(cluster)).toEqual(before);
    expect(cluster.leaderStore()).toBe(leader);
    await cluster.put('after', 'y');
    expect(await cluster.get('after')).toBe('y');
  });

  it('bytes that do not decode, or a term of 2^53 that cannot be decoded safely, are counted as undecodable', async () => {
    const { cluster } = await clusterWithLeader(13);
    const store = cluster.stores.get(1)!;
    store.onRaftMessageBytes(Buffer.from([0x0f, 0xff, 0xff]));
    // Term 2^53 on the wire: protobuf decoding refuses it rather than rounding it.
    store.onRaftMessageBytes(withRawTerm(heartbeat({ id: 102, storeId: 2 }, 1, 101, 5), 2n ** 53n));
    await store.settle();
    expect(store.droppedMessages.get('undecodable')).toBe(2);
    await cluster.put('after', 'y');
  });
});

describe('damaged snapshots', () => {
  it('a MsgSnapshot from the real leader with a high term and undecodable data is dropped before Raft; the store keeps serving', async () => {
    const { cluster, leader } = await clusterWithLeader(14);
    const follower = [1, 2, 3].find((id) => id !== leader)!;
    const store = cluster.stores.get(follower)!;
    const termBefore = store.peer(1)!.term();
    const message = RaftMessage.fromPartial({
      regionId: 1,
      fromPeer: { id: leader + 100, storeId: leader },
      toPeer: { id: follower + 100, storeId: follower },
      regionEpoch: { confVer: 1, version: 1 },
      message: {
        msgType: MessageType.MsgSnapshot,
        from: leader + 100,
        to: follower + 100,
        term: termBefore + 50,
        snapshot: {
          data: Buffer.from([0x0f, 0xff, 0x01, 0x02]),
          metadata: { index: 100_000, term: termBefore + 50, confState: { nodes: [101, 102, 103] } },
        },
      },
    });
    store.onRaftMessageBytes(RaftMessage.encode(message).finish());
    await cluster.run(20);
    expect(store.droppedMessages.get('bad-snapshot')).toBe(1);
    expect(store.peer(1)!.term()).toBe(termBefore);
    await cluster.put('after', 'y');
    await cluster.run(10);
    expect(cluster.localValue(follower, 'after')).toBe('y');
  });
});

describe('checkSnapshot', () => {
  const region: Region = {
    id: 1,
    startKey: Buffer.from('b'),
    endKey: Buffer.from('m'),
    regionEpoch: { confVer: 1, version: 1 },
    peers: [
      { id: 101, storeId: 1 },
      { id: 102, storeId: 2 },
    ],
  };

  async function realSnapshot() {
    const kv = new MemoryEngine();
    await kv.write(PeerStorage.initialWrites(region).kvOps);
    await kv.write([{ type: 'put', cf: 'default', key: Buffer.from('c'), value: Buffer.from('1') }]);
    return buildRegionSnapshot(kv, 1, () => 5);
  }

  it('accepts a snapshot the raftstore built', async () => {
    expect(checkSnapshot(await realSnapshot(), { region, peerId: 102 })).toBeUndefined();
  });

  it('refuses garbage data, a conf state that is not the region, another region, an older epoch, keys outside the region', async () => {
    const good = await realSnapshot();
    const data = RaftSnapshotData.decode(good.data);
    const withData = (d: RaftSnapshotData) => ({ ...good, data: Buffer.from(RaftSnapshotData.encode(d).finish()) });
    const target = { region, peerId: 102 };
    expect(checkSnapshot({ ...good, data: Buffer.from([0x0f, 0xff]) }, target)).toMatch(/does not decode/);
    expect(checkSnapshot({ ...good, metadata: { ...good.metadata!, confState: { nodes: [101, 999] } } }, target)).toMatch(/conf state/);
    expect(checkSnapshot(withData({ ...data, region: { ...data.region!, id: 2 } }), target)).toMatch(/region 2/);
    expect(checkSnapshot(good, { region: { ...region, regionEpoch: { confVer: 1, version: 2 } }, peerId: 102 })).toMatch(/epoch/);
    expect(checkSnapshot(good, { region, peerId: 103 })).toMatch(/no peer 103/);
    expect(checkSnapshot(withData({ ...data, data: [{ key: Buffer.from('\x00z'), value: Buffer.from('1') }] }), target)).toMatch(/outside/);
    expect(checkSnapshot(withData({ ...data, data: [{ key: Buffer.from('\x09c'), value: Buffer.from('1') }] }), target)).toMatch(/column family/);
    expect(checkSnapshot({ ...good, metadata: { ...good.metadata!, term: MAX_RAFT_NUMBER + 1 } }, target)).toMatch(/out of range/);
  });
});

describe('checkRaftMessage', () => {
  const region: Region = {
    id: 1,
    startKey: Buffer.alloc(0),
    endKey: Buffer.alloc(0),
    regionEpoch: { confVer: 1, version: 1 },
    peers: [
      { id: 101, storeId: 1 },
      { id: 102, storeId: 2 },
    ],
  };
  const target = { storeId: 1, peer: { peerId: 101, region, lastIndex: 10, term: 6 } };

  it('lets a member through and names the reason for everything else', () => {
    expect(checkRaftMessage(heartbeat({ id: 102, storeId: 2 }, 1, 101, 6), target)).toBeUndefined();
    expect(checkRaftMessage(heartbeat({ id: 102, storeId: 2 }, 1, 101, 6 + MAX_TERM_STEP), target)).toBeUndefined();
    expect(checkRaftMessage(heartbeat({ id: 102, storeId: 2 }, 1, 101, 7 + MAX_TERM_STEP), target)).toBe('term-too-far');
    expect(checkRaftMessage(heartbeat({ id: 102, storeId: 2 }, 1, 101, MAX_RAFT_NUMBER), target)).toBe('term-too-far');
    expect(checkRaftMessage(heartbeat({ id: 102, storeId: 2 }, 1, 101, 0), target)).toBe('malformed-message');
    expect(checkRaftMessage(heartbeat({ id: 102, storeId: 2 }, 1, 101, MAX_RAFT_NUMBER + 1), target)).toBe('number-out-of-range');
    expect(checkRaftMessage(heartbeat({ id: 102, storeId: 2 }, 3, 101, 6), target)).toBe('wrong-store');
    expect(checkRaftMessage(heartbeat({ id: 102, storeId: 2 }, 1, 105, 6), target)).toBe('wrong-to-peer');
    expect(checkRaftMessage(heartbeat({ id: 102, storeId: 2 }, 1, 101, 6), { storeId: 1 })).toBe('region-not-found');
    expect(checkRaftMessage(heartbeat({ id: 103, storeId: 3 }, 1, 101, 6), target)).toBe('unknown-from-peer');
    expect(checkRaftMessage(heartbeat({ id: 102, storeId: 3 }, 1, 101, 6), target)).toBe('from-store-mismatch');
    const lying = heartbeat({ id: 102, storeId: 2 }, 1, 101, 6);
    expect(checkRaftMessage({ ...lying, message: { ...lying.message!, from: 7 } }, target)).toBe('peer-id-mismatch');
    const entries = heartbeat({ id: 102, storeId: 2 }, 1, 101, 6);
    const append = {
      ...entries.message!,
      msgType: MessageType.MsgAppend,
      entries: [{ entryType: 0, term: 6, index: 2 ** 53 - 1, data: Buffer.alloc(0) }],
    };
    expect(checkRaftMessage({ ...entries, message: append }, target)).toBe('number-out-of-range');
  });

  it('drops local-only types and shapes Raft would take for a broken log of its own', () => {
    const from = { id: 102, storeId: 2 };
    const base = heartbeat(from, 1, 101, 6);
    const entry = (index: number, term: number) => ({ entryType: 0, term, index, data: Buffer.alloc(0) });
    const withMessage = (fields: Partial<NonNullable<RaftMessage['message']>>) => ({ ...base, message: { ...base.message!, ...fields } });
    const append = (index: number, logTerm: number, entries: ReturnType<typeof entry>[]) =>
      withMessage({ msgType: MessageType.MsgAppend, index, logTerm, entries });
    for (const msgType of [MessageType.MsgHup, MessageType.MsgBeat, MessageType.MsgPropose]) {
      expect(checkRaftMessage(withMessage({ msgType }), target)).toBe('local-message-type');
    }
    expect(checkRaftMessage(append(5, 5, [entry(6, 5), entry(7, 6)]), target)).toBeUndefined();
    expect(checkRaftMessage(append(5, 5, []), target)).toBeUndefined();
    expect(checkRaftMessage(append(5, 5, [entry(7, 5)]), target)).toBe('malformed-message'); // a gap after index
    expect(checkRaftMessage(append(5, 5, [entry(6, 5), entry(8, 5)]), target)).toBe('malformed-message'); // not contiguous
    expect(checkRaftMessage(append(5, 5, [entry(6, 6), entry(7, 5)]), target)).toBe('malformed-message'); // terms go back
    expect(checkRaftMessage(append(5, 5, [entry(6, 4)]), target)).toBe('malformed-message'); // below logTerm
    expect(checkRaftMessage(append(5, 5, [entry(6, 7)]), target)).toBe('malformed-message'); // past the sender's term
    expect(checkRaftMessage(append(5, 7, []), target)).toBe('malformed-message'); // logTerm past the sender's term
    const ack = (index: number, reject: boolean) => withMessage({ msgType: MessageType.MsgAppendResponse, index, reject });
    expect(checkRaftMessage(ack(10, false), target)).toBeUndefined();
    expect(checkRaftMessage(ack(11, false), target)).toBe('malformed-message'); // acknowledges entries never sent
    expect(checkRaftMessage(ack(11, true), target)).toBeUndefined();
  });
});

/** `message` encoded with a term written as a raw uint64 (beyond what a number can hold). */
function withRawTerm(message: RaftMessage, term: bigint): Buffer {
  const raft = message.message!;
  const inner = new BinaryWriter()
    .uint32(8)
    .int32(raft.msgType)
    .uint32(16)
    .uint64(raft.to)
    .uint32(24)
    .uint64(raft.from)
    .uint32(32)
    .uint64(term)
    .finish();
  const envelope = RaftMessage.encode({ ...message, message: undefined }).finish();
  return Buffer.concat([envelope, new BinaryWriter().uint32(34).bytes(inner).finish()]);
}
