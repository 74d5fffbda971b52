/** Wall-clock seam: production uses the system clock; simulations inject a controllable one. */
export interface Clock {
  /** Milliseconds since the Unix epoch. */
  nowMs(): number;
}

export const systemClock: Clock = { nowMs: () => Date.now() };

/** A clock that moves only when told to. */
export class ManualClock implements Clock {
  constructor(private ms: number) {}
  nowMs(): number {
    return this.ms;
  }
  advance(ms: number): void {
    this.ms += ms;
  }
  set(ms: number): void {
    this.ms = ms;
  }
}

/**
 * Monotonic time in milliseconds, the same clock on every thread of the process (libuv's
 * uv_hrtime, CLOCK_MONOTONIC): what a leader lease is measured on. It never goes back and does not
 * follow wall-clock steps; its zero is arbitrary, so it is compared only with itself.
 */
export interface MonotonicClock {
  nowMs(): number;
}

export const monotonicClock: MonotonicClock = {
  // Microseconds first: hrtime's nanoseconds outgrow a double's exact integers after ~100 days up.
  nowMs: () => Number(process.hrtime.bigint() / 1000n) / 1000,
};
