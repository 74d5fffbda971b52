import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { CLUSTER_CONSOLE_HELP, startClusterConsole, type ClusterConsoleActions } from '../../src/cli/cluster-console.js';
import { Region, Store, StoreState, Peer } from '../../src/proto/metapb.js';
import { waitUntil } from '../cluster/harness.js';

function region(id: number, storeIds: number[], leaderStore: number | undefined) {
  const peers = storeIds.map((storeId) => Peer.fromPartial({ id: id * 10 + storeId, storeId }));
  return {
    region: Region.fromPartial({ id, peers }),
    leader: leaderStore === undefined ? undefined : peers.find((p) => p.storeId === leaderStore),
  };
}

function fakeCluster() {
  const stopped: number[] = [];
  let added = 0;
  const actions: ClusterConsoleActions = {
    addStore: () => Promise.resolve(`store ${4 + added++}  127.0.0.1:20163  data/store-4`),
    stopStore: (id) => {
      if (id !== 2) return Promise.resolve(false);
      stopped.push(id);
      return Promise.resolve(true);
    },
    stores: () =>
      Promise.resolve([
        Store.fromPartial({ id: 2, address: '127.0.0.1:20161', state: StoreState.Offline }),
        Store.fromPartial({ id: 1, address: '127.0.0.1:20160', state: StoreState.Up }),
        Store.fromPartial({ id: 3, address: '127.0.0.1:20162', state: StoreState.Tombstone }),
      ]),
    regions: () => Promise.resolve([region(10, [1, 2], 1), region(11, [1, 2], 2), region(12, [1], 1), region(13, [1, 2], undefined)]),
  };
  return { actions, stopped };
}

describe('tinykv cluster console', () => {
  it('answers help, add, stop, stores and leaders in the order typed', async () => {
    const input = new PassThrough();
    const out: string[] = [];
    const { actions, stopped } = fakeCluster();
    const commands = startClusterConsole(input, actions, (text) => out.push(text));
    input.write('help\nadd\nstop 2\nstop 9\nstop x\n\nstores\nleaders\nfrobnicate\n');
    await waitUntil(() => out.length === 8, 5_000);
    commands.close();
    expect(out[0]).toBe(CLUSTER_CONSOLE_HELP);
    expect(out[1]).toBe('store 4  127.0.0.1:20163  data/store-4');
    expect(out.slice(2, 5)).toEqual(['store 2 stopping', 'no running store 9', 'usage: stop ID']);
    expect(stopped).toEqual([2]);
    expect(out[5]?.split('\n')).toEqual([
      'store  address          state      regions  leaders',
      '-----  ---------------  ---------  -------  -------',
      '1      127.0.0.1:20160  Up         4        2',
      '2      127.0.0.1:20161  Offline    3        1',
      '3      127.0.0.1:20162  Tombstone  0        0',
    ]);
    expect(out[6]?.split('\n')).toEqual([
      'store  leaders  region ids',
      '-----  -------  ----------',
      '1      2        10,12',
      '2      1        11',
      '-      1        13',
    ]);
    expect(out[7]).toBe('unknown command "frobnicate"; type help');
  });

  it('reports a failed action as an error line and keeps reading', async () => {
    const input = new PassThrough();
    const out: string[] = [];
    const { actions } = fakeCluster();
    const commands = startClusterConsole(input, { ...actions, addStore: () => Promise.reject(new Error('port in use')) }, (text) => out.push(text));
    input.write('add\nstop 2\n');
    await waitUntil(() => out.length === 2, 5_000);
    commands.close();
    expect(out).toEqual(['error: port in use', 'store 2 stopping']);
  });
});
