// The admin HTTP API (src/scheduler/http) against a fake SchedulerAdmin: every route's JSON shape
// and PD field names, the statuses of refusals, and the limits (body size, bad JSON, paths, methods).
import { request } from 'node:http';
import { connect as connectTcp } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/env/clock.js';
import { silentLogger } from '../../src/log/logger.js';
import { startAdminHttpServer, type AdminHttpServer } from '../../src/scheduler/http/admin-server.js';
import { formatGoDuration, parseGoDurationMs, formatByteSize } from '../../src/scheduler/http/go-format.js';
import { FakeAdmin, NOW_MS } from './fake-admin.js';

let admin: FakeAdmin;
let server: AdminHttpServer;

interface Answer {
  status: number;
  body: unknown;
  headers: Record<string, string | string[] | undefined>;
}

async function call(method: string, path: string, body?: unknown): Promise<Answer> {
  const response = await fetch(`http://${server.addr}/pd/api/v1${path}`, {
    method,
    ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
  });
  const text = await response.text();
  return { status: response.status, body: text.length > 0 ? JSON.parse(text) : undefined, headers: Object.fromEntries(response.headers) };
}

const get = (path: string) => call('GET', path);

beforeAll(async () => {
  // The server keeps one admin; it forwards to the current test's fake, so each test starts fresh.
  const forward = new Proxy({} as FakeAdmin, {
    get: (_target, name) => {
      const value: unknown = Reflect.get(admin, name);
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(admin) : value;
    },
  });
  server = await startAdminHttpServer({
    addr: '127.0.0.1:0',
    admin: forward,
    logger: silentLogger(),
    clock: new ManualClock(NOW_MS),
    bodyLimitBytes: 4096,
    requestTimeoutMs: 2_000,
  });
});

afterAll(() => server.close());

beforeEach(() => {
  admin = new FakeAdmin();
});

