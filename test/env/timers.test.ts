import { describe, expect, it } from 'vitest';
import { MAX_TIMER_DELAY_MS, systemTimers } from '../../src/env/timers.js';

describe('systemTimers', () => {
  it('waits (capped) on a delay too long for Node instead of firing at once', async () => {
    const warnings: string[] = [];
    const onWarning = (warning: Error) => warnings.push(warning.name);
    process.on('warning', onWarning);
    let fired = 0;
    const long = systemTimers.setTimeout(() => fired++, 2_160_000_000); // a "600h" patrol interval
    const max = systemTimers.setTimeout(() => fired++, MAX_TIMER_DELAY_MS + 1);
    try {
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(fired).toBe(0);
      expect(warnings).not.toContain('TimeoutOverflowWarning');
    } finally {
      systemTimers.clearTimeout(long);
      systemTimers.clearTimeout(max);
      process.off('warning', onWarning);
    }
  });

  it('still fires short delays', async () => {
    await new Promise<void>((resolve) => systemTimers.setTimeout(resolve, 5));
  });
});
