// `tinykv ctl` on a cluster, in-process through the CLI's programmatic entry (run): pd-ctl's verbs
// against the admin HTTP API over a fake SchedulerAdmin (table and JSON output, exit codes, errors),
// and `ctl raw --scheduler` routing through the cluster client to an in-process cluster.
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { run } from '../../src/cli/main.js';
import { ManualClock } from '../../src/env/clock.js';
import { silentLogger } from '../../src/log/logger.js';
import { startAdminHttpServer, type AdminHttpServer } from '../../src/scheduler/http/admin-server.js';
import { adminBaseUrl, statusAddrOf } from '../../src/cli/ctl/target.js';
import { FakeAdmin, NOW_MS } from '../scheduler/fake-admin.js';
import { InProcessCluster } from '../cluster/harness.js';

interface Outcome {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

async function ctl(...args: string[]): Promise<Outcome> {
  const printed: string[] = [];
  const stderr: string[] = [];
  const spy = vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
    stderr.push(String(chunk));
    return true;
  });
  try {
    const code = await run(['ctl', ...args], (text) => printed.push(text));
    return { code, stdout: printed.join('\n'), stderr: stderr.join('') };
  } finally {
    spy.mockRestore();
  }
}

/** The table's rows (after the header and its rule), split on runs of two or more spaces. */
function rows(table: string): string[][] {
  return table
    .split('\n')
    .slice(2)
    .filter((line) => !line.startsWith('('))
    .map((line) => line.split(/ {2,}/));
}

