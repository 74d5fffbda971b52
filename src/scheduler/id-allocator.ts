/**
 * One allocator for store, region and peer ids (TinyKV/PD's AllocID), persisted in batches:
 * before handing out ids above the durable bound it first saves `bound + step`, so after a
 * restart allocation resumes above every id that could have been handed out. Ids skipped by a
 * restart are never used; no id is ever returned twice. Ids start at 1.
 */
import { assert, defined } from '../util/assert.js';

export interface IdBoundPersistence {
  /** The last saved bound (every id handed out is <= it), or 0 when none was ever saved. */
  load(): number;
  /** Durably records a new bound. */
  save(bound: number): Promise<void>;
}

/** PD's allocation step. */
export const ID_ALLOC_STEP = 1_000;
/** The most ids one call may ask for. */
export const ID_ALLOC_MAX_BATCH = 100_000;

export class IdAllocator {
  private lastIssued: number;
  private durableBound: number;
  private queue: Promise<unknown> = Promise.resolve();

  private constructor(
    private readonly persistence: IdBoundPersistence,
    private readonly step: number,
  ) {
    this.lastIssued = persistence.load();
    this.durableBound = this.lastIssued;
  }

  static open(persistence: IdBoundPersistence, step = ID_ALLOC_STEP): IdAllocator {
    assert(Number.isSafeInteger(step) && step > 0, 'id allocation step must be a positive integer');
    return new IdAllocator(persistence, step);
  }

  /** The largest id handed out so far (0 when none). */
  get last(): number {
    return this.lastIssued;
  }

  alloc(): Promise<number> {
    return this.allocMany(1).then((ids) => defined(ids[0], 'allocated id'));
  }

  /** `count` fresh ids, ascending. Calls are served in order. */
  allocMany(count: number): Promise<number[]> {
    if (!Number.isSafeInteger(count) || count < 1 || count > ID_ALLOC_MAX_BATCH) {
      return Promise.reject(new RangeError(`id batch must be 1..${ID_ALLOC_MAX_BATCH} (got ${count})`));
    }
    const next = this.queue.then(() => this.allocNow(count));
    this.queue = next.catch(() => {});
    return next;
  }

  private async allocNow(count: number): Promise<number[]> {
    const wanted = this.lastIssued + count;
    if (wanted > this.durableBound) {
      const bound = wanted + this.step - 1 - ((wanted - 1) % this.step);
      assert(Number.isSafeInteger(bound), 'id space exhausted');
      await this.persistence.save(bound);
      this.durableBound = bound;
    }
    const ids: number[] = [];
    for (let id = this.lastIssued + 1; id <= wanted; id++) ids.push(id);
    this.lastIssued = wanted;
    assert(this.lastIssued <= this.durableBound, 'id handed out beyond its durable bound');
    return ids;
  }
}
