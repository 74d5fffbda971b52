// The apply system on its own: batching across regions, answers, reads waiting for their index,
// snapshots ordered after what was handed over before them, flush before a log-GC report.
import { describe, expect, it } from 'vitest';
import type { Engine, WriteOp } from '../../src/engine/engine.js';
import { MemoryEngine } from '../../src/engine/memory-engine.js';
import { silentLogger } from '../../src/log/logger.js';
import { EntryType, type Entry, type Snapshot } from '../../src/proto/eraftpb.js';
import type { Region } from '../../src/proto/metapb.js';
import { AdminCmdType, CmdType, RaftCmdRequest, type RaftCmdResponse } from '../../src/proto/raft_cmdpb.js';
import { RaftApplyState, RaftSnapshotData } from '../../src/proto/raft_serverpb.js';
import { Applier, type ApplyResult } from '../../src/raftstore/apply/applier.js';
import { applyStateKey } from '../../src/raftstore/keys.js';
import { PeerStorage } from '../../src/raftstore/peer/peer-storage.js';
import { defined } from '../../src/util/assert.js';

function region(id: number, startKey: string, endKey: string): Region {
  return {
    id,
    startKey: Buffer.from(startKey),
    endKey: Buffer.from(endKey),
    regionEpoch: { confVer: 1, version: 1 },
    peers: [{ id: id * 10 + 1, storeId: 1 }],
  };
}

function putEntry(index: number, key: string, value: string): Entry {
  const request = RaftCmdRequest.fromPartial({
    header: {},
    requests: [{ cmdType: CmdType.Put, put: { cf: 'default', key: Buffer.from(key), value: Buffer.from(value) } }],
  });
  return { entryType: EntryType.EntryNormal, term: 6, index, data: Buffer.from(RaftCmdRequest.encode(request).finish()) };
}

function compactEntry(index: number, compactIndex: number): Entry {
  const request = RaftCmdRequest.fromPartial({
    header: {},
    adminRequest: { cmdType: AdminCmdType.CompactLog, compactLog: { compactIndex, compactTerm: 6 } },
  });
  return { entryType: EntryType.EntryNormal, term: 6, index, data: Buffer.from(RaftCmdRequest.encode(request).finish()) };
}

const getRequest = (key: string) =>
  RaftCmdRequest.fromPartial({ header: {}, requests: [{ cmdType: CmdType.Get, get: { cf: 'default', key: Buffer.from(key) } }] });

/** A kv engine that counts batches and flushes. */
class CountingEngine extends MemoryEngine {
  writes = 0;
  flushes = 0;
  override async write(ops: readonly WriteOp[]): Promise<void> {
    this.writes++;
    await super.write(ops);
  }
  override async flush(): Promise<void> {
    this.flushes++;
    await super.flush();
  }
}

async function setup(regions: Region[]): Promise<{ kv: CountingEngine; applier: Applier; results: ApplyResult[] }> {
  const kv = new CountingEngine();
  for (const r of regions) await kv.write(PeerStorage.initialWrites(r).kvOps);
  kv.writes = 0;
  const results: ApplyResult[] = [];
  const applier = new Applier(kv, silentLogger(), (result) => results.push(result));
  return { kv, applier, results };
}

const value = (kv: Engine, key: string) => kv.get('default', Buffer.from(key))?.toString();
const appliedIndex = (kv: Engine, regionId: number) => RaftApplyState.decode(kv.get('meta', applyStateKey(regionId))!).appliedIndex;

