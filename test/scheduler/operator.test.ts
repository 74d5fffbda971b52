// The operator model (src/scheduler/schedule/operator.ts): which step is current as heartbeats
// show steps done, staleness when the region's epoch moved past the operator's own steps,
// timeouts by kind, and the constructors (PD's create_operator.go).
import { describe, expect, it } from 'vitest';
import {
  LEADER_OPERATOR_TIMEOUT_MS,
  OpKind,
  REGION_OPERATOR_TIMEOUT_MS,
  createAddPeerOperator,
  createMovePeerOperator,
  createRemovePeerOperator,
  createSplitRegionOperator,
  createTransferLeaderOperator,
} from '../../src/scheduler/schedule/operator.js';
import { p, regionInfo } from './operator-fixtures.js';

const THREE = [p(11, 1), p(12, 2), p(13, 3)];

describe('operator', () => {
  it('add-peer is done once the peer is on the store and no longer pending', () => {
    const op = createAddPeerOperator('admin-add-peer', regionInfo({ peers: THREE, leaderStore: 1 }), p(14, 4), OpKind.Admin, 1000);
    expect(op.kind).toBe(OpKind.Admin | OpKind.Region);
    expect(op.check(regionInfo({ peers: THREE, leaderStore: 1 }))).toEqual({ type: 'add-peer', toStore: 4, peerId: 14 });
    const added = [...THREE, p(14, 4)];
    const pending = regionInfo({ peers: added, leaderStore: 1, confVer: 6, pending: [14] });
    expect(op.check(pending)?.type).toBe('add-peer');
    // Its conf change is in the epoch already: not stale while the peer waits for its snapshot.
    expect(op.isStale(pending)).toBe(false);
    expect(op.check(regionInfo({ peers: added, leaderStore: 1, confVer: 6 }))).toBeUndefined();
    expect(op.stepIndex).toBe(1);
    expect(op.confChangesDone()).toBe(1);
  });

  it('remove-peer of the leader first transfers the leader to a follower that is not pending', () => {
    const region = regionInfo({ peers: THREE, leaderStore: 1, pending: [12] });
    const op = createRemovePeerOperator('remove-extra', region, 1, OpKind.Replica, 0);
    expect(op.steps).toEqual([
      { type: 'transfer-leader', fromStore: 1, toStore: 3 },
      { type: 'remove-peer', fromStore: 1 },
    ]);
    expect(op.kind).toBe(OpKind.Replica | OpKind.Region | OpKind.Leader);
    expect(op.check(region)?.type).toBe('transfer-leader');
    expect(op.check(regionInfo({ peers: THREE, leaderStore: 3 }))?.type).toBe('remove-peer');
    expect(op.check(regionInfo({ peers: THREE.slice(1), leaderStore: 3, confVer: 6 }))).toBeUndefined();
    const follower = createRemovePeerOperator('remove-extra', region, 2, OpKind.Replica, 0);
    expect(follower.steps).toEqual([{ type: 'remove-peer', fromStore: 2 }]);
  });

  it('move-peer: add on the new store, leader off the old one, then remove it', () => {
    const region = regionInfo({ peers: THREE, leaderStore: 2 });
    const op = createMovePeerOperator('balance-region', region, OpKind.Balance, 2, p(14, 4), 0);
    expect(op.steps).toEqual([
      { type: 'add-peer', toStore: 4, peerId: 14 },
      { type: 'transfer-leader', fromStore: 2, toStore: 1 },
      { type: 'remove-peer', fromStore: 2 },
    ]);
    expect(op.kind).toBe(OpKind.Balance | OpKind.Region | OpKind.Leader);
    const plain = createMovePeerOperator('balance-region', region, OpKind.Balance, 3, p(14, 4), 0);
    expect(plain.steps.map((s) => s.type)).toEqual(['add-peer', 'remove-peer']);
    expect(plain.kind).toBe(OpKind.Balance | OpKind.Region);
    // Steps are walked in order as the heartbeats show them done; the epoch moves by its own steps only.
    const four = [...THREE, p(14, 4)];
    expect(op.check(regionInfo({ peers: four, leaderStore: 2, confVer: 6 }))?.type).toBe('transfer-leader');
    const moved = regionInfo({ peers: four, leaderStore: 1, confVer: 6 });
    expect(op.check(moved)?.type).toBe('remove-peer');
    expect(op.isStale(moved)).toBe(false);
    const done = regionInfo({ peers: [p(11, 1), p(13, 3), p(14, 4)], leaderStore: 1, confVer: 7 });
    expect(op.check(done)).toBeUndefined();
    expect(op.isStale(done)).toBe(false);
  });

  it('transfer-leader and split-region steps', () => {
    const region = regionInfo({ peers: THREE, leaderStore: 1 });
    const transfer = createTransferLeaderOperator('balance-leader', region, 3, OpKind.Balance, 0);
    expect(transfer.steps).toEqual([{ type: 'transfer-leader', fromStore: 1, toStore: 3 }]);
    expect(transfer.check(region)).toBeDefined();
    expect(transfer.check(regionInfo({ peers: THREE, leaderStore: 3 }))).toBeUndefined();
    const split = createSplitRegionOperator('admin-split-region', region, [Buffer.from('k')], OpKind.Admin, 0);
    expect(split.kind & OpKind.Admin).toBe(OpKind.Admin);
    expect(split.check(region)).toEqual({ type: 'split-region', keys: [Buffer.from('k')] });
    const after = regionInfo({ peers: THREE, leaderStore: 1, version: 4 });
    expect(split.check(after)).toBeUndefined();
    expect(split.isStale(after)).toBe(false);
  });

  it('is stale once conf_ver or version moved past its own finished steps', () => {
    const region = regionInfo({ peers: THREE, leaderStore: 1 });
    const op = createTransferLeaderOperator('t', region, 2, 0, 0);
    expect(op.isStale(region)).toBe(false);
    expect(op.isStale(regionInfo({ peers: THREE, leaderStore: 1, confVer: 6 }))).toBe(true);
    expect(op.isStale(regionInfo({ peers: THREE, leaderStore: 1, version: 4 }))).toBe(true);
    const add = createAddPeerOperator('a', region, p(14, 4), 0, 0);
    // Another peer added by someone else: the epoch moved, but not by this operator's step.
    expect(add.isStale(regionInfo({ peers: [...THREE, p(15, 5)], leaderStore: 1, confVer: 6 }))).toBe(true);
  });

  it('times out after 10 s when it moves only leaders, after 10 min when it moves peers', () => {
    const region = regionInfo({ peers: THREE, leaderStore: 1 });
    const leader = createTransferLeaderOperator('t', region, 2, 0, 1000);
    expect(leader.timeoutMs).toBe(LEADER_OPERATOR_TIMEOUT_MS);
    expect(leader.isTimedOut(1000 + LEADER_OPERATOR_TIMEOUT_MS - 1)).toBe(false);
    expect(leader.isTimedOut(1000 + LEADER_OPERATOR_TIMEOUT_MS)).toBe(true);
    const move = createMovePeerOperator('m', region, 0, 1, p(14, 4), 1000);
    expect(move.timeoutMs).toBe(REGION_OPERATOR_TIMEOUT_MS);
    expect(move.isTimedOut(1000 + LEADER_OPERATOR_TIMEOUT_MS)).toBe(false);
    expect(move.kindNames()).toBe('leader,region');
  });
});
