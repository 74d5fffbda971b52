/** `tinykv ctl store|region|health|config`: the cluster as the scheduler sees it, pd-ctl's verbs. */
import type { Command } from 'commander';
import { UsageError } from '../output.js';
import { message, verb, wholeArg } from './args.js';
import { configTable, healthTable, regionsTable, storesTable, type ApiMember, type ApiRegion, type ApiStore } from './tables.js';

const REGION_CHECKS = ['miss-peer', 'extra-peer', 'down-peer', 'pending-peer'] as const;

export function registerStoreVerbs(ctl: Command, print: (text: string) => void): void {
  const store = ctl.command('store').description('stores: list, show ID, delete ID');
  verb(
    store,
    'list',
    'every store',
    async (client) => {
      const json = (await client.get('/stores')) as { stores: ApiStore[] };
      return { json, table: storesTable(json.stores) };
    },
    print,
    { isDefault: true },
  );
  verb(
    store,
    'show <id>',
    'one store',
    async (client, [id = '']) => {
      const json = (await client.get(`/store/${wholeArg('store id', id)}`)) as ApiStore;
      return { json, table: storesTable([json]) };
    },
    print,
  );
  verb(
    store,
    'delete <id>',
    'set a store Offline: its replicas move away, then it becomes a Tombstone',
    async (client, [id = '']) => message(await client.delete(`/store/${wholeArg('store id', id)}`)),
    print,
  );
}

export function registerRegionVerbs(ctl: Command, print: (text: string) => void): void {
  const region = ctl.command('region').description('regions: list, show ID, key KEY, check TYPE');
  const regions = (json: unknown) => ({ json, table: regionsTable((json as { regions: ApiRegion[] }).regions) });
  verb(region, 'list', 'every region', async (client) => regions(await client.get('/regions')), print, { isDefault: true });
  verb(
    region,
    'show <id>',
    'one region',
    async (client, [id = '']) => {
      const json = await client.get(`/region/id/${wholeArg('region id', id)}`);
      return { json, table: regionsTable([json as ApiRegion]) };
    },
    print,
  );
  verb(
    region,
    'key <key>',
    'the region holding a key (given as text)',
    async (client, [key = '']) => {
      const json = await client.get(`/region/key/${encodeURIComponent(key)}`);
      return { json, table: regionsTable([json as ApiRegion]) };
    },
    print,
  );
  verb(
    region,
    'check <type>',
    `regions with a problem: ${REGION_CHECKS.join(', ')}`,
    async (client, [type = '']) => {
      if (!(REGION_CHECKS as readonly string[]).includes(type))
        throw new UsageError(`region check must be one of ${REGION_CHECKS.join(', ')}, got "${type}"`);
      return regions(await client.get(`/regions/check/${type}`));
    },
    print,
  );
}

export function registerHealthAndConfigVerbs(ctl: Command, print: (text: string) => void): void {
  verb(
    ctl,
    'health',
    'is the scheduler up',
    async (client) => {
      const json = (await client.get('/health')) as ApiMember[];
      return { json, table: healthTable(json) };
    },
    print,
  );
  const config = ctl.command('config').description('scheduling config: show, set KEY VALUE');
  verb(
    config,
    'show',
    'the config (PD keys)',
    async (client) => {
      const json = (await client.get('/config')) as Record<string, unknown>;
      return { json, table: configTable(json) };
    },
    print,
    { isDefault: true },
  );
  verb(
    config,
    'set <key> <value>',
    'change one key, e.g. leader-schedule-limit 8, max-store-down-time 30m',
    async (client, [key = '', value = '']) => {
      // Numbers go as numbers, durations as the Go duration text typed.
      const json = (await client.post('/config', { [key]: /^\d{1,15}$/.test(value) ? Number(value) : value })) as Record<string, unknown>;
      return { json, table: configTable(json) };
    },
    print,
  );
}