describe('admin HTTP API: reads', () => {
  it('health, members, cluster and cluster status', async () => {
    expect(await get('/health')).toMatchObject({
      status: 200,
      body: [{ name: 'scheduler', member_id: 1, client_urls: ['http://127.0.0.1:2379'], health: true }],
    });
    const members = (await get('/members')).body as { members: unknown[]; leader: unknown };
    expect(members.members).toEqual([{ name: 'scheduler', member_id: 1, client_urls: ['http://127.0.0.1:2379'], peer_urls: [] }]);
    expect(members.leader).toEqual(members.members[0]);
    expect((await get('/cluster')).body).toEqual({ id: 7_000_001, max_peer_count: 3 });
    expect((await get('/cluster/status')).body).toEqual({
      raft_bootstrap_time: new Date(NOW_MS - 86_400_000).toISOString(),
      is_initialized: true,
      bootstrapped: true,
      cluster_id: 7_000_001,
    });
  });

  it('stores and one store, with PD field names and Go-formatted sizes and times', async () => {
    const { status, body } = await get('/stores');
    expect(status).toBe(200);
    const stores = body as { count: number; stores: Array<{ store: Record<string, unknown>; status: Record<string, unknown> }> };
    expect(stores.count).toBe(4);
    expect(stores.stores.map((s) => s.store.state_name)).toEqual(['Up', 'Down', 'Offline', 'Tombstone']);
    expect(stores.stores[0]).toEqual({
      store: { id: 1, address: '127.0.0.1:20161', state: 0, state_name: 'Up' },
      status: {
        capacity: '100GiB',
        available: '60.5GiB',
        used_size: '1.5KiB',
        leader_count: 2,
        leader_size: 200,
        region_count: 2,
        region_size: 200,
        pending_peer_count: 0,
        sending_snap_count: 0,
        receiving_snap_count: 1,
        is_busy: false,
        bytes_written: 0,
        keys_written: 0,
        bytes_read: 0,
        keys_read: 0,
        interval_seconds: 0,
        start_ts: new Date(NOW_MS - 3_600_000).toISOString(),
        last_heartbeat_ts: new Date(NOW_MS - 1_000).toISOString(),
        uptime: '59m59s',
      },
    });
    // A store never heard from has no times.
    expect(stores.stores[3]?.status).not.toHaveProperty('last_heartbeat_ts');
    expect((await get('/store/3')).body).toMatchObject({ store: { id: 3, state: 1, state_name: 'Offline' }, status: { pending_peer_count: 1 } });
  });

  it('regions, a region by id and by key, with keys in upper-case hex and sizes in MiB', async () => {
    const regions = (await get('/regions')).body as { count: number; regions: Array<Record<string, unknown>> };
    expect(regions.count).toBe(2);
    expect(regions.regions[0]).toEqual({
      id: 2,
      start_key: '',
      end_key: '6D',
      epoch: { conf_ver: 3, version: 2 },
      peers: [
        { id: 3, store_id: 1, role_name: 'Voter' },
        { id: 4, store_id: 2, role_name: 'Voter' },
        { id: 5, store_id: 3, role_name: 'Voter' },
      ],
      leader: { id: 3, store_id: 1, role_name: 'Voter' },
      down_peers: [],
      pending_peers: [{ id: 5, store_id: 3, role_name: 'Voter' }],
      approximate_size: 100,
      approximate_keys: 1000,
    });
    expect(regions.regions[1]).toMatchObject({
      down_peers: [{ peer: { id: 8, store_id: 2 }, down_seconds: 2400 }],
      // Ten bytes are still "something": PD's floor of 1 MiB for a non-empty region.
      approximate_size: 1,
    });
    expect((await get('/region/id/6')).body).toMatchObject({ id: 6, start_key: '6D', end_key: '' });
    expect((await get('/region/key/zebra')).body).toMatchObject({ id: 6 });
    // The key is URL-decoded, an encoded "/" included.
    expect((await get('/region/key/a%2Fb%20c')).body).toMatchObject({ id: 2 });
    expect(admin.calls).toContainEqual(['regionByKey', 'a/b c']);
  });

  it('region checks: miss-peer, extra-peer, down-peer, pending-peer', async () => {
    const ids = async (type: string) => ((await get(`/regions/check/${type}`)).body as { regions: Array<{ id: number }> }).regions.map((r) => r.id);
    expect(await ids('miss-peer')).toEqual([6]);
    expect(await ids('extra-peer')).toEqual([]);
    expect(await ids('down-peer')).toEqual([6]);
    expect(await ids('pending-peer')).toEqual([2]);
    expect(await get('/regions/check/bogus')).toMatchObject({ status: 400, body: { code: 'KV:Scheduler:InvalidArgument' } });
  });

  it('operators: running ones, and one region latest', async () => {
    const expected = {
      region_id: 2,
      desc: 'admin-add-peer',
      kind: 'admin,region',
      status: 'RUNNING',
      steps: ['add peer 9 on store 4'],
      step_index: 0,
      create_time: new Date(NOW_MS - 500).toISOString(),
      text: 'admin-add-peer (kind:admin,region, region:2, status:running) [add peer 9 on store 4]',
    };
    expect((await get('/operators')).body).toEqual([expected]);
    expect((await get('/operators/2')).body).toEqual(expected);
    expect(await get('/operators/6')).toMatchObject({ status: 404, body: { code: 'KV:Scheduler:RegionNotFound' } });
  });

  it('schedulers, all and paused', async () => {
    expect((await get('/schedulers')).body).toEqual(['balance-region-scheduler', 'balance-leader-scheduler']);
    expect((await get('/schedulers?status=paused')).body).toEqual(['balance-leader-scheduler']);
    expect((await get('/schedulers?status=bogus')).status).toBe(400);
  });

  it('config, schedule and replication sections in PD keys', async () => {
    const schedule = {
      'max-store-down-time': '30m0s',
      'leader-schedule-limit': 4,
      'region-schedule-limit': 2048,
      'replica-schedule-limit': 64,
      'patrol-region-interval': '100ms',
    };
    expect((await get('/config')).body).toEqual({ replication: { 'max-replicas': 3 }, schedule });
    expect((await get('/config/schedule')).body).toEqual(schedule);
    expect((await get('/config/replicate')).body).toEqual({ 'max-replicas': 3 });
  });
});

