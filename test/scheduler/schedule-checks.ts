/** Assertions on proposed operators (PD's pkg/testutil/operator_check.go). */
import { expect } from 'vitest';
import { OpKind, type Operator } from '../../src/scheduler/schedule/operator.js';

function mustOperator(op: Operator | undefined): Operator {
  expect(op, 'an operator').toBeDefined();
  return op as Operator;
}

/**
 * A move of a peer from `sourceStore` to `targetStore`: [add-peer(target), remove-peer(source)], or
 * with a leader transfer off the source in between when the source led the region.
 */
export function checkTransferPeer(op: Operator | undefined, kind: number, sourceStore: number, targetStore: number): Operator {
  const o = mustOperator(op);
  expect(o.steps.length === 2 || o.steps.length === 3, `2 or 3 steps: ${o.toString()}`).toBe(true);
  expect(o.steps[0]).toMatchObject({ type: 'add-peer', toStore: targetStore });
  if (o.steps.length === 3) {
    expect(o.steps[1]).toMatchObject({ type: 'transfer-leader', fromStore: sourceStore });
    expect(o.kind & OpKind.Leader).toBe(OpKind.Leader);
  }
  expect(o.steps[o.steps.length - 1]).toEqual({ type: 'remove-peer', fromStore: sourceStore });
  expect(o.kind & OpKind.Region).toBe(OpKind.Region);
  expect(o.kind & kind).toBe(kind);
  return o;
}

/** checkTransferPeer with exactly the three steps of a move off the leader's store. */
export function checkTransferPeerWithLeaderTransfer(op: Operator | undefined, kind: number, sourceStore: number, targetStore: number): Operator {
  const o = checkTransferPeer(op, kind, sourceStore, targetStore);
  expect(o.steps).toHaveLength(3);
  return o;
}

export function checkAddPeer(op: Operator | undefined, kind: number, targetStore: number): Operator {
  const o = mustOperator(op);
  expect(o.steps).toHaveLength(1);
  expect(o.steps[0]).toMatchObject({ type: 'add-peer', toStore: targetStore });
  expect(o.kind & (kind | OpKind.Region)).toBe(kind | OpKind.Region);
  return o;
}

/** A removal of the peer on `sourceStore`, after a leader transfer when it led the region. */
export function checkRemovePeer(op: Operator | undefined, sourceStore: number): Operator {
  const o = mustOperator(op);
  expect(o.steps.length === 1 || o.steps.length === 2, `1 or 2 steps: ${o.toString()}`).toBe(true);
  if (o.steps.length === 2) expect(o.steps[0]).toMatchObject({ type: 'transfer-leader', fromStore: sourceStore });
  expect(o.steps[o.steps.length - 1]).toEqual({ type: 'remove-peer', fromStore: sourceStore });
  return o;
}

export function checkTransferLeader(op: Operator | undefined, kind: number, sourceStore: number, targetStore: number): Operator {
  const o = mustOperator(op);
  expect(o.steps).toEqual([{ type: 'transfer-leader', fromStore: sourceStore, toStore: targetStore }]);
  expect(o.kind & (kind | OpKind.Leader)).toBe(kind | OpKind.Leader);
  return o;
}
