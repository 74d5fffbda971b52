/**
 * Request bodies of the admin API (PD's shapes) as domain values. Everything here is client input:
 * each field is checked for type and range, and a refusal names the field (InvalidArgument, 400).
 */
import { quoteForError } from '../../util/errors.js';
import { invalidArgument } from '../errors.js';
import type { OperatorRequest } from '../admin.js';
import type { ScheduleConfig } from '../schedule/schedule-config.js';
import { parseGoDurationMs } from './go-format.js';
import { HttpError, HttpErrorCode } from './errors.js';

type Json = Record<string, unknown>;

/** Most split keys one request may name. */
export const MAX_SPLIT_KEYS = 1_000;

export function asObject(body: unknown): Json {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new HttpError(400, HttpErrorCode.MalformedJson, 'the request body must be a JSON object');
  }
  return body as Json;
}

/** A whole number >= min (ids >= 1); PD's JSON numbers arrive as float64, so 3.0 is 3 but 3.5 is refused. */
export function wholeNumber(value: unknown, field: string, min = 1): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min) {
    throw invalidArgument(`"${field}" must be a whole number >= ${min}, got ${quoteForError(JSON.stringify(value) ?? 'nothing')}`);
  }
  return value;
}

/** An id given in the path, e.g. /store/{id}. */
export function pathId(text: string, what: string): number {
  const value = /^\d{1,16}$/.test(text) ? Number(text) : Number.NaN;
  if (!Number.isSafeInteger(value) || value < 1) throw invalidArgument(`${what} must be a positive integer, got ${quoteForError(text)}`);
  return value;
}

function hexKeys(value: unknown): Buffer[] {
  if (value === undefined) return [];
  if (!Array.isArray(value) || value.length > MAX_SPLIT_KEYS)
    throw invalidArgument(`"keys" must be an array of at most ${MAX_SPLIT_KEYS} hex strings`);
  return value.map((key: unknown) => {
    if (typeof key !== 'string' || key.length === 0 || !/^(?:[0-9a-fA-F]{2})+$/.test(key)) {
      throw invalidArgument(`"keys" holds ${quoteForError(JSON.stringify(key) ?? 'nothing')}, not a non-empty hex string`);
    }
    return Buffer.from(key, 'hex');
  });
}

/** POST /operators: PD's bodies by "name". */
export function operatorRequest(body: unknown): OperatorRequest {
  const json = asObject(body);
  const regionId = wholeNumber(json.region_id, 'region_id');
  switch (json.name) {
    case 'add-peer':
    case 'remove-peer':
      return { name: json.name, regionId, storeId: wholeNumber(json.store_id, 'store_id') };
    case 'transfer-leader':
      return { name: 'transfer-leader', regionId, toStoreId: wholeNumber(json.to_store_id, 'to_store_id') };
    case 'transfer-region': {
      const ids = json.to_store_ids;
      if (!Array.isArray(ids) || ids.length === 0 || ids.length > 16) throw invalidArgument('"to_store_ids" must be an array of 1..16 store ids');
      return { name: 'transfer-region', regionId, toStoreIds: ids.map((id: unknown) => wholeNumber(id, 'to_store_ids')) };
    }
    case 'split-region':
      return { name: 'split-region', regionId, keys: splitKeys(json) };
    default:
      throw invalidArgument(`unknown operator name ${quoteForError(JSON.stringify(json.name) ?? 'nothing')}`);
  }
}

/**
 * PD's split policies: `approximate` and `scan` let the store pick the middle (no keys), `usekey`
 * splits at the given hex keys. Keys without a policy mean `usekey`.
 */
function splitKeys(json: Json): Buffer[] {
  const keys = hexKeys(json.keys);
  const policy = json.policy ?? (keys.length > 0 ? 'usekey' : 'approximate');
  if (policy === 'approximate' || policy === 'scan') {
    if (keys.length > 0) throw invalidArgument(`split policy "${policy}" takes no keys`);
    return [];
  }
  if (policy === 'usekey') {
    if (keys.length === 0) throw invalidArgument('split policy "usekey" needs "keys"');
    return keys;
  }
  throw invalidArgument(`unknown split policy ${quoteForError(JSON.stringify(policy) ?? 'nothing')}`);
}

/** POST /schedulers: {"name": "..."}. */
export function schedulerName(body: unknown): string {
  const name = asObject(body).name;
  if (typeof name !== 'string' || name.length === 0 || name.length > 128) throw invalidArgument('"name" must be a scheduler name');
  return name;
}

/** POST /schedulers/{name}: {"delay": seconds}, 0 resumes. */
export function pauseDelaySeconds(body: unknown): number {
  return wholeNumber(asObject(body).delay, 'delay', 0);
}

type ConfigKey = keyof ScheduleConfig;

/** PD's hyphenated config keys; durations are Go duration strings, the rest whole numbers. */
const CONFIG_KEYS: Readonly<Record<string, { readonly field: ConfigKey; readonly duration: boolean }>> = {
  'max-replicas': { field: 'maxReplicas', duration: false },
  'max-store-down-time': { field: 'maxStoreDownTimeMs', duration: true },
  'leader-schedule-limit': { field: 'leaderScheduleLimit', duration: false },
  'region-schedule-limit': { field: 'regionScheduleLimit', duration: false },
  'replica-schedule-limit': { field: 'replicaScheduleLimit', duration: false },
  'patrol-region-interval': { field: 'patrolRegionIntervalMs', duration: true },
};

export const CONFIG_KEY_NAMES: readonly string[] = Object.keys(CONFIG_KEYS);

/** POST /config: a patch of PD's keys; a number may come as a numeric string (pd-ctl sends what the user typed). */
export function configPatch(body: unknown): Partial<ScheduleConfig> {
  const patch: Partial<Record<ConfigKey, number>> = {};
  const entries = Object.entries(asObject(body));
  if (entries.length === 0) throw invalidArgument('the config patch is empty');
  for (const [key, value] of entries) {
    const spec = Object.hasOwn(CONFIG_KEYS, key) ? CONFIG_KEYS[key] : undefined;
    if (!spec) throw invalidArgument(`unknown config key ${quoteForError(key)} (known: ${CONFIG_KEY_NAMES.join(', ')})`);
    patch[spec.field] = spec.duration ? durationValue(value, key) : numberValue(value, key);
  }
  return patch;
}

function durationValue(value: unknown, key: string): number {
  const ms = typeof value === 'string' ? parseGoDurationMs(value) : undefined;
  if (ms === undefined)
    throw invalidArgument(`"${key}" must be a duration such as "30m" or "100ms", got ${quoteForError(JSON.stringify(value) ?? 'nothing')}`);
  return ms;
}

function numberValue(value: unknown, key: string): number {
  const number = typeof value === 'string' && /^\d{1,16}$/.test(value) ? Number(value) : value;
  return wholeNumber(number, key, 0);
}