describe('admin HTTP API: changes', () => {
  it('DELETE /store/{id} sets it offline; unknown 404, tombstone 410, bad id 400', async () => {
    expect(await call('DELETE', '/store/2')).toMatchObject({ status: 200, body: 'The store is set as Offline.' });
    expect(admin.calls).toContainEqual(['deleteStore', 2]);
    expect(await call('DELETE', '/store/9')).toMatchObject({ status: 404, body: { code: 'KV:Scheduler:StoreNotFound', error: 'store 9 not found' } });
    expect(await call('DELETE', '/store/4')).toMatchObject({ status: 410, body: { code: 'KV:Scheduler:StoreTombstone' } });
    for (const id of ['0', 'x', '-1', '1.5', '99999999999999999999']) {
      expect(await get(`/store/${id}`), id).toMatchObject({ status: 400, body: { code: 'KV:Scheduler:InvalidArgument' } });
    }
  });

  it('POST /operators takes each of PD bodies', async () => {
    admin.operatorViews = [];
    const bodies: Array<[Record<string, unknown>, unknown]> = [
      [
        { name: 'add-peer', region_id: 2, store_id: 4 },
        { name: 'add-peer', regionId: 2, storeId: 4 },
      ],
      [
        { name: 'remove-peer', region_id: 2, store_id: 3 },
        { name: 'remove-peer', regionId: 2, storeId: 3 },
      ],
      [
        { name: 'transfer-leader', region_id: 2, to_store_id: 2 },
        { name: 'transfer-leader', regionId: 2, toStoreId: 2 },
      ],
      [
        { name: 'transfer-region', region_id: 2, to_store_ids: [1, 2, 4] },
        { name: 'transfer-region', regionId: 2, toStoreIds: [1, 2, 4] },
      ],
      [
        { name: 'split-region', region_id: 2, policy: 'approximate' },
        { name: 'split-region', regionId: 2, keys: [] },
      ],
      [
        { name: 'split-region', region_id: 2, policy: 'scan' },
        { name: 'split-region', regionId: 2, keys: [] },
      ],
      [
        { name: 'split-region', region_id: 2, policy: 'usekey', keys: ['6162', '6B'] },
        { name: 'split-region', regionId: 2, keys: [Buffer.from('ab'), Buffer.from('k')] },
      ],
    ];
    for (const [body, request] of bodies) {
      const answer = await call('POST', '/operators', body);
      expect(answer, JSON.stringify(body)).toMatchObject({ status: 200, body: { region_id: 2, status: 'RUNNING' } });
      expect(admin.calls.at(-1)).toEqual(['addOperator', request]);
      admin.operatorViews = [];
    }
  });

  it('POST /operators refuses bad bodies (400) and a second operator (409)', async () => {
    const bad: unknown[] = [
      { name: 'add-peer', region_id: 2 },
      { name: 'add-peer', region_id: 2, store_id: '4' },
      { name: 'add-peer', region_id: 2.5, store_id: 4 },
      { name: 'add-peer', region_id: -2, store_id: 4 },
      { name: 'make-coffee', region_id: 2 },
      { name: 'transfer-region', region_id: 2, to_store_ids: [] },
      { name: 'transfer-region', region_id: 2, to_store_ids: 'all' },
      { name: 'split-region', region_id: 2, policy: 'usekey' },
      { name: 'split-region', region_id: 2, keys: ['zz'] },
      { name: 'split-region', region_id: 2, policy: 'nope' },
    ];
    for (const body of bad) {
      expect(await call('POST', '/operators', body), JSON.stringify(body)).toMatchObject({
        status: 400,
        body: { code: 'KV:Scheduler:InvalidArgument' },
      });
    }
    expect(await call('POST', '/operators', [1, 2])).toMatchObject({ status: 400, body: { code: 'KV:Http:MalformedJson' } });
    expect(await call('POST', '/operators')).toMatchObject({ status: 400, body: { code: 'KV:Http:MalformedJson' } });
    const exists = await call('POST', '/operators', { name: 'add-peer', region_id: 2, store_id: 4 });
    expect(exists).toMatchObject({ status: 409, body: { code: 'KV:Scheduler:OperatorExists' } });
    expect(await call('POST', '/operators', { name: 'add-peer', region_id: 77, store_id: 4 })).toMatchObject({ status: 404 });
  });

  it('DELETE /operators/{region} cancels; none running is 404', async () => {
    expect(await call('DELETE', '/operators/2')).toMatchObject({ status: 200, body: 'The pending operator is canceled.' });
    expect((await get('/operators/2')).body).toMatchObject({ status: 'CANCEL', finish_time: new Date(NOW_MS).toISOString() });
    expect(await call('DELETE', '/operators/2')).toMatchObject({ status: 404, body: { code: 'KV:Http:NotFound' } });
  });

  it('schedulers: add, remove, pause and resume', async () => {
    expect(await call('DELETE', '/schedulers/balance-leader-scheduler')).toMatchObject({ status: 200, body: 'The scheduler is removed.' });
    expect(await call('DELETE', '/schedulers/balance-leader-scheduler')).toMatchObject({
      status: 404,
      body: { code: 'KV:Scheduler:SchedulerNotFound' },
    });
    expect(await call('POST', '/schedulers', { name: 'balance-leader-scheduler' })).toMatchObject({ status: 200, body: 'The scheduler is created.' });
    expect(await call('POST', '/schedulers', { name: 'balance-leader-scheduler' })).toMatchObject({
      status: 409,
      body: { code: 'KV:Scheduler:SchedulerExists' },
    });
    expect(await call('POST', '/schedulers', { name: 'shuffle' })).toMatchObject({ status: 404 });
    expect(await call('POST', '/schedulers', { name: 7 })).toMatchObject({ status: 400 });
    expect(await call('POST', '/schedulers/balance-region-scheduler', { delay: 30 })).toMatchObject({
      status: 200,
      body: 'Pause the scheduler successfully.',
    });
    expect(await call('POST', '/schedulers/balance-region-scheduler', { delay: 0 })).toMatchObject({
      status: 200,
      body: 'Resume the scheduler successfully.',
    });
    expect(admin.calls.filter((c) => c[0] === 'pauseScheduler')).toEqual([
      ['pauseScheduler', 'balance-region-scheduler', 30],
      ['pauseScheduler', 'balance-region-scheduler', 0],
    ]);
    expect(await call('POST', '/schedulers/balance-region-scheduler', { delay: -1 })).toMatchObject({ status: 400 });
    expect(await call('POST', '/schedulers/balance-region-scheduler', {})).toMatchObject({ status: 400 });
  });

  it('POST /config takes PD keys, Go durations, numbers as text; refuses unknown keys and bad values', async () => {
    const answer = await call('POST', '/config', { 'max-replicas': 5, 'max-store-down-time': '1h30m', 'leader-schedule-limit': '8' });
    expect(answer).toMatchObject({
      status: 200,
      body: { replication: { 'max-replicas': 5 }, schedule: { 'max-store-down-time': '1h30m0s', 'leader-schedule-limit': 8 } },
    });
    expect(admin.calls.at(-1)).toEqual(['setConfig', { maxReplicas: 5, maxStoreDownTimeMs: 5_400_000, leaderScheduleLimit: 8 }]);
    expect(await call('POST', '/config/replicate', { 'max-replicas': 3 })).toMatchObject({ status: 200 });
    expect(await call('POST', '/config/schedule', { 'patrol-region-interval': '250ms' })).toMatchObject({ status: 200 });
    expect(admin.calls.at(-1)).toEqual(['setConfig', { patrolRegionIntervalMs: 250 }]);
    for (const body of [
      { 'max-replicas': 'three' },
      { 'max-store-down-time': 30 },
      { 'max-store-down-time': '30 minutes' },
      { bogus: 1 },
      {},
      { 'max-replicas': 1.5 },
    ]) {
      expect(await call('POST', '/config', body), JSON.stringify(body)).toMatchObject({
        status: 400,
        body: { code: 'KV:Scheduler:InvalidArgument' },
      });
    }
  });
});

