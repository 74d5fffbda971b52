// The main thread's split loop (src/server/split-driver.ts) with a fake router, checker and scheduler.
import { describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/log/logger.js';
import type { Region } from '../../src/proto/metapb.js';
import { AdminCmdType, RaftCmdResponse, type RaftCmdRequest } from '../../src/proto/raft_cmdpb.js';
import type { SplitCheckResult, SplitThresholds } from '../../src/raftstore/split/split-check.js';
import { SplitDriver, firstKeyInside } from '../../src/server/split-driver.js';
import { CheckPolicy } from '../../src/proto/schedulerpb.js';
import { encodeBytes } from '../../src/txn/codec.js';
import { NOTHING_TO_CANCEL } from '../../src/raftstore/router/router.js';

const region = (id: number, version = 1): Region => ({
  id,
  startKey: Buffer.alloc(0),
  endKey: Buffer.alloc(0),
  regionEpoch: { confVer: 1, version },
  peers: [{ id: id * 10, storeId: 1 }],
});

function setup(answers: (regionId: number, thresholds?: SplitThresholds) => SplitCheckResult) {
  let led = [region(1)];
  const checked: number[] = [];
  const proposed: RaftCmdRequest[] = [];
  const asked: number[] = [];
  const driver = new SplitDriver({
    router: {
      leaderRegions: () => led.map((r) => ({ region: r, leader: r.peers[0]!, pendingPeers: [], downPeers: [] })),
      propose: (request, callback) => {
        proposed.push(request);
        const split = request.adminRequest?.split;
        callback({
          response: RaftCmdResponse.fromPartial({
            header: {},
            adminResponse: { cmdType: AdminCmdType.Split, split: { regions: [region(1, 2), region(split?.newRegionId ?? 0, 2)] } },
          }),
        });
        return NOTHING_TO_CANCEL;
      },
    },
    checker: {
      check: async (regionId, _range, thresholds) => {
        checked.push(regionId);
        return answers(regionId, thresholds);
      },
    },
    askSplit: async (r) => {
      asked.push(r.id);
      return { newRegionId: 7, newPeerIds: [70] };
    },
    thresholds: { maxSizeBytes: 4000, splitSizeBytes: 3000 },
    checkDiffBytes: 1000,
    proposeTimeoutMs: 1000,
    logger: silentLogger(),
  });
  return { driver, checked, proposed, asked, lead: (regions: Region[]) => (led = regions) };
}

describe('split driver', () => {
  it('checks a newly led region once, then only after enough writes', async () => {
    const { driver, checked } = setup(() => ({ sizeBytes: 500, keys: 5, complete: true }));
    await driver.tick();
    await driver.tick();
    expect(checked).toEqual([1]);
    expect(driver.approximateSize(1)).toEqual({ sizeBytes: 500, keys: 5 });
    driver.onWrite(1, 600);
    await driver.tick();
    expect(checked).toEqual([1]);
    driver.onWrite(1, 600);
    await driver.tick();
    expect(checked).toEqual([1, 1]);
  });

  it('asks the scheduler for ids and proposes Split at the checked epoch when a split key is found', async () => {
    const { driver, proposed, asked } = setup(() => ({ splitKey: Buffer.from('m'), sizeBytes: 5000, keys: 50, complete: false }));
    const splits: number[][] = [];
    driver.onSplit = (regions) => splits.push(regions.map((r) => r.id));
    await driver.tick();
    expect(asked).toEqual([1]);
    expect(proposed).toHaveLength(1);
    const split = proposed[0]?.adminRequest?.split;
    expect([split?.splitKey.toString(), split?.newRegionId, split?.newPeerIds]).toEqual(['m', 7, [70]]);
    expect(proposed[0]?.header?.regionEpoch).toEqual({ confVer: 1, version: 1 });
    expect(splits).toEqual([[1, 7]]);
    expect(driver.splitCount).toBe(1);
  });

  it('does not split a region that changed or moved away while it was checked', async () => {
    let lead: (regions: Region[]) => void = () => {};
    const state = setup(() => {
      lead([region(1, 2)]); // split by someone else meanwhile
      return { splitKey: Buffer.from('m'), sizeBytes: 5000, keys: 50, complete: false };
    });
    lead = state.lead;
    await state.driver.tick();
    expect(state.asked).toEqual([]);
    expect(state.proposed).toEqual([]);
  });

  it('forgets sizes of regions it no longer leads, and a failed check is retried on the next tick', async () => {
    let fail = true;
    const { driver, checked, lead } = setup(() => {
      if (fail) throw new Error('busy');
      return { sizeBytes: 1, keys: 1, complete: true };
    });
    await driver.tick();
    fail = false;
    await driver.tick();
    expect(checked).toEqual([1, 1]);
    expect(driver.approximateSize(1)).toBeDefined();
    lead([]);
    await driver.tick();
    expect(driver.approximateSize(1)).toBeUndefined();
  });

  describe('splits the scheduler asks for', () => {
    const epoch = { confVer: 1, version: 1 };

    it('USEKEY: cuts at the encoded user key with the scheduler epoch, without a check', async () => {
      const { driver, proposed, checked, asked } = setup(() => ({ sizeBytes: 0, keys: 0, complete: true }));
      await driver.requestSplit(1, epoch, { policy: CheckPolicy.USEKEY, keys: [Buffer.from('k')] });
      expect(checked).toEqual([]);
      expect(asked).toEqual([1]);
      expect(proposed[0]?.adminRequest?.split?.splitKey).toEqual(encodeBytes(Buffer.from('k')));
      expect(proposed[0]?.header?.regionEpoch).toEqual(epoch);
    });

    it('USEKEY: the first key strictly inside the region; none inside or another version: nothing', async () => {
      const inside: Region = { ...region(1), startKey: encodeBytes(Buffer.from('c')), endKey: encodeBytes(Buffer.from('p')) };
      const keys = ['a', 'c', 'x', 'm', 'd'].map((k) => Buffer.from(k));
      expect(firstKeyInside(inside, keys)).toEqual(encodeBytes(Buffer.from('m')));
      expect(firstKeyInside(inside, keys.slice(0, 3))).toBeUndefined();
      const { driver, proposed, lead } = setup(() => ({ sizeBytes: 0, keys: 0, complete: true }));
      lead([inside]);
      await driver.requestSplit(1, epoch, { policy: CheckPolicy.USEKEY, keys: keys.slice(0, 3) });
      await driver.requestSplit(1, { confVer: 1, version: 2 }, { policy: CheckPolicy.USEKEY, keys });
      await driver.requestSplit(9, epoch, { policy: CheckPolicy.USEKEY, keys });
      expect(proposed).toEqual([]);
    });

    it('SCAN/APPROXIMATE: measures the region, then cuts where half its data is', async () => {
      const seen: Array<SplitThresholds | undefined> = [];
      const { driver, proposed } = setup((_id, thresholds) => {
        seen.push(thresholds);
        return thresholds?.maxSizeBytes === 0
          ? { splitKey: Buffer.from('h'), sizeBytes: 501, keys: 5, complete: false }
          : { sizeBytes: 1000, keys: 10, complete: true };
      });
      await driver.requestSplit(1, epoch, { policy: CheckPolicy.APPROXIMATE, keys: [] });
      expect(seen).toEqual([
        { maxSizeBytes: 4000, splitSizeBytes: 3000 },
        { maxSizeBytes: 0, splitSizeBytes: 500 },
      ]);
      expect(proposed[0]?.adminRequest?.split?.splitKey.toString()).toBe('h');
    });

    it('SCAN/APPROXIMATE on a region first measured past max-size: cuts where the store check would', async () => {
      const { driver, proposed, checked } = setup(() => ({ splitKey: Buffer.from('s'), sizeBytes: 4001, keys: 40, complete: false }));
      await driver.requestSplit(1, epoch, { policy: CheckPolicy.SCAN, keys: [] });
      expect(checked).toEqual([1]);
      expect(proposed[0]?.adminRequest?.split?.splitKey.toString()).toBe('s');
    });
  });
});
