// The /dashboard page in a real headless Chromium (Debian's, driven by playwright-core): it shows
// the stores and the region map a scheduler learnt from fake stores' heartbeats, then follows a
// split, a leader transfer and a store set Offline without a reload. A screenshot of the final
// page goes to test-artifacts/dashboard.png. Skipped, saying why, only when no Chromium is found.
import { existsSync, mkdirSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromium, type Browser, type Page } from 'playwright-core';
import { defined } from '../../src/util/assert.js';
import { startFedScheduler, type FedScheduler } from './fed-scheduler.js';

const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const haveChromium = existsSync(CHROMIUM_PATH);
if (!haveChromium) console.log(`dashboard browser test skipped: no Chromium at ${CHROMIUM_PATH} (apt-get install chromium, or set CHROMIUM_PATH)`);

const ARTIFACTS_DIR = 'test-artifacts';
// The page polls every 1.5 s; a few rounds under a loaded CI machine.
const UPDATE_TIMEOUT_MS = 15_000;

async function post(base: string, path: string, body: unknown): Promise<void> {
  const res = await fetch(`${base}/pd/api/v1${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  if (res.status !== 200) throw new Error(`POST ${path}: ${res.status} ${await res.text()}`);
}

/** Waits until the page shows `count` rows in `#table`'s body. */
async function rows(page: Page, table: string, count: number): Promise<void> {
  // A string expression: it runs in the page, and this project's TypeScript has no DOM types.
  await page.waitForFunction(`document.querySelectorAll('#${table} tbody tr').length === ${count}`, undefined, { timeout: UPDATE_TIMEOUT_MS });
}

async function cellRole(page: Page, regionId: number, storeId: number): Promise<string | null> {
  return page.locator(`#regions tr[data-region-id="${regionId}"] td[data-store-id="${storeId}"]`).getAttribute('data-role');
}

describe.skipIf(!haveChromium)('dashboard in a headless browser', () => {
  let world: FedScheduler;
  let browser: Browser;
  let page: Page;
  const pageErrors: string[] = [];

  beforeAll(async () => {
    world = await startFedScheduler({ stores: 3, regions: 4 });
    // --no-sandbox: CI runs as root, where Chromium's sandbox refuses to start.
    browser = await chromium.launch({ executablePath: CHROMIUM_PATH, headless: true, args: ['--no-sandbox'] });
    page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    page.on('pageerror', (err) => pageErrors.push(err.message));
    page.on('console', (msg) => {
      if (msg.type() === 'error') pageErrors.push(msg.text());
    });
  });
  afterAll(async () => {
    await browser?.close();
    await world?.close();
  });

  it('shows the stores and the region map the scheduler knows', async () => {
    const response = await page.goto(`${world.base}/dashboard`);
    expect(response?.status()).toBe(200);
    await rows(page, 'stores', 3);
    await rows(page, 'regions', 4);
    for (const storeId of world.fake.stores.keys()) {
      const row = page.locator(`#stores tr[data-store-id="${storeId}"]`);
      expect(await row.getAttribute('data-state')).toBe('Up');
      expect(await row.locator('td.regions').textContent()).toBe('4');
      expect(await row.locator('td').nth(1).textContent()).toBe(`127.0.0.1:${30000 + storeId}`);
    }
    for (const [regionId, fake] of world.fake.regions) {
      for (const peer of fake.region.peers) {
        expect(await cellRole(page, regionId, peer.storeId)).toBe(peer.storeId === fake.leaderStoreId ? 'leader' : 'follower');
      }
    }
    expect(await page.locator('#cluster').textContent()).toBe(`cluster ${world.scheduler.clusterId}`);
    expect(pageErrors).toEqual([]);
  });

  it("sums the stores' reported writes and reads into the cluster's throughput", async () => {
    // Over the fake heartbeats' 10 s interval: 1,000 + 2,000 + 3,000 keys written, 500 read per store.
    const ids = [...world.fake.stores.keys()];
    for (const [i, id] of ids.entries()) await world.fake.storeHeartbeat(id, { keysWritten: 1_000 * (i + 1), keysRead: 500 });
    await page.waitForFunction(`document.querySelector('#throughput').dataset.writeKeys === '600'`, undefined, { timeout: UPDATE_TIMEOUT_MS });
    expect(await page.locator('#throughput').getAttribute('data-read-keys')).toBe('150');
    expect(await page.locator('#throughput').textContent()).toContain('writes 600 keys/s (59 KiB/s)');
    expect(await page.locator(`#stores tr[data-store-id="${ids[2]}"] td.writes`).textContent()).toBe('300');
    expect(pageErrors).toEqual([]);
  });

  it('follows a split, a leader transfer and a store going Offline without a reload', async () => {
    await page.evaluate('window.loadedOnce = true');
    // A split: a new region reaches the scheduler by heartbeat.
    const parent = defined(
      [...world.fake.regions.values()].find((r) => r.region.startKey.length > 0),
      'a bounded region',
    ).region;
    const key = Buffer.concat([Buffer.from(parent.startKey), Buffer.from('k')]);
    await post(world.base, '/operators', { name: 'split-region', region_id: parent.id, policy: 'usekey', keys: [key.toString('hex')] });
    await world.fake.driveToEnd(parent.id);
    await world.fake.report(parent.id);
    const child = defined(
      [...world.fake.regions.values()].find((r) => Buffer.from(r.region.startKey).equals(key)),
      'split child',
    );
    await world.fake.report(child.region.id);
    await rows(page, 'regions', 5);
    // In key order: the child right after its parent.
    const order = await page.locator('#regions tbody tr').evaluateAll((trs) => trs.map((tr) => Number(tr.getAttribute('data-region-id'))));
    expect(order.indexOf(child.region.id)).toBe(order.indexOf(parent.id) + 1);

    // A leader transfer: the L moves to another store's column.
    const fake = world.fake.region(child.region.id);
    const from = fake.leaderStoreId;
    const to = defined(
      fake.region.peers.find((p) => p.storeId !== from),
      'follower',
    ).storeId;
    await post(world.base, '/operators', { name: 'transfer-leader', region_id: child.region.id, to_store_id: to });
    await world.fake.driveToEnd(child.region.id);
    await world.fake.report(child.region.id);
    await page.waitForSelector(`#regions tr[data-region-id="${child.region.id}"] td[data-store-id="${to}"][data-role="leader"]`, {
      timeout: UPDATE_TIMEOUT_MS,
    });
    expect(await cellRole(page, child.region.id, from)).toBe('follower');
    await page.waitForSelector(`#history tr[data-region-id="${child.region.id}"]`, { timeout: UPDATE_TIMEOUT_MS });

    // A store set Offline.
    const leaving = defined([...world.fake.stores.keys()][2], 'store');
    expect((await fetch(`${world.base}/pd/api/v1/store/${leaving}`, { method: 'DELETE' })).status).toBe(200);
    await page.waitForSelector(`#stores tr[data-store-id="${leaving}"][data-state="Offline"]`, { timeout: UPDATE_TIMEOUT_MS });

    expect(await page.evaluate('window.loadedOnce')).toBe(true);
    expect(await page.locator('#error').isHidden()).toBe(true);
    expect(pageErrors).toEqual([]);
    mkdirSync(ARTIFACTS_DIR, { recursive: true });
    await page.screenshot({ path: `${ARTIFACTS_DIR}/dashboard.png`, fullPage: true });
  });
});
