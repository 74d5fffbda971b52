/**
 * The commands `tinykv cluster` reads from its standard input while it runs, one per line:
 * grow the cluster by a store, stop a store, and see which store holds what (from the scheduler).
 * Shrinking the cluster for good is the scheduler's job: `tinykv ctl store delete ID` sets the
 * store Offline, its replicas move away, and once it is a Tombstone the store process stops by
 * itself (it is refused by the scheduler from then on).
 */
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { StoreState } from '../proto/metapb.js';
import type { RegionLookup } from '../client/scheduler-client.js';
import type { Store } from '../proto/metapb.js';
import { renderTable } from './output.js';

/** What the console can ask of the running cluster. */
export interface ClusterConsoleActions {
  /** Starts one more store process; resolves with its label line (id, address, data dir). */
  addStore(): Promise<string>;
  /** Stops the process of a store (SIGTERM); false when no running process has that id. */
  stopStore(storeId: number): Promise<boolean>;
  /** Every store the scheduler knows. */
  stores(): Promise<Store[]>;
  /** Every region with its leader, from the scheduler. */
  regions(): Promise<RegionLookup[]>;
}

export const CLUSTER_CONSOLE_HELP = [
  'commands (one per line on standard input):',
  '  stores     every store the scheduler knows: id, address, state, regions, leaders',
  '  leaders    which store leads which regions',
  '  add        start one more store process (the scheduler moves regions to it)',
  '  stop ID    stop the process of store ID (to remove it for good: tinykv ctl store delete ID)',
  '  help       this list',
].join('\n');

/** Reads commands from `input` until it ends or close() is called; answers go to `print`. */
export function startClusterConsole(input: Readable, actions: ClusterConsoleActions, print: (text: string) => void): { close(): void } {
  // terminal: false keeps the terminal in its normal mode, so Ctrl-C still signals the process group.
  const lines = createInterface({ input, terminal: false });
  let queue = Promise.resolve();
  lines.on('line', (line) => {
    // One command at a time, in the order typed.
    queue = queue.then(() => runCommand(line.trim(), actions, print).catch((err: unknown) => print(`error: ${(err as Error).message}`)));
  });
  return { close: () => lines.close() };
}

async function runCommand(line: string, actions: ClusterConsoleActions, print: (text: string) => void): Promise<void> {
  const [verb, ...args] = line.split(/\s+/);
  switch (verb) {
    case '':
      return;
    case 'help':
      return print(CLUSTER_CONSOLE_HELP);
    case 'add':
      return print(await actions.addStore());
    case 'stop': {
      const storeId = Number(args[0]);
      if (!Number.isSafeInteger(storeId) || storeId <= 0) return print('usage: stop ID');
      return print((await actions.stopStore(storeId)) ? `store ${storeId} stopping` : `no running store ${storeId}`);
    }
    case 'stores':
      return print(storesTable(await actions.stores(), await actions.regions()));
    case 'leaders':
      return print(leadersTable(await actions.regions()));
    default:
      return print(`unknown command "${verb}"; type help`);
  }
}

/** Per store: regions with a peer there and regions led there. */
function countByStore(regions: readonly RegionLookup[]): Map<number, { peers: number; leaders: number[] }> {
  const counts = new Map<number, { peers: number; leaders: number[] }>();
  const of = (storeId: number) => {
    let entry = counts.get(storeId);
    if (!entry) counts.set(storeId, (entry = { peers: 0, leaders: [] }));
    return entry;
  };
  for (const { region, leader } of regions) {
    for (const peer of region.peers) of(peer.storeId).peers++;
    if (leader && leader.storeId > 0) of(leader.storeId).leaders.push(region.id);
  }
  return counts;
}

export function storesTable(stores: readonly Store[], regions: readonly RegionLookup[]): string {
  const counts = countByStore(regions);
  const rows = [...stores]
    .sort((a, b) => a.id - b.id)
    .map((s) => {
      const c = counts.get(s.id);
      return [String(s.id), s.address, StoreState[s.state] ?? String(s.state), String(c?.peers ?? 0), String(c?.leaders.length ?? 0)];
    });
  return renderTable(['store', 'address', 'state', 'regions', 'leaders'], rows);
}

export function leadersTable(regions: readonly RegionLookup[]): string {
  const counts = countByStore(regions);
  const leaderless = regions.filter((r) => !r.leader || r.leader.storeId === 0).map((r) => r.region.id);
  const rows = [...counts.entries()]
    .filter(([, c]) => c.leaders.length > 0)
    .sort(([a], [b]) => a - b)
    .map(([storeId, c]) => [String(storeId), String(c.leaders.length), c.leaders.sort((a, b) => a - b).join(',')]);
  if (leaderless.length > 0) rows.push(['-', String(leaderless.length), leaderless.join(',')]);
  return renderTable(['store', 'leaders', 'region ids'], rows);
}
