// Splits racing a peer's destroy, and a restart that lost a split's kv batch (found in review).
import { expect, it } from 'vitest';
import { MemoryEngine } from '../../src/engine/memory-engine.js';
import { silentLogger } from '../../src/log/logger.js';
import type { Region } from '../../src/proto/metapb.js';
import { MessageType } from '../../src/proto/eraftpb.js';
import { AdminCmdType, RaftCmdRequest } from '../../src/proto/raft_cmdpb.js';
import { PeerState, RaftLocalState, RaftMessage, RegionLocalState } from '../../src/proto/raft_serverpb.js';
import { SeededRandom } from '../../src/raft/index.js';
import { DEFAULT_RAFTSTORE_CONFIG } from '../../src/raftstore/config.js';
import { raftStateKey, regionStateKey } from '../../src/raftstore/keys.js';
import { Store } from '../../src/raftstore/batch/store.js';
import { Applier, type ApplyRouter, type ApplyResult, type ApplyTask } from '../../src/raftstore/apply/applier.js';
import { defined } from '../../src/util/assert.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** An apply system whose work can be held back, so a destroy is decided while a split still waits to apply. */
function gatedApplier(kv: MemoryEngine): {
  connect: (onResult: (r: ApplyResult) => void) => ApplyRouter;
  hold: () => void;
  release: () => Promise<void>;
} {
  let gated = false;
  const held: Array<() => void> = [];
  let real: Applier | undefined;
  const connect = (onResult: (r: ApplyResult) => void): ApplyRouter => {
    const applier = (real = new Applier(kv, silentLogger(), onResult));
    const later = (run: () => void) => (gated ? held.push(run) : run());
    return {
      apply: (task: ApplyTask) => later(() => applier.apply(task)),
      restore: (regionId, snapshot) => applier.restore(regionId, snapshot),
      destroy: (region) => new Promise((resolve, reject) => later(() => void applier.destroy(region).then(resolve, reject))),
      settle: () => (gated ? Promise.resolve() : applier.settle()),
    };
  };
  return {
    connect,
    hold: () => (gated = true),
    release: async () => {
      gated = false;
      for (const run of held.splice(0)) run();
      await real?.settle();
    },
  };
}

it('a peer destroyed while its split waits to apply keeps the new region data', async () => {
  const engines = { raft: new MemoryEngine(), kv: new MemoryEngine() };
  const gate = gatedApplier(engines.kv);
  const region: Region = {
    id: 1,
    startKey: Buffer.alloc(0),
    endKey: Buffer.alloc(0),
    regionEpoch: { confVer: 1, version: 1 },
    peers: [{ id: 11, storeId: 1 }],
  };
  const store = new Store({
    storeId: 1,
    engines,
    config: DEFAULT_RAFTSTORE_CONFIG,
    transport: { send: () => {} },
    random: new SeededRandom(3).asSource(),
    logger: silentLogger(),
    applier: gate.connect,
  });
  await store.createRegion(region);
  await store.settle();
  await sleep(20);
  await store.settle();
  expect(store.peer(1)?.isLeader()).toBe(true);
  await engines.kv.write([
    { type: 'put', cf: 'default', key: Buffer.from('c'), value: Buffer.from('left-data') },
    { type: 'put', cf: 'default', key: Buffer.from('p'), value: Buffer.from('right-data') },
  ]);
  gate.hold();
  const split = RaftCmdRequest.fromPartial({
    header: { regionId: 1, peer: { id: 11, storeId: 1 }, regionEpoch: { confVer: 1, version: 1 } },
    adminRequest: { cmdType: AdminCmdType.Split, split: { splitKey: Buffer.from('m'), newRegionId: 2, newPeerIds: [21] } },
  });
  store.propose(split, () => {});
  await sleep(20);
  // A newer membership removed this store's peer of region 1 (the split is committed, not applied).
  store.onRaftMessage(
    RaftMessage.fromPartial({
      regionId: 1,
      fromPeer: { id: 12, storeId: 2 },
      toPeer: { id: 11, storeId: 1 },
      isTombstone: true,
      regionEpoch: { confVer: 5, version: 1 },
    }),
  );
  await sleep(20);
  await gate.release();
  for (let i = 0; i < 3; i++) {
    await sleep(20);
    await store.settle();
  }
  const state = (id: number) => RegionLocalState.decode(defined(engines.kv.get('meta', regionStateKey(id)), `region ${id} state`)).state;
  expect([state(1), state(2)]).toEqual([PeerState.Tombstone, PeerState.Normal]);
  expect(store.peer(2)).toBeDefined();
  expect(engines.kv.get('default', Buffer.from('p'))?.toString()).toBe('right-data');
  expect(engines.kv.get('default', Buffer.from('c'))).toBeUndefined();
  await store.stop();
});

it('a restart that lost a split batch (raft state of the new region kept) does not fail-stop on a message for it', async () => {
  const engines = { raft: new MemoryEngine(), kv: new MemoryEngine() };
  const region: Region = {
    id: 1,
    startKey: Buffer.alloc(0),
    endKey: Buffer.alloc(0),
    regionEpoch: { confVer: 1, version: 1 },
    peers: [
      { id: 11, storeId: 1 },
      { id: 12, storeId: 2 },
    ],
  };
  let fatal: unknown;
  const store = new Store({
    storeId: 1,
    engines,
    config: DEFAULT_RAFTSTORE_CONFIG,
    transport: { send: () => {} },
    random: new SeededRandom(3).asSource(),
    logger: silentLogger(),
    onFatal: (why, err) => (fatal = `${why}: ${(err as Error | undefined)?.message}`),
  });
  await store.createRegion(region);
  // Region 2's peer ran before the crash: its raft state (fsynced) survived, the kv batch did not.
  const raftState = RaftLocalState.fromPartial({ hardState: { term: 6, vote: 21, commit: 5 }, lastIndex: 5, lastTerm: 5 });
  await engines.raft.write([{ type: 'put', cf: 'meta', key: raftStateKey(2), value: Buffer.from(RaftLocalState.encode(raftState).finish()) }]);
  store.onRaftMessage(
    RaftMessage.fromPartial({
      regionId: 2,
      fromPeer: { id: 22, storeId: 2 },
      toPeer: { id: 21, storeId: 1 },
      regionEpoch: { confVer: 1, version: 2 },
      message: { msgType: MessageType.MsgRequestVote, from: 22, to: 21, term: 7, index: 5, logTerm: 5 },
    }),
  );
  await store.settle().catch((err: unknown) => (fatal ??= err));
  expect(fatal).toBeUndefined();
  expect(store.peer(2)?.isInitialized()).toBe(false);
  await store.stop();
});
