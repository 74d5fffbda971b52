/**
 * An operator: the steps that move one region from its layout to another (PD's schedule/operator,
 * reference §8.2). Steps are done by the region's leader store when told through region heartbeat
 * responses; the operator only decides, from what each heartbeat reports, which step is current.
 * Pure: no I/O; times come from the caller's clock.
 */
import type { Peer, RegionEpoch } from '../../proto/metapb.js';
import type { RegionInfo } from '../cluster-state.js';

/** Kind bits, PD's OpKind values (several may be set). */
export const OpKind = {
  Leader: 1,
  Region: 2,
  Admin: 4,
  Adjacent: 8,
  Replica: 16,
  Balance: 32,
  Merge: 64,
  Range: 128,
} as const;
export type OpKindName = keyof typeof OpKind;

/** Operators that move only leaders time out after 10 s, the rest after 10 min (PD's LeaderOperatorWaitTime and RegionOperatorWaitTime). */
export const LEADER_OPERATOR_TIMEOUT_MS = 10_000;
export const REGION_OPERATOR_TIMEOUT_MS = 10 * 60_000;

export type OpStep =
  | { readonly type: 'add-peer'; readonly toStore: number; readonly peerId: number }
  | { readonly type: 'remove-peer'; readonly fromStore: number }
  | { readonly type: 'transfer-leader'; readonly fromStore: number; readonly toStore: number }
  /** Splits at `keys` (raw user keys as the store's split checker would pick them), or at the middle when empty. */
  | { readonly type: 'split-region'; readonly keys: readonly Buffer[] };

/** Lifecycle; the terminal ones map to schedulerpb.OperatorStatus for GetOperator. */
export type OpStatus = 'running' | 'success' | 'timeout' | 'cancel' | 'replace';

export interface OperatorInit {
  /** Who made it and why, e.g. `balance-region`, `make-up-replica`, `admin-add-peer`. */
  readonly desc: string;
  readonly regionId: number;
  /** The region's epoch when the operator was made; a heartbeat past it by more than the operator's own steps cancels it. */
  readonly regionEpoch: RegionEpoch;
  readonly kind: number;
  readonly steps: readonly OpStep[];
  readonly createdMs: number;
}

export class Operator {
  readonly desc: string;
  readonly regionId: number;
  readonly regionEpoch: RegionEpoch;
  readonly kind: number;
  readonly steps: readonly OpStep[];
  readonly createdMs: number;
  status: OpStatus = 'running';
  finishedMs: number | undefined;
  /** Index of the first step not yet seen done. */
  private current = 0;

  constructor(init: OperatorInit) {
    if (init.steps.length === 0) throw new Error(`operator ${init.desc} for region ${init.regionId} has no steps`);
    this.desc = init.desc;
    this.regionId = init.regionId;
    this.regionEpoch = init.regionEpoch;
    this.kind = init.kind;
    this.steps = init.steps;
    this.createdMs = init.createdMs;
  }

  get timeoutMs(): number {
    // Moving data (a peer) takes a snapshot and may take minutes; leader moves and splits take an election or less.
    return (this.kind & OpKind.Region) !== 0 ? REGION_OPERATOR_TIMEOUT_MS : LEADER_OPERATOR_TIMEOUT_MS;
  }

  isTimedOut(nowMs: number): boolean {
    return nowMs - this.createdMs >= this.timeoutMs;
  }

  /** Advances past every step `region` shows done; the step to send next, or undefined when all are done. */
  check(region: RegionInfo): OpStep | undefined {
    while (this.current < this.steps.length) {
      const step = this.steps[this.current];
      if (step === undefined || !stepDone(step, region, this.regionEpoch)) return step;
      this.current++;
    }
    return undefined;
  }

  get stepIndex(): number {
    return this.current;
  }

  /** How many conf changes (AddPeer, RemovePeer) the steps seen done account for. */
  confChangesDone(): number {
    return this.steps.slice(0, this.current).filter((s) => s.type === 'add-peer' || s.type === 'remove-peer').length;
  }

  /** Splits the steps seen done account for (each raises the version by one). */
  splitsDone(): number {
    return this.steps.slice(0, this.current).filter((s) => s.type === 'split-region').length;
  }

  /**
   * True when the region's epoch moved further than this operator's own finished steps explain:
   * someone else changed the region, so the remaining steps were planned for a layout that is gone.
   */
  isStale(region: RegionInfo): boolean {
    const epoch = region.region.regionEpoch;
    if (!epoch) return true;
    // An added peer that still waits for its snapshot is not done, yet its conf change is in the epoch.
    const current = this.steps[this.current];
    const pendingAdd = current?.type === 'add-peer' && region.region.peers.some((p) => p.storeId === current.toStore) ? 1 : 0;
    const confChanges = this.confChangesDone() + pendingAdd;
    return epoch.confVer - this.regionEpoch.confVer > confChanges || epoch.version - this.regionEpoch.version > this.splitsDone();
  }

  /** `admin-add-peer` style kind names joined with commas, PD's OpKind.String. */
  kindNames(): string {
    const names = (Object.keys(OpKind) as OpKindName[]).filter((name) => (this.kind & OpKind[name]) !== 0);
    return names.map((n) => n.toLowerCase()).join(',');
  }

