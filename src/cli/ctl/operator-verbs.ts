/** `tinykv ctl operator|scheduler`: what the scheduler is doing and what it should do, pd-ctl's verbs. */
import { Option, type Command } from 'commander';
import { BYTE_ENCODINGS, decodeArg, type ByteEncoding } from '../output.js';
import { message, verb, wholeArg, type Shown } from './args.js';
import type { PdHttpClient } from './pd-http-client.js';
import { operatorsTable, schedulersTable, type ApiOperator } from './tables.js';

function operators(json: unknown): Shown {
  return { json, table: operatorsTable(Array.isArray(json) ? (json as ApiOperator[]) : [json as ApiOperator]) };
}

async function addOperator(client: PdHttpClient, body: Record<string, unknown>): Promise<Shown> {
  return operators(await client.post('/operators', body));
}

export function registerOperatorVerbs(ctl: Command, print: (text: string) => void): void {
  const operator = ctl.command('operator').description('operators: show [REGION], add KIND ..., remove REGION');
  verb(
    operator,
    'show [region]',
    'running operators, or the latest of one region',
    async (client, [region]) => operators(await client.get(region === undefined ? '/operators' : `/operators/${wholeArg('region id', region)}`)),
    print,
    { isDefault: true },
  );
  verb(
    operator,
    'remove <region>',
    "cancel a region's running operator",
    async (c, [r = '']) => message(await c.delete(`/operators/${wholeArg('region id', r)}`)),
    print,
  );
  const add = operator.command('add').description('add an operator: add-peer, remove-peer, transfer-leader, transfer-region, split-region');
  const regionAndStore =
    (name: string, storeField: string) =>
    async (client: PdHttpClient, [region = '', store = '']: readonly string[]) =>
      addOperator(client, { name, region_id: wholeArg('region id', region), [storeField]: wholeArg('store id', store) });
  verb(add, 'add-peer <region> <store>', 'add a peer of the region on the store', regionAndStore('add-peer', 'store_id'), print);
  verb(add, 'remove-peer <region> <store>', "remove the region's peer on the store", regionAndStore('remove-peer', 'store_id'), print);
  verb(
    add,
    'transfer-leader <region> <store>',
    "move the region's leader to its peer on the store",
    regionAndStore('transfer-leader', 'to_store_id'),
    print,
  );
  verb(
    add,
    'transfer-region <region> <stores...>',
    "move the region's peers to exactly these stores",
    async (client, [region = '', ...stores]) =>
      addOperator(client, {
        name: 'transfer-region',
        region_id: wholeArg('region id', region),
        to_store_ids: stores.map((s) => wholeArg('store id', s)),
      }),
    print,
  );
  verb(
    add,
    'split-region <region> [key]',
    'split the region at its middle (--policy), or at KEY',
    async (client, [region = '', key], options) => {
      const regionId = wholeArg('region id', region);
      const encoding = options.encoding as ByteEncoding;
      const body =
        key === undefined
          ? { name: 'split-region', region_id: regionId, policy: options.policy }
          : { name: 'split-region', region_id: regionId, policy: 'usekey', keys: [decodeArg(key, encoding).toString('hex')] };
      return addOperator(client, body);
    },
    print,
    {
      options: (command) =>
        command
          .addOption(
            new Option('--policy <policy>', 'how the store finds the middle when no KEY is given')
              .choices(['approximate', 'scan'])
              .default('approximate'),
          )
          .addOption(new Option('--encoding <encoding>', 'how KEY is written').choices(BYTE_ENCODINGS).default('utf8')),
    },
  );
}

export function registerSchedulerVerbs(ctl: Command, print: (text: string) => void): void {
  const scheduler = ctl.command('scheduler').description('schedulers: show, add NAME, remove NAME, pause NAME SECONDS, resume NAME');
  verb(
    scheduler,
    'show',
    'configured schedulers and whether they are paused',
    async (client) => {
      const json = (await client.get('/schedulers')) as string[];
      const paused = new Set((await client.get('/schedulers?status=paused')) as string[]);
      return { json, table: schedulersTable(json, paused) };
    },
    print,
    { isDefault: true },
  );
  const path = (name: string) => `/schedulers/${encodeURIComponent(name)}`;
  verb(
    scheduler,
    'add <name>',
    'run a scheduler, e.g. balance-region-scheduler',
    async (c, [name]) => message(await c.post('/schedulers', { name })),
    print,
  );
  verb(scheduler, 'remove <name>', 'stop and drop a scheduler', async (c, [name = '']) => message(await c.delete(path(name))), print);
  verb(
    scheduler,
    'pause <name> <seconds>',
    'pause a scheduler for a while',
    async (c, [name = '', seconds = '']) => message(await c.post(path(name), { delay: wholeArg('seconds', seconds) })),
    print,
  );
  verb(scheduler, 'resume <name>', 'resume a paused scheduler', async (c, [name = '']) => message(await c.post(path(name), { delay: 0 })), print);
}
