// Where a move or removal off the leader's store sends the leader: never to a pending or down peer,
// whose transfer could not complete (the operator would just time out).
import { describe, expect, it } from 'vitest';
import type { RegionInfo } from '../../src/scheduler/cluster-state.js';
import { OpKind, createMovePeerOperator, createRemovePeerOperator } from '../../src/scheduler/schedule/operator.js';
import { peer, region } from './helpers.js';

function info(extra: Partial<RegionInfo> = {}): RegionInfo {
  const r = region(1, '', '', { confVer: 1, version: 1 }, [
    [11, 1],
    [12, 2],
    [13, 3],
  ]);
  return { region: r, leader: peer(11, 1), pendingPeers: [], downPeers: [], approximateSizeBytes: 10, approximateKeys: 1, ...extra };
}

describe('operator leader targets', () => {
  it('a move off the leader store hands the leader to the first follower that is neither pending nor down', () => {
    expect(createMovePeerOperator('t', info(), OpKind.Replica, 1, peer(14, 4), 0).steps[1]).toEqual({
      type: 'transfer-leader',
      fromStore: 1,
      toStore: 2,
    });
    const downTwo = info({ downPeers: [{ peer: peer(12, 2), downSeconds: 700 }] });
    expect(createMovePeerOperator('t', downTwo, OpKind.Replica, 1, peer(14, 4), 0).steps[1]).toEqual({
      type: 'transfer-leader',
      fromStore: 1,
      toStore: 3,
    });
    const noneFit = info({ downPeers: [{ peer: peer(12, 2), downSeconds: 700 }], pendingPeers: [peer(13, 3)] });
    expect(createMovePeerOperator('t', noneFit, OpKind.Replica, 1, peer(14, 4), 0).steps[1]).toEqual({
      type: 'transfer-leader',
      fromStore: 1,
      toStore: 4,
    });
  });

  it('removing the leader peer transfers first to a follower that can lead, else removes directly', () => {
    const downTwo = info({ downPeers: [{ peer: peer(12, 2), downSeconds: 700 }] });
    expect(createRemovePeerOperator('t', downTwo, 1, OpKind.Replica, 0).steps).toEqual([
      { type: 'transfer-leader', fromStore: 1, toStore: 3 },
      { type: 'remove-peer', fromStore: 1 },
    ]);
    const noneFit = info({ downPeers: [{ peer: peer(12, 2), downSeconds: 700 }], pendingPeers: [peer(13, 3)] });
    expect(createRemovePeerOperator('t', noneFit, 1, OpKind.Replica, 0).steps).toEqual([{ type: 'remove-peer', fromStore: 1 }]);
  });
});
