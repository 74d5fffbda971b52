// The scheduler's metrics and health endpoints on its admin HTTP server, against a real scheduler
// fed by fake stores: each counter moves with the event it counts, the gauges follow the cluster
// on scrape, and /livez /readyz /status /config answer what an operator's tooling expects.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startScheduler } from '../../src/scheduler/scheduler-server.js';
import { defined } from '../../src/util/assert.js';
import { startFedScheduler, type FedScheduler } from './fed-scheduler.js';

async function get(base: string, path: string): Promise<{ status: number; type: string; text: string }> {
  const res = await fetch(base + path);
  return { status: res.status, type: res.headers.get('content-type') ?? '', text: await res.text() };
}

/** The value of one sample in Prometheus text (`name{labels} value`); undefined when absent. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  // Label values may hold commas (`kind="leader,admin"`): compare the label pairs, not the raw text.
  const pairs = (list: string) => [...list.matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((m) => `${m[1]}=${m[2]}`).sort();
  const want = JSON.stringify(
    Object.entries(labels)
      .map(([k, v]) => `${k}=${v}`)
      .sort(),
  );
  for (const line of text.split('\n')) {
    const match = /^([a-z_:]+)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    if (JSON.stringify(pairs(match[2] ?? '')) === want) return Number(match[3]);
  }
  return undefined;
}

async function scrape(world: FedScheduler): Promise<string> {
  const { status, type, text } = await get(world.base, '/metrics');
  expect(status).toBe(200);
  expect(type).toContain('text/plain');
  return text;
}

async function post(base: string, path: string, body: unknown): Promise<void> {
  const res = await fetch(`${base}/pd/api/v1${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  if (res.status !== 200) throw new Error(`POST ${path}: ${res.status} ${await res.text()}`);
}

describe('scheduler metrics', () => {
  let world: FedScheduler;
  beforeAll(async () => {
    world = await startFedScheduler({ stores: 3, regions: 4 });
  });
  afterAll(() => world.close());

  it('exposes the gauges read on scrape and the default process metrics', async () => {
    const text = await scrape(world);
    expect(sample(text, 'tinykv_scheduler_stores', { state: 'Up' })).toBe(3);
    for (const state of ['Disconnected', 'Down', 'Offline', 'Tombstone']) expect(sample(text, 'tinykv_scheduler_stores', { state })).toBe(0);
    expect(sample(text, 'tinykv_scheduler_regions')).toBe(4);
    expect(text).toContain('# TYPE tinykv_scheduler_operators_total counter');
    expect(sample(text, 'process_cpu_user_seconds_total')).toBeGreaterThan(0);
    expect(text).toContain('nodejs_eventloop_lag_seconds');
  });

  it('counts store and region heartbeats and TSO requests as they come', async () => {
    const before = await scrape(world);
    const storeId = defined([...world.fake.stores.keys()][0], 'store');
    const regionId = defined([...world.fake.regions.keys()][0], 'region');
    await world.fake.storeHeartbeat(storeId);
    await world.fake.storeHeartbeat(storeId);
    await world.fake.report(regionId);
    await world.fake.client.getTimestamp();
    const after = await scrape(world);
    const delta = (name: string, labels?: Record<string, string>) => (sample(after, name, labels) ?? 0) - (sample(before, name, labels) ?? 0);
    expect(delta('tinykv_scheduler_heartbeats_total', { kind: 'store' })).toBe(2);
    expect(delta('tinykv_scheduler_heartbeats_total', { kind: 'region' })).toBe(1);
    expect(delta('tinykv_scheduler_tso_requests_total')).toBeGreaterThanOrEqual(1);
  });

  it('counts operators by kind and final status when they finish', async () => {
    const [first, second] = [...world.fake.regions.keys()];
    const regionA = defined(first, 'region');
    const target = defined(
      world.fake.region(regionA).region.peers.find((p) => p.storeId !== world.fake.region(regionA).leaderStoreId),
      'follower',
    ).storeId;
    await post(world.base, '/operators', { name: 'transfer-leader', region_id: regionA, to_store_id: target });
    await world.fake.driveToEnd(regionA);
    await world.fake.report(regionA);
    const regionB = defined(second, 'region');
    const other = defined(
      world.fake.region(regionB).region.peers.find((p) => p.storeId !== world.fake.region(regionB).leaderStoreId),
      'follower',
    );
    await post(world.base, '/operators', { name: 'transfer-leader', region_id: regionB, to_store_id: other.storeId });
    expect((await fetch(`${world.base}/pd/api/v1/operators/${regionB}`, { method: 'DELETE' })).status).toBe(200);
    const text = await scrape(world);
    expect(sample(text, 'tinykv_scheduler_operators_total', { kind: 'leader,admin', status: 'success' })).toBe(1);
    expect(sample(text, 'tinykv_scheduler_operators_total', { kind: 'leader,admin', status: 'cancel' })).toBe(1);
    const records = (await (await fetch(`${world.base}/pd/api/v1/operators/records`)).json()) as { region_id: number; status: string }[];
    expect(records.map((r) => [r.region_id, r.status])).toEqual([
      [regionA, 'SUCCESS'],
      [regionB, 'CANCEL'],
    ]);
    const newest = (await (await fetch(`${world.base}/pd/api/v1/operators/records?limit=1`)).json()) as { region_id: number }[];
    expect(newest.map((r) => r.region_id)).toEqual([regionB]);
  });

  it('follows a store set Offline on the next scrape', async () => {
    const storeId = defined([...world.fake.stores.keys()][2], 'store');
    expect((await fetch(`${world.base}/pd/api/v1/store/${storeId}`, { method: 'DELETE' })).status).toBe(200);
    const text = await scrape(world);
    expect(sample(text, 'tinykv_scheduler_stores', { state: 'Offline' })).toBe(1);
    expect(sample(text, 'tinykv_scheduler_stores', { state: 'Up' })).toBe(2);
  });

  it('answers /livez, /readyz, /status and /config', async () => {
    expect(await get(world.base, '/livez')).toMatchObject({ status: 200, text: 'ok\n' });
    expect(await get(world.base, '/readyz')).toMatchObject({ status: 200, text: 'ok\n' });
    const status = JSON.parse((await get(world.base, '/status')).text) as Record<string, unknown>;
    expect(status).toMatchObject({
      component: 'scheduler',
      version: '0.1.0',
      cluster_id: String(world.scheduler.clusterId),
      address: world.scheduler.addr,
      status_address: world.scheduler.statusAddr,
      bootstrapped: true,
    });
    expect(status.git_hash).toMatch(/^([0-9a-f]{40}|unknown)$/);
    expect(typeof status.uptime_seconds).toBe('number');
    const config = JSON.parse((await get(world.base, '/config')).text) as Record<string, Record<string, unknown>>;
    expect(config.schedule).toMatchObject({ 'max-store-down-time': '30m0s' });
    expect(config.replication).toEqual({ 'max-replicas': 3 });
    expect(config.flags).toMatchObject({ engine: 'memory', initial_stores: 3, auto_schedule: false, addr: world.scheduler.addr });
  });
});

describe('dashboard files', () => {
  it('are served with their content types, from the same port', async () => {
    const world = await startFedScheduler({ stores: 1, regions: 1 });
    try {
      const page = await get(world.base, '/dashboard');
      expect(page).toMatchObject({ status: 200, type: 'text/html; charset=utf-8' });
      expect(page.text).toContain('/dashboard/dashboard.js');
      expect(await get(world.base, '/dashboard/dashboard.js')).toMatchObject({ status: 200, type: 'text/javascript; charset=utf-8' });
      expect(await get(world.base, '/dashboard/dashboard.css')).toMatchObject({ status: 200, type: 'text/css; charset=utf-8' });
      expect((await get(world.base, '/dashboard/other.js')).status).toBe(404);
    } finally {
      await world.close();
    }
  });
});

describe('scheduler health before bootstrap', () => {
  it('is live but not ready, and keeps its counts apart from other schedulers in the process', async () => {
    const scheduler = await startScheduler({ addr: '127.0.0.1:0', statusAddr: '127.0.0.1:0', engine: 'memory', initialStores: 3 });
    try {
      const base = `http://${defined(scheduler.statusAddr, 'status addr')}`;
      expect(await get(base, '/livez')).toMatchObject({ status: 200 });
      expect(await get(base, '/readyz')).toMatchObject({ status: 503, text: 'not ready: not bootstrapped\n' });
      const text = (await get(base, '/metrics')).text;
      expect(sample(text, 'tinykv_scheduler_regions')).toBe(0);
      expect(sample(text, 'tinykv_scheduler_heartbeats_total', { kind: 'store' })).toBeUndefined();
    } finally {
      await scheduler.close();
    }
  });
});
