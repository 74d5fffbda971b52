/**
 * Leader leases shared between a raft poller and the main thread (TiKV's RemoteLease): the main
 * thread serves a read of a region whose leader here holds a lease straight from the kv engine,
 * with no frame to the poller and no quorum round (batch/local-reader.ts).
 *
 * A poller owns one table (a SharedArrayBuffer the main thread created): one slot per leading peer,
 * each two 64-bit words, [generation, valid-until in µs of the monotonic clock]. Only the poller
 * writes; it ends a lease with one atomic store, so a lease it ended (a step-down, a leader
 * transfer starting, a split applied) is never honoured after that store. A slot gets a new
 * generation whenever its region, term or epoch changes; the main thread learns the generation
 * with the region in the poller's region report and serves nothing when they differ.
 *
 * Order (Atomics are sequentially consistent): a new generation is written as valid := 0, then
 * generation, then valid. A reader loads valid, then generation: if it saw a valid time written
 * for a later generation it also sees that generation, and refuses.
 */

/** Slots in one poller's table; a poller leading more regions serves the rest by ReadIndex. */
export const LEASE_TABLE_SLOTS = 4096;
const WORDS_PER_SLOT = 2;
const GENERATION = 0;
const VALID_UNTIL = 1;

export class LeaseTable {
  readonly slots: number;
  private readonly words: BigInt64Array;

  constructor(readonly buffer: SharedArrayBuffer) {
    this.words = new BigInt64Array(buffer);
    this.slots = Math.floor(this.words.length / WORDS_PER_SLOT);
  }

  static create(slots = LEASE_TABLE_SLOTS): LeaseTable {
    return new LeaseTable(new SharedArrayBuffer(slots * WORDS_PER_SLOT * BigInt64Array.BYTES_PER_ELEMENT));
  }

  /** Poller: the lease of `slot` under `generation` holds until `validUntilMs` (0: it does not hold). */
  write(slot: number, generation: number, validUntilMs: number): void {
    const base = this.base(slot);
    const until = BigInt(Math.floor(validUntilMs * 1000));
    const gen = BigInt(generation);
    if (Atomics.load(this.words, base + GENERATION) !== gen) {
      Atomics.store(this.words, base + VALID_UNTIL, 0n);
      Atomics.store(this.words, base + GENERATION, gen);
    }
    Atomics.store(this.words, base + VALID_UNTIL, until);
  }

  /** Main thread: whether the lease of `slot` under `generation` holds at `nowMs`. */
  holds(slot: number, generation: number, nowMs: number): boolean {
    const base = this.base(slot);
    const until = Atomics.load(this.words, base + VALID_UNTIL);
    if (Atomics.load(this.words, base + GENERATION) !== BigInt(generation)) return false;
    return nowMs * 1000 < Number(until);
  }

  private base(slot: number): number {
    if (!Number.isInteger(slot) || slot < 0 || slot >= this.slots) throw new RangeError(`lease slot ${slot} out of 0..${this.slots - 1}`);
    return slot * WORDS_PER_SLOT;
  }
}

/** What a leading peer's region is published under (in the region report). */
export interface LeaseSlot {
  readonly slot: number;
  readonly generation: number;
}

interface SlotState {
  readonly slot: number;
  generation: number;
  term: number;
  version: number;
  confVer: number;
  validUntilMs: number;
}

/** The poller's side: hands out slots to leading peers and writes their leases. */
export class LeaseSlots {
  private readonly byRegion = new Map<number, SlotState>();
  private readonly free: number[] = [];
  /** Never reused, so a main thread holding an old generation can never match a new lease. */
  private nextGeneration = 1;

  constructor(private readonly table: LeaseTable) {
    for (let slot = table.slots - 1; slot >= 0; slot--) this.free.push(slot);
  }

  /** The region's leader here holds a lease until `validUntilMs` for `term` and this epoch. */
  publish(regionId: number, term: number, epoch: { readonly version: number; readonly confVer: number }, validUntilMs: number): void {
    let state = this.byRegion.get(regionId);
    if (!state) {
      const slot = this.free.pop();
      if (slot === undefined) return; // Table full: this region's reads go through ReadIndex.
      state = { slot, generation: 0, term: 0, version: -1, confVer: -1, validUntilMs: 0 };
      this.byRegion.set(regionId, state);
    }
    if (state.generation === 0 || state.term !== term || state.version !== epoch.version || state.confVer !== epoch.confVer) {
      state.generation = this.nextGeneration++;
      state.term = term;
      state.version = epoch.version;
      state.confVer = epoch.confVer;
    } else if (state.validUntilMs === validUntilMs) {
      return;
    }
    state.validUntilMs = validUntilMs;
    this.table.write(state.slot, state.generation, validUntilMs);
  }

  /** The region's lease ends now (its slot is kept for the next one). */
  revoke(regionId: number): void {
    const state = this.byRegion.get(regionId);
    if (!state || state.validUntilMs === 0) return;
    state.validUntilMs = 0;
    this.table.write(state.slot, state.generation, 0);
  }

  /** The region's peer is gone from this poller: its lease ends and its slot is free. */
  release(regionId: number): void {
    const state = this.byRegion.get(regionId);
    if (!state) return;
    this.table.write(state.slot, state.generation, 0);
    this.byRegion.delete(regionId);
    this.free.push(state.slot);
  }

  slotOf(regionId: number): LeaseSlot | undefined {
    const state = this.byRegion.get(regionId);
    return state && state.generation !== 0 ? { slot: state.slot, generation: state.generation } : undefined;
  }
}

/** What a peer publishes its lease through (nothing, where no other thread reads). */
export interface LeasePublisher {
  publish(regionId: number, term: number, epoch: { readonly version: number; readonly confVer: number }, validUntilMs: number): void;
  revoke(regionId: number): void;
  release(regionId: number): void;
}

export const NO_LEASE_PUBLISHER: LeasePublisher = { publish: () => {}, revoke: () => {}, release: () => {} };
