/**
 * The live ScheduleConfig and scheduler list, persisted so a restart keeps what an operator set
 * (store.ts keys `scheduler/config/schedule` and `scheduler/config/schedulers`, both JSON). Reads
 * are from memory; every change is validated, applied in memory and resolves once durable.
 */
import { SchedulerStore, ops } from '../store.js';
import { invalidArgument } from '../errors.js';
import { DEFAULT_SCHEDULE_CONFIG, DEFAULT_SCHEDULERS, type ScheduleConfig, type SchedulerEntry } from './schedule-config.js';

/** Below this a store missing a couple of heartbeats would already count as down. */
export const MIN_MAX_STORE_DOWN_TIME_MS = 1_000;

const CONFIG_MINIMUMS: { readonly [K in keyof ScheduleConfig]: number } = {
  maxReplicas: 1, // PD allows any count >= 1 (even counts are legal, just not useful)
  maxStoreDownTimeMs: MIN_MAX_STORE_DOWN_TIME_MS,
  leaderScheduleLimit: 0,
  regionScheduleLimit: 0,
  replicaScheduleLimit: 0,
  patrolRegionIntervalMs: 1,
};

const CONFIG_KEYS = Object.keys(CONFIG_MINIMUMS) as (keyof ScheduleConfig)[];

/**
 * `base` with the fields of `patch` applied; InvalidArgument for an unknown field or a value that
 * is not a whole number at or above its minimum. `ignoreUnknown` is for persisted JSON, which a
 * newer version may have written with more fields.
 */
export function applyConfigPatch(base: ScheduleConfig, patch: unknown, ignoreUnknown = false): ScheduleConfig {
  if (typeof patch !== 'object' || patch === null || Array.isArray(patch)) throw invalidArgument('schedule config must be an object');
  const next: Record<string, number> = { ...base };
  for (const [field, value] of Object.entries(patch)) {
    if (!(CONFIG_KEYS as string[]).includes(field)) {
      if (ignoreUnknown) continue;
      throw invalidArgument(`unknown schedule config field ${field}`, { field });
    }
    const min = CONFIG_MINIMUMS[field as keyof ScheduleConfig];
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min) {
      throw invalidArgument(`schedule config ${field} must be a whole number >= ${min}, got ${JSON.stringify(value)}`, { field });
    }
    next[field] = value;
  }
  return next as unknown as ScheduleConfig;
}

function parseSchedulers(value: unknown): SchedulerEntry[] {
  if (!Array.isArray(value)) throw new Error('persisted scheduler list is not an array');
  const out: SchedulerEntry[] = [];
  for (const entry of value as unknown[]) {
    const { name, pausedUntilMs } = (entry ?? {}) as { name?: unknown; pausedUntilMs?: unknown };
    if (typeof name !== 'string' || typeof pausedUntilMs !== 'number' || !Number.isSafeInteger(pausedUntilMs) || pausedUntilMs < 0) {
      throw new Error(`persisted scheduler entry ${JSON.stringify(entry)} is damaged`);
    }
    if (!out.some((e) => e.name === name)) out.push({ name, pausedUntilMs });
  }
  return out;
}

export interface ScheduleConfigOverrides {
  /** `--max-store-down-time`: replaces the persisted value and is persisted. */
  readonly maxStoreDownTimeMs?: number;
}

export class ScheduleConfigStore {
  private constructor(
    private readonly store: SchedulerStore,
    private current: ScheduleConfig,
    private entries: readonly SchedulerEntry[],
  ) {}

  /** Loads what was persisted (defaults when absent), applies start-time overrides and persists them. */
  static async open(store: SchedulerStore, overrides: ScheduleConfigOverrides = {}): Promise<ScheduleConfigStore> {
    const persisted = store.loadScheduleConfigJson();
    let config = persisted === undefined ? DEFAULT_SCHEDULE_CONFIG : applyConfigPatch(DEFAULT_SCHEDULE_CONFIG, persisted, true);
    const schedulersJson = store.loadSchedulersJson();
    const entries = schedulersJson === undefined ? DEFAULT_SCHEDULERS.map((name) => ({ name, pausedUntilMs: 0 })) : parseSchedulers(schedulersJson);
    const configStore = new ScheduleConfigStore(store, config, entries);
    if (overrides.maxStoreDownTimeMs !== undefined && overrides.maxStoreDownTimeMs !== config.maxStoreDownTimeMs) {
      config = applyConfigPatch(config, { maxStoreDownTimeMs: overrides.maxStoreDownTimeMs });
      await configStore.setConfig(config);
    }
    return configStore;
  }

  config(): ScheduleConfig {
    return this.current;
  }

  /** Validates and applies `patch`; resolves with the new config once it is durable. */
  async setConfig(patch: Partial<ScheduleConfig>): Promise<ScheduleConfig> {
    const next = applyConfigPatch(this.current, patch);
    this.current = next;
    await this.store.write([ops.putScheduleConfig(next)]);
    return next;
  }

  schedulers(): SchedulerEntry[] {
    return [...this.entries];
  }

  getScheduler(name: string): SchedulerEntry | undefined {
    return this.entries.find((e) => e.name === name);
  }

  /** Adds or replaces the entry with the same name. */
  putScheduler(entry: SchedulerEntry): Promise<void> {
    const index = this.entries.findIndex((e) => e.name === entry.name);
    this.entries = index === -1 ? [...this.entries, entry] : this.entries.map((e, i) => (i === index ? entry : e));
    return this.store.write([ops.putSchedulers(this.entries)]);
  }

  removeScheduler(name: string): Promise<void> {
    this.entries = this.entries.filter((e) => e.name !== name);
    return this.store.write([ops.putSchedulers(this.entries)]);
  }
}
