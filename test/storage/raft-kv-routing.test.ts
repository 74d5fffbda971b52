// Kv* requests without a region id (ctl, simple clients) are routed by RaftKvStorage to this
// store's region of the key's stored position: a transactional key's encoding, a raw key as is.
import { describe, expect, it } from 'vitest';
import type { WriteOp } from '../../src/engine/engine.js';
import { MemoryEngine } from '../../src/engine/memory-engine.js';
import type { Region } from '../../src/proto/metapb.js';
import { CmdType, RaftCmdResponse, type RaftCmdRequest } from '../../src/proto/raft_cmdpb.js';
import { CommitRequest, GetRequest, PrewriteRequest, ScanRequest } from '../../src/proto/kvrpcpb.js';
import type { CommandCallback } from '../../src/raftstore/router/command-callback.js';
import { keyNotInRegion } from '../../src/raftstore/router/errors.js';
import { NOTHING_TO_CANCEL, type RaftRouter } from '../../src/raftstore/router/router.js';
import { keyInRegion } from '../../src/raftstore/region.js';
import { RaftKvStorage } from '../../src/storage/raft-kv-storage.js';
import { encodeBytes } from '../../src/txn/codec.js';
import { createTxnCommands } from '../../src/txn/index.js';
import { defined } from '../../src/util/assert.js';

const b = (s: string) => Buffer.from(s);
const notUsed = (): never => {
  throw new Error('not used by this test');
};

/** One store's regions over a memory engine: commands apply at once, with the raftstore's KeyNotInRegion check. */
class FakeStore implements RaftRouter {
  readonly storeId = 1;
  readonly proposedTo: number[] = [];
  constructor(
    private readonly engine: MemoryEngine,
    private readonly regionList: Region[],
  ) {}

  propose(request: RaftCmdRequest, callback: CommandCallback) {
    const regionId = defined(request.header, 'header').regionId;
    this.proposedTo.push(regionId);
    const region = defined(
      this.regionList.find((r) => r.id === regionId),
      'region',
    );
    const ops: WriteOp[] = [];
    for (const { cmdType, put, delete: del } of request.requests) {
      if (cmdType === CmdType.Snap) {
        const response = RaftCmdResponse.fromPartial({ responses: [{ cmdType, snap: { region } }] });
        callback({ response, snapshot: this.engine.snapshot() });
        return NOTHING_TO_CANCEL;
      }
      const key = Buffer.from(put?.key ?? defined(del, 'delete').key);
      if (!keyInRegion(key, region)) {
        callback({ response: RaftCmdResponse.fromPartial({ header: { error: keyNotInRegion(key, region).regionError } }) });
        return NOTHING_TO_CANCEL;
      }
      const cf = (put?.cf ?? defined(del, 'delete').cf) as WriteOp['cf'];
      ops.push(put ? { type: 'put', cf, key, value: Buffer.from(put.value) } : { type: 'delete', cf, key });
    }
    void this.engine.write(ops).then(() => callback({ response: RaftCmdResponse.fromPartial({ responses: [] }) }));
    return NOTHING_TO_CANCEL;
  }
  regions(): Region[] {
    return this.regionList;
  }
  regionForKey(key: Uint8Array): Region | undefined {
    return this.regionList.find((r) => keyInRegion(key, r));
  }
  onRaftMessage = notUsed;
  onRaftMessageBytes = notUsed;
  tick = notUsed;
  createRegion = notUsed;
  leaderRegions = notUsed;
  stop = notUsed;
}

describe('RaftKvStorage routing of requests without a region id', () => {
  it('routes each transactional command by the encoded user key', async () => {
    // x < y < w share their first 8 bytes; the store's regions are cut at y's encoding. Raw w sorts
    // left of the cut, its encoding (and so all its records) right of it.
    const splitKey = encodeBytes(b('user0001-b'));
    const left: Region = { id: 1, startKey: b(''), endKey: splitKey, regionEpoch: { confVer: 1, version: 2 }, peers: [{ id: 11, storeId: 1 }] };
    const right: Region = { id: 2, startKey: splitKey, endKey: b(''), regionEpoch: { confVer: 1, version: 2 }, peers: [{ id: 21, storeId: 1 }] };
    const store = new FakeStore(new MemoryEngine(), [left, right]);
    const commands = createTxnCommands(new RaftKvStorage(store));
    for (const [name, regionId, ts] of [
      ['user0001-a', 1, 10n],
      ['user0001-b', 2, 20n],
      ['user0001zz', 2, 30n],
    ] as const) {
      const key = b(name);
      store.proposedTo.length = 0;
      const prewrite = await commands.kvPrewrite(
        PrewriteRequest.fromPartial({ mutations: [{ op: 0, key, value: b(`v-${name}`) }], primaryLock: key, startVersion: ts, lockTtl: 1000n }),
      );
      expect(prewrite).toMatchObject({ regionError: undefined, errors: [] });
      const commit = await commands.kvCommit(CommitRequest.fromPartial({ keys: [key], startVersion: ts, commitVersion: ts + 1n }));
      expect(commit).toMatchObject({ regionError: undefined, error: undefined });
      const get = await commands.kvGet(GetRequest.fromPartial({ key, version: 100n }));
      expect(get).toMatchObject({ regionError: undefined, value: b(`v-${name}`) });
      expect(new Set(store.proposedTo)).toEqual(new Set([regionId]));
    }
    // A scan without a region id reads the region of its start key's encoding.
    const scan = await commands.kvScan(ScanRequest.fromPartial({ startKey: b('user0001-b'), limit: 10, version: 100n }));
    expect(scan.pairs.map((p) => p.key.toString())).toEqual(['user0001-b', 'user0001zz']);
  });
});
