import { describe, expect, it } from 'vitest';
import { RateLimitedLog } from '../../src/util/rate-limited-log.js';

describe('RateLimitedLog', () => {
  it('lets maxPerInterval lines through per interval and hands the held-back count to the next line', () => {
    let nowMs = 0;
    const limit = new RateLimitedLog(1_000, () => nowMs, 2);
    const written: number[] = [];
    for (let i = 0; i < 5; i++) limit.run((suppressed) => written.push(suppressed));
    expect(written).toEqual([0, 0]);
    nowMs = 999;
    limit.run((suppressed) => written.push(suppressed));
    expect(written).toEqual([0, 0]);
    nowMs = 1_000;
    limit.run((suppressed) => written.push(suppressed));
    limit.run((suppressed) => written.push(suppressed));
    expect(written).toEqual([0, 0, 4, 0]);
  });

  it('defaults to one line per interval', () => {
    let nowMs = 0;
    const limit = new RateLimitedLog(10, () => nowMs);
    const written: number[] = [];
    limit.run((s) => written.push(s));
    limit.run((s) => written.push(s));
    nowMs = 10;
    limit.run((s) => written.push(s));
    expect(written).toEqual([0, 1]);
  });
});
