/**
 * Per-key latches serialize write commands on the same keys within one node (TinyKV
 * kv/transaction/latches, made asynchronous and fair).
 *
 * A command enqueues itself on the queue of every key it touches in one synchronous step, so all
 * queues agree on a single arrival order: a command only ever waits for earlier commands, which
 * rules out deadlock. It runs once it heads every one of its queues; release wakes the next
 * commands in FIFO order. Waiting is bounded: beyond `maxWaitingCommands` queued commands,
 * `acquire` throws a retryable `KV:Txn:LatchQueueFull`.
 * Reads (KvGet, KvScan) take no latches: they read a snapshot.
 */
import type { Modify } from '../storage/storage.js';
import { defined } from '../util/assert.js';
import { decodeLockKey, decodeUserKey } from './codec.js';
import { TxnError, TxnErrorCode } from './errors.js';

export const LATCHES_MAX_WAITING_COMMANDS_DEFAULT = 10_000;

export interface LatchesOptions {
  /** Bound on commands waiting for latches (not counting those holding them). */
  readonly maxWaitingCommands?: number;
}

/**
 * Test hook, called with the latched keys and the batch just before a command writes it.
 * Throwing fails the command (nothing is written).
 */
export type LatchValidation = (latchedKeys: readonly Buffer[], modifies: readonly Modify[]) => void;

interface Waiter {
  readonly slots: readonly string[];
  /** Queues this command does not head yet. */
  blockedOn: number;
  wake: (() => void) | undefined;
}

/** Proof of holding latches; release exactly once. */
export interface LatchGuard {
  readonly keys: readonly Buffer[];
  release(): void;
}

export class Latches {
  /** Slot (user key as latin1) → FIFO of commands; the head holds the latch. */
  private readonly queues = new Map<string, Waiter[]>();
  private readonly maxWaitingCommands: number;
  private waitingCommands = 0;
  validation: LatchValidation | undefined;

  constructor(options: LatchesOptions = {}) {
    this.maxWaitingCommands = options.maxWaitingCommands ?? LATCHES_MAX_WAITING_COMMANDS_DEFAULT;
  }

  /** Number of keys currently latched or waited on (for tests and metrics). */
  get slotCount(): number {
    return this.queues.size;
  }

  get waitingCount(): number {
    return this.waitingCommands;
  }

  /** Waits until this command holds the latch of every key in `keys` (duplicates allowed). */
  async acquire(keys: readonly Buffer[]): Promise<LatchGuard> {
    const slots = [...new Set(keys.map((key) => Buffer.from(key).toString('latin1')))].sort();
    const waiter: Waiter = { slots, blockedOn: 0, wake: undefined };
    const blocked = slots.some((slot) => (this.queues.get(slot)?.length ?? 0) > 0);
    if (blocked && this.waitingCommands >= this.maxWaitingCommands) {
      throw new TxnError(TxnErrorCode.LatchQueueFull, `more than ${this.maxWaitingCommands} commands waiting for latches`);
    }
    for (const slot of slots) {
      const queue = this.queues.get(slot);
      if (queue === undefined) this.queues.set(slot, [waiter]);
      else {
        queue.push(waiter);
        waiter.blockedOn++;
      }
    }
    if (waiter.blockedOn > 0) {
      this.waitingCommands++;
      await new Promise<void>((resolve) => (waiter.wake = resolve));
    }
    return this.guard(waiter, keys);
  }

  /** Checks the batch against the latched keys with the validation hook, if set. */
  validate(latchedKeys: readonly Buffer[], modifies: readonly Modify[]): void {
    this.validation?.(latchedKeys, modifies);
  }

  private guard(waiter: Waiter, keys: readonly Buffer[]): LatchGuard {
    let released = false;
    return {
      keys: keys.map((key) => Buffer.from(key)),
      release: () => {
        if (released) throw new Error('latches released twice');
        released = true;
        this.release(waiter);
      },
    };
  }

  private release(waiter: Waiter): void {
    for (const slot of waiter.slots) {
      const queue = defined(this.queues.get(slot), 'latch queue of a held slot');
      if (queue[0] !== waiter) throw new Error('latch released by a command that does not hold it');
      queue.shift();
      const next = queue[0];
      if (next === undefined) {
        this.queues.delete(slot);
        continue;
      }
      next.blockedOn--;
      if (next.blockedOn === 0) {
        this.waitingCommands--;
        defined(next.wake, 'wake of a blocked latch waiter')();
      }
    }
  }
}

/**
 * A `LatchValidation` that throws when a modify touches a user key that is not latched (TinyKV's
 * test harness check). Stored keys (lock: encodeBytes, default/write: encodeKey) are decoded to user keys first.
 */
export function requireModifiesLatched(latchedKeys: readonly Buffer[], modifies: readonly Modify[]): void {
  const latched = new Set(latchedKeys.map((key) => key.toString('latin1')));
  for (const modify of modifies) {
    const userKey = modify.cf === 'lock' ? decodeLockKey(modify.key) : decodeUserKey(modify.key);
    if (!latched.has(userKey.toString('latin1'))) {
      throw new Error(`modify of ${modify.cf} key ${userKey.toString('hex')} outside the latched keys`);
    }
  }
}
