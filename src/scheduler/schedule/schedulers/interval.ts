/**
 * How often a scheduler runs (PD's GetMinInterval / GetNextInterval): right after it produced an
 * operator at the minimum, so a backlog drains fast; each idle run waits 1.3 times longer, up to a
 * ceiling, so an idle balanced cluster costs little.
 */

export const MIN_SCHEDULE_INTERVAL_MS = 10;
export const MAX_SCHEDULE_INTERVAL_MS = 5_000;
const INTERVAL_GROWTH = 1.3;

export function nextScheduleIntervalMs(previousMs: number): number {
  return Math.min(Math.max(previousMs, MIN_SCHEDULE_INTERVAL_MS) * INTERVAL_GROWTH, MAX_SCHEDULE_INTERVAL_MS);
}
