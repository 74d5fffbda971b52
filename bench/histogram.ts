/** Latency histogram: hdr-histogram-js recording whole microseconds, reporting milliseconds. */
import { build, type Histogram } from 'hdr-histogram-js';

/** One hour in microseconds: anything slower is clamped (and is a broken run anyway). */
const HIGHEST_US = 3_600_000_000;

export interface LatencySummary {
  /** Values recorded. */
  readonly count: number;
  readonly minMs: number;
  readonly meanMs: number;
  readonly p50Ms: number;
  readonly p95Ms: number;
  readonly p99Ms: number;
  readonly p999Ms: number;
  readonly maxMs: number;
}

export class LatencyHistogram {
  private readonly h: Histogram = build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: HIGHEST_US,
    numberOfSignificantValueDigits: 3,
    autoResize: false,
  });

  /** Records one latency in microseconds (rounded; at least 1). */
  record(us: number): void {
    this.h.recordValue(us < 1 ? 1 : us > HIGHEST_US ? HIGHEST_US : Math.round(us));
  }

  get count(): number {
    return this.h.totalCount;
  }

  /**
   * The value at `percentile` (0..100) in microseconds; 0 when empty. HDR reports the highest
   * value equivalent to the sample (within 0.1%), so it is capped at the largest value recorded.
   */
  percentileUs(percentile: number): number {
    return this.h.totalCount === 0 ? 0 : Math.min(this.h.getValueAtPercentile(percentile), this.h.maxValue);
  }

  add(other: LatencyHistogram): void {
    this.h.add(other.h);
  }

  summary(): LatencySummary {
    const empty = this.h.totalCount === 0;
    const ms = (us: number) => Math.round(us) / 1000;
    return {
      count: this.h.totalCount,
      minMs: empty ? 0 : ms(this.h.minNonZeroValue),
      meanMs: empty ? 0 : Math.round(this.h.mean) / 1000,
      p50Ms: ms(this.percentileUs(50)),
      p95Ms: ms(this.percentileUs(95)),
      p99Ms: ms(this.percentileUs(99)),
      p999Ms: ms(this.percentileUs(99.9)),
      maxMs: empty ? 0 : ms(this.h.maxValue),
    };
  }

  /** Frees the histogram's buffers (a no-op for the JS implementation, required for WASM). */
  destroy(): void {
    this.h.destroy();
  }
}