describe('tinykv ctl against the admin API (fake admin)', () => {
  let admin: FakeAdmin;
  let server: AdminHttpServer;
  let pd: string[];

  beforeAll(async () => {
    const forward = new Proxy({} as FakeAdmin, {
      get: (_target, name) => {
        const value: unknown = Reflect.get(admin, name);
        return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(admin) : value;
      },
    });
    server = await startAdminHttpServer({ addr: '127.0.0.1:0', admin: forward, logger: silentLogger(), clock: new ManualClock(NOW_MS) });
    pd = ['--pd', `http://${server.addr}`];
  });
  afterAll(() => server.close());
  beforeEach(() => {
    admin = new FakeAdmin();
  });

  it('store list (the default), show and delete', async () => {
    const list = await ctl('store', ...pd);
    expect(list.code).toBe(0);
    expect(list.stdout.split('\n')[0]).toMatch(/^ID\s+ADDRESS\s+STATE\s+LEADERS\s+REGIONS\s+PENDING\s+CAPACITY\s+AVAILABLE\s+LAST HEARTBEAT$/);
    expect(rows(list.stdout).map((r) => r.slice(0, 5))).toEqual([
      ['1', '127.0.0.1:20161', 'Up', '2', '2'],
      ['2', '127.0.0.1:20162', 'Down', '0', '2'],
      ['3', '127.0.0.1:20163', 'Offline', '0', '2'],
      ['4', '127.0.0.1:20164', 'Tombstone', '0', '2'],
    ]);
    expect(rows(list.stdout)[0]?.slice(5)).toEqual(['0', '100GiB', '60.5GiB', new Date(NOW_MS - 1_000).toISOString()]);
    expect(rows((await ctl('store', 'list', ...pd)).stdout)).toHaveLength(4);
    const json = JSON.parse((await ctl('store', 'list', '--output', 'json', ...pd)).stdout) as { count: number; stores: unknown[] };
    expect(json.count).toBe(4);
    expect(json.stores[0]).toMatchObject({ store: { id: 1, state_name: 'Up' }, status: { capacity: '100GiB', leader_count: 2 } });

    expect(rows((await ctl('store', 'show', '3', ...pd)).stdout)).toEqual([
      [...'3 127.0.0.1:20163 Offline 0 2 1 100GiB 60.5GiB'.split(' '), new Date(NOW_MS - 1_000).toISOString()],
    ]);
    expect(JSON.parse((await ctl('store', 'show', '3', '--output', 'json', ...pd)).stdout)).toMatchObject({ store: { id: 3 } });

    expect(await ctl('store', 'delete', '2', ...pd)).toMatchObject({ code: 0, stdout: 'The store is set as Offline.' });
    expect(admin.calls).toContainEqual(['deleteStore', 2]);
    expect(await ctl('store', 'delete', '2', '--output', 'json', ...pd)).toMatchObject({ code: 0, stdout: '"The store is set as Offline."' });
  });

  it('region list, show, key and check', async () => {
    const list = await ctl('region', ...pd);
    expect(list.code).toBe(0);
    expect(list.stdout.split('\n')[0]).toMatch(
      /^ID\s+START KEY\s+END KEY\s+CONF\/VER\s+PEERS \(leader \*\)\s+LEADER STORE\s+PENDING\s+DOWN\s+SIZE MiB\s+KEYS$/,
    );
    expect(rows(list.stdout)).toEqual([
      ['2', '-', '6D', '3/2', '3@1*,4@2,5@3', '1', '5', '-', '100', '1000'],
      ['6', '6D', '-', '3/6', '7@1*,8@2', '1', '-', '8(2400s)', '1', '1000'],
    ]);
    expect(list.stdout).toContain('(2 regions; keys in hex, "-" is unbounded)');
    const json = JSON.parse((await ctl('region', 'list', '--output', 'json', ...pd)).stdout) as { count: number; regions: Array<{ id: number }> };
    expect(json.regions.map((r) => r.id)).toEqual([2, 6]);
    expect(rows((await ctl('region', 'show', '6', ...pd)).stdout).map((r) => r[0])).toEqual(['6']);
    expect(JSON.parse((await ctl('region', 'show', '6', '--output', 'json', ...pd)).stdout)).toMatchObject({ id: 6, start_key: '6D' });
    expect(rows((await ctl('region', 'key', 'a/b c', ...pd)).stdout).map((r) => r[0])).toEqual(['2']);
    expect(admin.calls).toContainEqual(['regionByKey', 'a/b c']);
    expect(JSON.parse((await ctl('region', 'key', 'zebra', '--output', 'json', ...pd)).stdout)).toMatchObject({ id: 6 });
    expect(rows((await ctl('region', 'check', 'miss-peer', ...pd)).stdout).map((r) => r[0])).toEqual(['6']);
    expect(rows((await ctl('region', 'check', 'pending-peer', ...pd)).stdout).map((r) => r[0])).toEqual(['2']);
    expect(JSON.parse((await ctl('region', 'check', 'down-peer', '--output', 'json', ...pd)).stdout)).toMatchObject({
      count: 1,
      regions: [{ id: 6 }],
    });
    expect((await ctl('region', 'check', 'odd-peer', ...pd)).code).toBe(2);
  });

  it('operator show, add (each kind), remove', async () => {
    const show = await ctl('operator', ...pd);
    expect(show.stdout.split('\n')[0]).toMatch(/^REGION\s+DESC\s+KIND\s+STATUS\s+STEP\s+STEPS\s+CREATED$/);
    expect(rows(show.stdout)).toEqual([
      ['2', 'admin-add-peer', 'admin,region', 'RUNNING', '1/1', 'add peer 9 on store 4', new Date(NOW_MS - 500).toISOString()],
    ]);
    expect(JSON.parse((await ctl('operator', 'show', '--output', 'json', ...pd)).stdout)).toMatchObject([{ region_id: 2, status: 'RUNNING' }]);
    expect(JSON.parse((await ctl('operator', 'show', '2', '--output', 'json', ...pd)).stdout)).toMatchObject({
      region_id: 2,
      steps: ['add peer 9 on store 4'],
    });

    expect(await ctl('operator', 'remove', '2', ...pd)).toMatchObject({ code: 0, stdout: 'The pending operator is canceled.' });
    expect(rows((await ctl('operator', 'show', '2', ...pd)).stdout)[0]?.[3]).toBe('CANCEL');

    const added: Array<[string[], unknown]> = [
      [['add-peer', '2', '4'], { name: 'add-peer', regionId: 2, storeId: 4 }],
      [['remove-peer', '2', '3'], { name: 'remove-peer', regionId: 2, storeId: 3 }],
      [['transfer-leader', '2', '2'], { name: 'transfer-leader', regionId: 2, toStoreId: 2 }],
      [['transfer-region', '2', '1', '2', '4'], { name: 'transfer-region', regionId: 2, toStoreIds: [1, 2, 4] }],
      [['split-region', '2'], { name: 'split-region', regionId: 2, keys: [] }],
      [['split-region', '2', '--policy', 'scan'], { name: 'split-region', regionId: 2, keys: [] }],
      [['split-region', '2', 'k'], { name: 'split-region', regionId: 2, keys: [Buffer.from('k')] }],
      [['split-region', '2', '6b6b', '--encoding', 'hex'], { name: 'split-region', regionId: 2, keys: [Buffer.from('kk')] }],
    ];
    for (const [args, request] of added) {
      admin.operatorViews = [];
      const outcome = await ctl('operator', 'add', ...args, ...pd);
      expect(outcome.code, `${args.join(' ')}: ${outcome.stderr}`).toBe(0);
      expect(rows(outcome.stdout)[0]?.slice(0, 2)).toEqual(['2', `admin-${args[0]}`]);
      expect(admin.calls.at(-1)).toEqual(['addOperator', request]);
    }
    const json = JSON.parse((await ctl('operator', 'add', 'transfer-leader', '6', '2', '--output', 'json', ...pd)).stdout);
    expect(json).toMatchObject({ region_id: 6, desc: 'admin-transfer-leader', steps: ['transfer leader from store 1 to store 2'] });
  });

  it('scheduler show, add, remove, pause, resume', async () => {
    const show = await ctl('scheduler', ...pd);
    expect(rows(show.stdout)).toEqual([
      ['balance-region-scheduler', 'running'],
      ['balance-leader-scheduler', 'paused'],
    ]);
    expect(JSON.parse((await ctl('scheduler', 'show', '--output', 'json', ...pd)).stdout)).toEqual([
      'balance-region-scheduler',
      'balance-leader-scheduler',
    ]);
    expect(await ctl('scheduler', 'remove', 'balance-leader-scheduler', ...pd)).toMatchObject({ code: 0, stdout: 'The scheduler is removed.' });
    expect(await ctl('scheduler', 'add', 'balance-leader-scheduler', ...pd)).toMatchObject({ code: 0, stdout: 'The scheduler is created.' });
    expect(await ctl('scheduler', 'pause', 'balance-region-scheduler', '60', ...pd)).toMatchObject({
      code: 0,
      stdout: 'Pause the scheduler successfully.',
    });
    expect(await ctl('scheduler', 'resume', 'balance-region-scheduler', '--output', 'json', ...pd)).toMatchObject({
      code: 0,
      stdout: '"Resume the scheduler successfully."',
    });
    expect(admin.calls.filter((c) => c[0] === 'pauseScheduler')).toEqual([
      ['pauseScheduler', 'balance-region-scheduler', 60],
      ['pauseScheduler', 'balance-region-scheduler', 0],
    ]);
  });

  it('config show and set, health', async () => {
    const show = await ctl('config', ...pd);
    expect(rows(show.stdout)).toEqual([
      ['max-replicas', '3'],
      ['max-store-down-time', '30m0s'],
      ['leader-schedule-limit', '4'],
      ['region-schedule-limit', '2048'],
      ['replica-schedule-limit', '64'],
      ['patrol-region-interval', '100ms'],
    ]);
    expect(JSON.parse((await ctl('config', 'show', '--output', 'json', ...pd)).stdout)).toMatchObject({ replication: { 'max-replicas': 3 } });
    const set = await ctl('config', 'set', 'leader-schedule-limit', '8', ...pd);
    expect(rows(set.stdout)).toContainEqual(['leader-schedule-limit', '8']);
    await ctl('config', 'set', 'max-store-down-time', '1h', ...pd);
    expect(admin.calls.filter((c) => c[0] === 'setConfig')).toEqual([
      ['setConfig', { leaderScheduleLimit: 8 }],
      ['setConfig', { maxStoreDownTimeMs: 3_600_000 }],
    ]);
    expect(rows((await ctl('health', ...pd)).stdout)).toEqual([['scheduler', '1', 'http://127.0.0.1:2379', 'ok']]);
    expect(JSON.parse((await ctl('health', '--output', 'json', ...pd)).stdout)).toMatchObject([{ name: 'scheduler', health: true }]);
  });

  it('fails with one line on stderr: exit 1 for a refusal or no server, 2 for bad usage', async () => {
    const tombstone = await ctl('store', 'delete', '4', ...pd);
    expect(tombstone).toMatchObject({ code: 1, stdout: '' });
    expect(tombstone.stderr).toBe('error: store 4 is a tombstone (KV:Scheduler:StoreTombstone, HTTP 410)\n');
    const exists = await ctl('operator', 'add', 'add-peer', '2', '4', ...pd);
    expect(exists.code).toBe(1);
    expect(exists.stderr).toContain('KV:Scheduler:OperatorExists');
    const badKey = await ctl('config', 'set', 'bogus', '1', ...pd);
    expect([badKey.code, badKey.stderr]).toEqual([1, expect.stringContaining('unknown config key')]);
    expect((await ctl('store', 'show', 'x', ...pd)).code).toBe(2);
    expect((await ctl('scheduler', 'pause', 'balance-region-scheduler', 'soon', ...pd)).code).toBe(2);
    expect((await ctl('store', '--pd', 'ftp://x', '--output', 'json')).code).toBe(2);
    expect((await ctl('store', ...pd, '--scheduler', '127.0.0.1:2379')).code).toBe(2);
    // Nothing listens on port 1.
    const unreachable = await ctl('health', '--pd', 'http://127.0.0.1:1', '--timeout-ms', '2000');
    expect(unreachable.code).toBe(1);
    expect(unreachable.stderr).toMatch(/^error: cannot reach the scheduler admin API at http:\/\/127\.0\.0\.1:1\/pd\/api\/v1\/health: .+\n$/);
  });

  it('finds the admin API from --pd or the scheduler address (port + 1)', () => {
    expect(adminBaseUrl({ pd: 'http://10.0.0.1:2380/' })).toBe('http://10.0.0.1:2380');
    expect(adminBaseUrl({ pd: '10.0.0.1:2380' })).toBe('http://10.0.0.1:2380');
    expect(adminBaseUrl({ scheduler: '10.0.0.1:2379' })).toBe('http://10.0.0.1:2380');
    expect(adminBaseUrl({})).toBe('http://127.0.0.1:2380');
    expect(statusAddrOf('[::1]:2379')).toBe('[::1]:2380');
  });
});

