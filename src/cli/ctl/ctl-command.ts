/**
 * `tinykv ctl`: `raw get|put|delete|scan` (the Raw API from the shell, to one node or routed through
 * the scheduler) and pd-ctl's verbs on the scheduler's admin API (store, region, operator,
 * scheduler, config, health).
 */
import { Command, Option } from 'commander';
import { connect, type TinyKvClient } from '../../client/client.js';
import { BYTE_ENCODINGS, decodeArg, encodeBytes, renderTable, UsageError, type ByteEncoding, type OutputFormat } from '../output.js';
import { positiveInt } from './args.js';
import { registerOperatorVerbs, registerSchedulerVerbs } from './operator-verbs.js';
import { registerHealthAndConfigVerbs, registerRegionVerbs, registerStoreVerbs } from './store-region-verbs.js';

const DEFAULT_NODE = '127.0.0.1:20160';

interface CommonOptions {
  addr?: string;
  scheduler?: string;
  cf: string;
  output: OutputFormat;
  encoding: ByteEncoding;
  timeoutMs: number;
}

function withCommon(command: Command): Command {
  return command
    .option('--addr <host:port>', `one node to ask, without routing (default ${DEFAULT_NODE})`)
    .option('--scheduler <host:port>', 'route each key to its region leader through the cluster client and this scheduler')
    .option('--cf <name>', 'column family: default, lock or write', 'default')
    .addOption(new Option('--output <format>', 'output format').choices(['table', 'json']).default('table'))
    .addOption(new Option('--encoding <encoding>', 'how keys and values are written and printed').choices(BYTE_ENCODINGS).default('utf8'))
    .option('--timeout-ms <ms>', 'per-call deadline in milliseconds', positiveInt('--timeout-ms'), 10_000);
}

/**
 * Runs `run` against the node at `--addr` alone (no scheduler, so any node works, standalone or a
 * cluster store) and without retries: ctl shows what that node answers, region errors included.
 * With `--scheduler` it runs through the cluster client instead, which finds each key's region
 * leader and retries region errors as any client does.
 */
async function withClient<T>(options: CommonOptions, run: (client: TinyKvClient) => Promise<T>): Promise<T> {
  if (options.addr !== undefined && options.scheduler !== undefined) throw new UsageError('give --addr or --scheduler, not both');
  const client = await (options.scheduler !== undefined
    ? connect({ scheduler: options.scheduler, requestTimeoutMs: options.timeoutMs })
    : connect({ node: options.addr ?? DEFAULT_NODE, requestTimeoutMs: options.timeoutMs, maxRetries: 0 }));
  try {
    return await run(client);
  } finally {
    await client.close();
  }
}

export function registerCtlCommand(program: Command, print: (text: string) => void): void {
  const ctl = program.command('ctl').description('talk to a running node or cluster');
  registerStoreVerbs(ctl, print);
  registerRegionVerbs(ctl, print);
  registerOperatorVerbs(ctl, print);
  registerSchedulerVerbs(ctl, print);
  registerHealthAndConfigVerbs(ctl, print);
  const raw = ctl.command('raw').description('Raw API: get, put, delete, scan');

  withCommon(raw.command('get').argument('<key>').description('read one key')).action(async (key: string, options: CommonOptions) => {
    const value = await withClient(options, (c) => c.get(decodeArg(key, options.encoding), { cf: options.cf }));
    if (options.output === 'json') {
      print(JSON.stringify({ key, found: value !== undefined, value: value === undefined ? null : encodeBytes(value, options.encoding) }));
    } else {
      print(value === undefined ? '(not found)' : encodeBytes(value, options.encoding));
    }
    if (value === undefined) process.exitCode = 1;
  });

  withCommon(raw.command('put').argument('<key>').argument('<value>').description('write one key')).action(
    async (key: string, value: string, options: CommonOptions) => {
      await withClient(options, (c) => c.put(decodeArg(key, options.encoding), decodeArg(value, options.encoding), { cf: options.cf }));
      print(options.output === 'json' ? JSON.stringify({ key, ok: true }) : 'OK');
    },
  );

  withCommon(raw.command('delete').argument('<key>').description('delete one key')).action(async (key: string, options: CommonOptions) => {
    await withClient(options, (c) => c.delete(decodeArg(key, options.encoding), { cf: options.cf }));
    print(options.output === 'json' ? JSON.stringify({ key, ok: true }) : 'OK');
  });

  withCommon(raw.command('scan').argument('[start]', 'first key (inclusive)', '').description('list keys from start in byte order'))
    .option('--limit <n>', 'at most this many pairs', positiveInt('--limit'), 100)
    .action(async (start: string, options: CommonOptions & { limit: number }) => {
      const pairs = await withClient(options, (c) => c.scan(decodeArg(start, options.encoding), undefined, options.limit, { cf: options.cf }));
      const rows = pairs.map((p) => [encodeBytes(p.key, options.encoding), encodeBytes(p.value, options.encoding)]);
      if (options.output === 'json') print(JSON.stringify(rows.map(([key, value]) => ({ key, value }))));
      else print(renderTable(['KEY', 'VALUE'], rows) + `\n(${rows.length} pairs)`);
    });
}
