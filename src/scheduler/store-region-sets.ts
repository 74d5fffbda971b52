/**
 * Per-store sets of region ids by the role the store plays in each region: the leader, a follower,
 * a pending peer (PD's per-store leader/follower/pending sub-trees). Schedulers pick a random region
 * to move off a store; keeping the sets up to date as regions are put and removed makes that pick
 * O(1) instead of a scan of every region. Pure: the caller passes the random source.
 */
import type { RegionRole } from './schedule/cluster-view.js';
import { defined } from '../util/assert.js';

/** What the sets need of a region: its id, peers, leader and pending peers. */
export interface RegionRoles {
  readonly region: { readonly id: number; readonly peers: readonly { readonly id: number; readonly storeId: number }[] };
  readonly leader: { readonly id: number } | undefined;
  readonly pendingPeers: readonly { readonly id: number; readonly storeId: number }[];
}

/** An id set with a uniform random pick: ids in an array, each id's slot in a map (swap-remove on delete). */
class RandomPickSet {
  private readonly ids: number[] = [];
  private readonly slots = new Map<number, number>();

  get size(): number {
    return this.ids.length;
  }

  add(id: number): void {
    if (this.slots.has(id)) return;
    this.slots.set(id, this.ids.length);
    this.ids.push(id);
  }

  delete(id: number): void {
    const slot = this.slots.get(id);
    if (slot === undefined) return;
    const last = defined(this.ids.pop(), 'last id of a non-empty set');
    this.slots.delete(id);
    if (last !== id) {
      this.ids[slot] = last;
      this.slots.set(last, slot);
    }
  }

  has(id: number): boolean {
    return this.slots.has(id);
  }

  pick(random: () => number): number | undefined {
    if (this.ids.length === 0) return undefined;
    return this.ids[Math.min(this.ids.length - 1, Math.floor(random() * this.ids.length))];
  }
}

type RoleSets = Record<RegionRole, RandomPickSet>;

export class StoreRegionSets {
  private readonly byStore = new Map<number, RoleSets>();

  /** Records `info`'s roles; the caller removes the region's previous version first. */
  add(info: RegionRoles): void {
    this.apply(info, (set, id) => set.add(id));
  }

  remove(info: RegionRoles): void {
    this.apply(info, (set, id) => set.delete(id));
  }

  /** A uniformly random region id among those where `storeId` plays `role`, or undefined. */
  pick(storeId: number, role: RegionRole, random: () => number): number | undefined {
    return this.byStore.get(storeId)?.[role].pick(random);
  }

  count(storeId: number, role: RegionRole): number {
    return this.byStore.get(storeId)?.[role].size ?? 0;
  }

  has(storeId: number, role: RegionRole, regionId: number): boolean {
    return this.byStore.get(storeId)?.[role].has(regionId) ?? false;
  }

  private apply(info: RegionRoles, change: (set: RandomPickSet, regionId: number) => void): void {
    const regionId = info.region.id;
    for (const peer of info.region.peers) {
      const sets = this.setsOf(peer.storeId);
      change(info.leader?.id === peer.id ? sets.leader : sets.follower, regionId);
    }
    for (const pending of info.pendingPeers) change(this.setsOf(pending.storeId).pending, regionId);
  }

  private setsOf(storeId: number): RoleSets {
    let sets = this.byStore.get(storeId);
    if (!sets) {
      sets = { leader: new RandomPickSet(), follower: new RandomPickSet(), pending: new RandomPickSet() };
      this.byStore.set(storeId, sets);
    }
    return sets;
  }
}
