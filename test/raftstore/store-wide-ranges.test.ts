// Key-range decisions see every region of the store, not only one poller's peers: the region
// records on disk (batch/live-regions.ts). Here a region another poller hosts is only on disk.
import { describe, expect, it } from 'vitest';
import { MemoryEngine } from '../../src/engine/memory-engine.js';
import { silentLogger } from '../../src/log/logger.js';
import type { Region } from '../../src/proto/metapb.js';
import { HardState } from '../../src/proto/eraftpb.js';
import { PeerState, RaftLocalState, RaftMessage, RegionLocalState } from '../../src/proto/raft_serverpb.js';
import { SeededRandom } from '../../src/raft/index.js';
import { DEFAULT_RAFTSTORE_CONFIG } from '../../src/raftstore/config.js';
import { applyStateKey, raftStateKey, regionStateKey } from '../../src/raftstore/keys.js';
import { Store } from '../../src/raftstore/batch/store.js';
import { liveRegionsOnDisk, siblingOnDisk } from '../../src/raftstore/batch/live-regions.js';
import { PeerStorage } from '../../src/raftstore/peer/peer-storage.js';
import { InlineSnapshotSource } from '../../src/raftstore/snapshot/snapshot-source.js';

const region = (id: number, start: string, end: string, peers: Array<[number, number]>, confVer = 1): Region => ({
  id,
  startKey: Buffer.from(start),
  endKey: Buffer.from(end),
  regionEpoch: { confVer, version: 2 },
  peers: peers.map(([peerId, storeId]) => ({ id: peerId, storeId })),
});

const stateOp = (r: Region) => ({
  type: 'put' as const,
  cf: 'meta' as const,
  key: regionStateKey(r.id),
  value: Buffer.from(RegionLocalState.encode({ state: PeerState.Normal, region: r }).finish()),
});

