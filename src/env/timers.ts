/**
 * Timer seam: production uses Node's timers; tests drive a ManualTimers with a ManualClock so
 * periodic work (the scheduler's coordinator) runs deterministically without waiting.
 */
import type { ManualClock } from './clock.js';

export interface TimerHandle {
  readonly id: number;
}

export interface Timers {
  /** Runs `callback` once after `delayMs`. */
  setTimeout(callback: () => void, delayMs: number): TimerHandle;
  clearTimeout(handle: TimerHandle): void;
}

/**
 * Node fires a timer whose delay does not fit a signed 32-bit ms count after 1 ms instead; a
 * configured interval past it (a `patrol-region-interval` of "600h") would spin. Longer delays wait this long.
 */
export const MAX_TIMER_DELAY_MS = 2 ** 31 - 1;

/** Node's timers, unref'd: periodic background work never keeps a process alive on its own. */
export const systemTimers: Timers = (() => {
  const live = new Map<number, NodeJS.Timeout>();
  let nextId = 1;
  return {
    setTimeout(callback, delayMs) {
      const id = nextId++;
      const timer = setTimeout(
        () => {
          live.delete(id);
          callback();
        },
        Math.min(delayMs, MAX_TIMER_DELAY_MS),
      );
      timer.unref();
      live.set(id, timer);
      return { id };
    },
    clearTimeout(handle) {
      clearTimeout(live.get(handle.id));
      live.delete(handle.id);
    },
  };
})();

interface PendingTimer {
  readonly id: number;
  readonly dueMs: number;
  readonly callback: () => void;
}

/** Timers that fire only when `advance` moves the shared ManualClock past their due time. */
export class ManualTimers implements Timers {
  private readonly pending = new Map<number, PendingTimer>();
  private nextId = 1;

  constructor(private readonly clock: ManualClock) {}

  setTimeout(callback: () => void, delayMs: number): TimerHandle {
    const id = this.nextId++;
    this.pending.set(id, { id, dueMs: this.clock.nowMs() + Math.max(0, delayMs), callback });
    return { id };
  }

  clearTimeout(handle: TimerHandle): void {
    this.pending.delete(handle.id);
  }

  /** Timers not yet fired or cleared. */
  get size(): number {
    return this.pending.size;
  }

  /**
   * Moves the clock forward by `ms`, firing due timers in due-time order (the clock set to each
   * one's due time) and letting the promise chains they start settle between firings.
   */
  async advance(ms: number): Promise<void> {
    const endMs = this.clock.nowMs() + ms;
    await settle();
    for (;;) {
      const next = this.nextDue(endMs);
      if (!next) break;
      this.pending.delete(next.id);
      this.clock.set(Math.max(this.clock.nowMs(), next.dueMs));
      next.callback();
      await settle();
    }
    this.clock.set(Math.max(this.clock.nowMs(), endMs));
  }

  private nextDue(endMs: number): PendingTimer | undefined {
    let next: PendingTimer | undefined;
    for (const timer of this.pending.values()) {
      if (timer.dueMs <= endMs && (!next || timer.dueMs < next.dueMs || (timer.dueMs === next.dueMs && timer.id < next.id))) next = timer;
    }
    return next;
  }
}

/** Lets queued promise callbacks (and what they chain) run. */
function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