  toString(): string {
    const steps = this.steps.map(describeStep).join(', ');
    return `${this.desc} (kind:${this.kindNames()}, region:${this.regionId}, status:${this.status}) [${steps}]`;
  }
}

function stepDone(step: OpStep, region: RegionInfo, planned: RegionEpoch): boolean {
  const peers = region.region.peers;
  switch (step.type) {
    case 'add-peer': {
      const peer = peers.find((p) => p.storeId === step.toStore);
      return peer !== undefined && !region.pendingPeers.some((p) => p.id === peer.id);
    }
    case 'remove-peer':
      return !peers.some((p) => p.storeId === step.fromStore);
    case 'transfer-leader':
      return region.leader?.storeId === step.toStore;
    case 'split-region':
      return (region.region.regionEpoch?.version ?? 0) > planned.version;
  }
}

export function describeStep(step: OpStep): string {
  switch (step.type) {
    case 'add-peer':
      return `add peer ${step.peerId} on store ${step.toStore}`;
    case 'remove-peer':
      return `remove peer on store ${step.fromStore}`;
    case 'transfer-leader':
      return `transfer leader from store ${step.fromStore} to store ${step.toStore}`;
    case 'split-region':
      return step.keys.length === 0 ? 'split region at its middle' : `split region at ${step.keys.length} key(s)`;
  }
}

// ---- constructors (PD's operator/create_operator.go) ------------------------------------------

function epochOf(region: RegionInfo): RegionEpoch {
  const epoch = region.region.regionEpoch;
  if (!epoch) throw new Error(`region ${region.region.id} has no epoch`);
  return { confVer: epoch.confVer, version: epoch.version };
}

/** A leader transfer to a pending (behind) or down peer cannot complete; the operator would only time out. */
function mayLead(region: RegionInfo, peer: Peer): boolean {
  return !region.pendingPeers.some((q) => q.id === peer.id) && !region.downPeers.some((d) => d.peer.id === peer.id);
}

export function createAddPeerOperator(desc: string, region: RegionInfo, peer: Peer, kind: number, nowMs: number): Operator {
  return new Operator({
    desc,
    regionId: region.region.id,
    regionEpoch: epochOf(region),
    kind: kind | OpKind.Region,
    steps: [{ type: 'add-peer', toStore: peer.storeId, peerId: peer.id }],
    createdMs: nowMs,
  });
}

/** Removing the leader's own peer first moves the leader to another peer (the store cannot remove its leader cheaply). */
export function createRemovePeerOperator(desc: string, region: RegionInfo, storeId: number, kind: number, nowMs: number): Operator {
  const steps: OpStep[] = [];
  let opKind = kind | OpKind.Region;
  if (region.leader?.storeId === storeId) {
    const target = region.region.peers.find((p) => p.storeId !== storeId && mayLead(region, p));
    if (target) {
      steps.push({ type: 'transfer-leader', fromStore: storeId, toStore: target.storeId });
      opKind |= OpKind.Leader;
    }
  }
  steps.push({ type: 'remove-peer', fromStore: storeId });
  return new Operator({ desc, regionId: region.region.id, regionEpoch: epochOf(region), kind: opKind, steps, createdMs: nowMs });
}

export function createTransferLeaderOperator(desc: string, region: RegionInfo, toStore: number, kind: number, nowMs: number): Operator {
  const fromStore = region.leader?.storeId ?? 0;
  return new Operator({
    desc,
    regionId: region.region.id,
    regionEpoch: epochOf(region),
    kind: kind | OpKind.Leader,
    steps: [{ type: 'transfer-leader', fromStore, toStore }],
    createdMs: nowMs,
  });
}

/**
 * AddPeer on the new store, a leader transfer when the old store holds the leader (to the first
 * other follower that is neither pending nor down, else to the new peer), then RemovePeer on the old store.
 */
export function createMovePeerOperator(desc: string, region: RegionInfo, kind: number, oldStore: number, newPeer: Peer, nowMs: number): Operator {
  const steps: OpStep[] = [{ type: 'add-peer', toStore: newPeer.storeId, peerId: newPeer.id }];
  let opKind = kind | OpKind.Region;
  if (region.leader?.storeId === oldStore) {
    const follower = region.region.peers.find((p) => p.storeId !== oldStore && mayLead(region, p));
    steps.push({ type: 'transfer-leader', fromStore: oldStore, toStore: follower?.storeId ?? newPeer.storeId });
    opKind |= OpKind.Leader;
  }
  steps.push({ type: 'remove-peer', fromStore: oldStore });
  return new Operator({ desc, regionId: region.region.id, regionEpoch: epochOf(region), kind: opKind, steps, createdMs: nowMs });
}

export function createSplitRegionOperator(desc: string, region: RegionInfo, keys: readonly Buffer[], kind: number, nowMs: number): Operator {
  return new Operator({
    desc,
    regionId: region.region.id,
    regionEpoch: epochOf(region),
    kind: kind | OpKind.Admin,
    steps: [{ type: 'split-region', keys }],
    createdMs: nowMs,
  });
}