describe('the apply system', () => {
  it('applies the tasks of one turn, for several regions, in one kv batch with their apply states', async () => {
    const { kv, applier, results } = await setup([region(1, '', 'm'), region(2, 'm', '')]);
    const answers: RaftCmdResponse[] = [];
    applier.apply({
      regionId: 1,
      entries: [putEntry(6, 'a', '1'), putEntry(7, 'b', '2')],
      replies: [{ index: 7, callback: (r) => answers.push(r.response) }],
      reads: [],
    });
    applier.apply({ regionId: 2, entries: [putEntry(6, 'x', '9')], replies: [], reads: [] });
    applier.apply({ regionId: 1, entries: [putEntry(8, 'a', '3')], replies: [], reads: [] });
    await applier.settle();
    expect(kv.writes).toBe(1);
    expect([value(kv, 'a'), value(kv, 'b'), value(kv, 'x')]).toEqual(['3', '2', '9']);
    expect([appliedIndex(kv, 1), appliedIndex(kv, 2)]).toEqual([8, 6]);
    expect(answers).toHaveLength(1);
    expect(defined(answers[0], 'answers[0]').header?.error).toBeUndefined();
    // One report per region, with its latest state.
    expect(results.map((r) => [r.regionId, r.applyState.appliedIndex]).sort()).toEqual([
      [1, 8],
      [2, 6],
    ]);
  });

  it('serves a confirmed read only once its region has applied up to the read index', async () => {
    const { applier } = await setup([region(1, '', '')]);
    const served: string[] = [];
    const read = (index: number) => ({
      index,
      request: getRequest('k'),
      callback: (r: { response: RaftCmdResponse }) =>
        served.push(`${index}:${defined(r.response.responses[0], 'r.response.responses[0]').get!.value.toString()}`),
    });
    applier.apply({ regionId: 1, entries: [putEntry(6, 'k', 'old')], replies: [], reads: [read(6), read(7)] });
    await applier.settle();
    expect(served).toEqual(['6:old']);
    applier.apply({ regionId: 1, entries: [putEntry(7, 'k', 'new')], replies: [], reads: [] });
    await applier.settle();
    expect(served).toEqual(['6:old', '7:new']);
  });

  it('writes a snapshot after the entries handed over before it, never under them', async () => {
    const { kv, applier } = await setup([region(1, '', '')]);
    applier.apply({ regionId: 1, entries: [putEntry(6, 'k', 'from-log'), putEntry(7, 'old', 'x')], replies: [], reads: [] });
    const data = RaftSnapshotData.encode({
      region: region(1, '', ''),
      fileSize: 0,
      data: [{ key: Buffer.concat([Buffer.from([0]), Buffer.from('k')]), value: Buffer.from('from-snapshot') }],
      meta: undefined,
    }).finish();
    const snapshot: Snapshot = { data: Buffer.from(data), metadata: { index: 20, term: 7, confState: { nodes: [11] } } };
    await applier.restore(1, snapshot);
    expect(value(kv, 'k')).toBe('from-snapshot');
    expect(value(kv, 'old')).toBeUndefined(); // the region's old data is cleared
    expect(appliedIndex(kv, 1)).toBe(20);
    // Entries after the snapshot continue from its index.
    applier.apply({ regionId: 1, entries: [putEntry(21, 'k', 'after')], replies: [], reads: [] });
    await applier.settle();
    expect(value(kv, 'k')).toBe('after');
  });

  it('flushes the kv engine before reporting a moved truncated state (the log below it is then deleted)', async () => {
    const { kv, applier, results } = await setup([region(1, '', '')]);
    applier.apply({ regionId: 1, entries: [putEntry(6, 'k', 'v')], replies: [], reads: [] });
    await applier.settle();
    expect(kv.flushes).toBe(0);
    applier.apply({ regionId: 1, entries: [compactEntry(7, 6)], replies: [], reads: [] });
    await applier.settle();
    expect(kv.flushes).toBe(1);
    expect(results.at(-1)!.applyState.truncatedState).toEqual({ index: 6, term: 6 });
  });

  it('refuses entries that skip an index (an invariant, kept on in production)', async () => {
    const { applier } = await setup([region(1, '', '')]);
    applier.apply({ regionId: 1, entries: [putEntry(8, 'k', 'v')], replies: [], reads: [] });
    await expect(applier.settle()).rejects.toThrow(/apply 8 after 5/);
  });
});