describe('admin HTTP API: the edge', () => {
  it('unknown path 404, wrong method 405 with Allow', async () => {
    expect(await get('/nope')).toMatchObject({ status: 404, body: { code: 'KV:Http:NotFound' } });
    expect(await call('GET', '/../../etc/passwd')).toMatchObject({ status: 404 });
    const wrong = await call('PUT', '/stores');
    expect(wrong).toMatchObject({ status: 405, body: { code: 'KV:Http:MethodNotAllowed' } });
    expect(wrong.headers.allow).toBe('GET');
    expect((await call('PATCH', '/store/1')).headers.allow).toBe('GET, DELETE');
  });

  it('bad JSON is 400, a body over the limit 413, bad URL encoding 400', async () => {
    expect(await call('POST', '/config', '{"max-replicas":')).toMatchObject({ status: 400, body: { code: 'KV:Http:MalformedJson' } });
    const big = JSON.stringify({ name: 'x'.repeat(5000) });
    expect(await call('POST', '/schedulers', big)).toMatchObject({ status: 413, body: { code: 'KV:Http:BodyTooLarge' } });
    expect(await get('/region/key/%E0%A4%A')).toMatchObject({ status: 400, body: { code: 'KV:Scheduler:InvalidArgument' } });
    // The server still serves after all that.
    expect((await get('/health')).status).toBe(200);
  });

  it('a chunked body over the limit is cut off with 413 (no content-length to trust)', async () => {
    const status = await new Promise<number>((resolve, reject) => {
      const [host, port] = server.addr.split(':');
      const req = request(
        { host, port: Number(port), method: 'POST', path: '/pd/api/v1/config', headers: { 'transfer-encoding': 'chunked' } },
        (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        },
      );
      req.on('error', reject);
      for (let i = 0; i < 10; i++) req.write('x'.repeat(1000));
      req.end();
    });
    expect(status).toBe(413);
  });

  it('odd request targets and broken HTTP get a 4xx, never a crash', async () => {
    const raw = (text: string) =>
      new Promise<string>((resolve, reject) => {
        const [host, port] = server.addr.split(':');
        const socket = connectTcp({ host, port: Number(port) }, () => socket.end(text));
        let answer = '';
        socket.on('data', (chunk: Buffer) => (answer += chunk.toString()));
        socket.on('end', () => resolve(answer.split('\r\n')[0] ?? ''));
        socket.on('error', reject);
      });
    expect(await raw('GET * HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')).toMatch(/^HTTP\/1\.1 4\d\d /);
    expect(await raw('GET http://elsewhere/pd/api/v1/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')).toBe('HTTP/1.1 200 OK');
    expect(await raw('NONSENSE\r\n\r\n')).toBe('HTTP/1.1 400 Bad Request');
    expect(await raw(`GET /pd/api/v1/${'x'.repeat(20_000)} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`)).toMatch(/^HTTP\/1\.1 4\d\d /);
    expect((await get('/health')).status).toBe(200);
  });

  it('a handler that stalls is answered 503 after the request timeout', async () => {
    admin.deleteStore = () => new Promise(() => {});
    expect(await call('DELETE', '/store/1')).toMatchObject({ status: 503, body: { code: 'KV:Http:Timeout' } });
  });

  it('a bug in the admin is a 500 without its message, and the server lives on', async () => {
    admin.stores = () => {
      throw new TypeError('secret internals');
    };
    expect(await get('/stores')).toEqual(expect.objectContaining({ status: 500, body: { error: 'internal error', code: 'KV:Internal:Unexpected' } }));
    expect((await get('/health')).status).toBe(200);
  });
});

describe('Go formats', () => {
  it('durations both ways and byte sizes', () => {
    expect([0, 100, 1_000, 1_500, 90_000, 1_800_000, 3_600_000, 5_400_500].map(formatGoDuration)).toEqual([
      '0s',
      '100ms',
      '1s',
      '1.5s',
      '1m30s',
      '30m0s',
      '1h0m0s',
      '1h30m0.5s',
    ]);
    expect(['0', '30m', '1h30m', '1.5s', '250ms', '0.1h', '1000us', '30m0s'].map(parseGoDurationMs)).toEqual([
      0, 1_800_000, 5_400_000, 1_500, 250, 360_000, 1, 1_800_000,
    ]);
    for (const bad of ['', '30', 'm', '-1s', '1.5us', '1x', '1s ', '.s']) expect(parseGoDurationMs(bad), bad).toBeUndefined();
    expect([0, 1023, 1024, 1536, 1024 ** 3 * 931.5].map(formatByteSize)).toEqual(['0B', '1023B', '1KiB', '1.5KiB', '931.5GiB']);
  });
});