describe('store-wide key ranges', () => {
  it('a destroyed peer with a stale, wider range keeps the data of a region only another poller hosts', async () => {
    const engines = { raft: new MemoryEngine(), kv: new MemoryEngine() };
    const stale = region(1, 'a', 'z', [
      [11, 1],
      [12, 2],
    ]);
    const other = region(2, 'm', 'z', [[21, 1]]);
    const store = new Store({
      storeId: 1,
      engines,
      config: DEFAULT_RAFTSTORE_CONFIG,
      transport: { send: () => {} },
      random: new SeededRandom(3).asSource(),
      logger: silentLogger(),
    });
    await store.createRegion(stale);
    // Region 2 lives on another poller: its record and data are in the shared kv engine only.
    await engines.kv.write([
      stateOp(other),
      { type: 'put', cf: 'default', key: Buffer.from('b'), value: Buffer.from('stale-range') },
      { type: 'put', cf: 'default', key: Buffer.from('p'), value: Buffer.from('other-region') },
    ]);
    store.onRaftMessage(
      RaftMessage.fromPartial({
        regionId: 1,
        fromPeer: { id: 12, storeId: 2 },
        toPeer: { id: 11, storeId: 1 },
        isTombstone: true,
        regionEpoch: { confVer: 5, version: 2 },
      }),
    );
    await store.settle();
    expect(store.peer(1)).toBeUndefined();
    expect(engines.kv.get('default', Buffer.from('b'))).toBeUndefined();
    expect(engines.kv.get('default', Buffer.from('p'))?.toString()).toBe('other-region');
    expect(RegionLocalState.decode(engines.kv.get('meta', regionStateKey(1))!).state).toBe(PeerState.Tombstone);
    await store.stop();
  });

  it('lists live regions and finds the sibling right of a region', async () => {
    const kv = new MemoryEngine();
    const left = region(1, 'a', 'm', [[11, 1]]);
    const right = region(2, 'm', '', [[21, 1]]);
    await kv.write([
      stateOp(left),
      stateOp(right),
      {
        type: 'put',
        cf: 'meta',
        key: regionStateKey(3),
        value: Buffer.from(RegionLocalState.encode(RegionLocalState.fromPartial({ state: PeerState.Tombstone })).finish()),
      },
    ]);
    expect(liveRegionsOnDisk(kv, 0).map((r) => r.id)).toEqual([1, 2]);
    expect(liveRegionsOnDisk(kv, 1).map((r) => r.id)).toEqual([2]);
    expect(siblingOnDisk(kv, left)?.id).toBe(2);
    expect(siblingOnDisk(kv, right)).toBeUndefined();
  });

  it('a split region whose uninitialized peer voted in a later term keeps that vote; one with no state starts at term 5', async () => {
    const engines = { raft: new MemoryEngine(), kv: new MemoryEngine() };
    const split = region(4, 'm', '', [[41, 1]]);
    const writes = PeerStorage.initialWrites(split);
    await engines.kv.write(writes.kvOps);
    const deps = { engines, snapshots: new InlineSnapshotSource(engines.kv) };
    expect(PeerStorage.load(4, deps, split).initialState().hardState).toMatchObject({ term: 5, vote: 0, commit: 5 });
    // An uninitialized peer of it voted for peer 42 in term 7 before the split reached this store.
    const voted = RaftLocalState.fromPartial({ hardState: HardState.fromPartial({ term: 7, vote: 42, commit: 0 }), lastIndex: 0, lastTerm: 0 });
    await engines.raft.write([{ type: 'put', cf: 'meta', key: raftStateKey(4), value: Buffer.from(RaftLocalState.encode(voted).finish()) }]);
    const storage = PeerStorage.load(4, deps, split);
    expect(storage.initialState().hardState).toMatchObject({ term: 7, vote: 42, commit: 5 });
    expect([storage.firstIndex(), storage.lastIndex()]).toEqual([6, 5]);
    expect(engines.kv.get('meta', applyStateKey(4))).toBeDefined();
  });

  it('a store that crashed between applying its own removal and the destroy finishes the destroy on start', async () => {
    const engines = { raft: new MemoryEngine(), kv: new MemoryEngine() };
    // The removal applied (the record lists stores 2 and 3 only) but the destroy never ran.
    const removed = region(6, 'a', 'k', [
      [62, 2],
      [63, 3],
    ]);
    const kept = region(7, 'k', '', [[71, 1]]);
    await engines.kv.write([
      stateOp(removed),
      stateOp(kept),
      { type: 'put', cf: 'default', key: Buffer.from('b'), value: Buffer.from('removed-region') },
      { type: 'put', cf: 'default', key: Buffer.from('p'), value: Buffer.from('kept-region') },
    ]);
    await engines.raft.write([
      {
        type: 'put',
        cf: 'meta',
        key: raftStateKey(6),
        value: Buffer.from(RaftLocalState.encode(RaftLocalState.fromPartial({ lastIndex: 9, lastTerm: 6 })).finish()),
      },
    ]);
    const store = new Store({
      storeId: 1,
      engines,
      config: DEFAULT_RAFTSTORE_CONFIG,
      transport: { send: () => {} },
      random: new SeededRandom(5).asSource(),
      logger: silentLogger(),
    });
    await engines.kv.write(PeerStorage.initialWrites(kept).kvOps);
    store.loadPeers();
    await store.settle();
    expect(store.peer(6)).toBeUndefined();
    expect(RegionLocalState.decode(engines.kv.get('meta', regionStateKey(6))!).state).toBe(PeerState.Tombstone);
    expect(engines.kv.get('default', Buffer.from('b'))).toBeUndefined();
    expect(engines.kv.get('default', Buffer.from('p'))?.toString()).toBe('kept-region');
    expect(engines.raft.get('meta', raftStateKey(6))).toBeUndefined();
    expect(store.peer(7)).toBeDefined();
    await store.stop();
  });
});