describe('tinykv ctl raw --scheduler', () => {
  let cluster: InProcessCluster;
  beforeAll(async () => {
    cluster = await InProcessCluster.start({}, {}, { initialRegions: 3 });
  });
  afterAll(() => cluster.close());
  afterEach(() => {
    process.exitCode = undefined;
  });

  it('routes each key to its region through the cluster client', async () => {
    const at = ['--scheduler', cluster.scheduler.addr];
    // One key in each of the three initial regions (split at 0x5555 and 0xaaaa; "\u00ff" is 0xc3bf in UTF-8).
    for (const key of ['0', 'zebra', '\u00ff']) {
      expect(await ctl('raw', 'put', key, `v-${key}`, ...at)).toMatchObject({ code: 0, stdout: 'OK' });
    }
    expect(await ctl('raw', 'get', 'zebra', ...at)).toMatchObject({ code: 0, stdout: 'v-zebra' });
    const scan = JSON.parse((await ctl('raw', 'scan', '', '--output', 'json', ...at)).stdout) as Array<{ key: string }>;
    expect(scan.map((p) => p.key)).toEqual(['0', 'zebra', '\u00ff']);
    expect(await ctl('raw', 'delete', '0', ...at)).toMatchObject({ code: 0 });
    expect(JSON.parse((await ctl('raw', 'get', '0', '--output', 'json', ...at)).stdout)).toEqual({ key: '0', found: false, value: null });
    expect((await ctl('raw', 'get', 'k', ...at, '--addr', '127.0.0.1:20160')).code).toBe(2);
  });
});
