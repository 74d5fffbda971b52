// The status HTTP server on its own (a fake source) and on a standalone node: every endpoint,
// /readyz while stopping, 404/405 as the admin API answers them, secrets redacted from /config.
import { afterEach, describe, expect, it } from 'vitest';
import { Counter, Registry } from 'prom-client';
import { silentLogger } from '../../src/log/logger.js';
import { redactSecrets, startStatusServer, type Readiness, type StatusServer, type StatusSource } from '../../src/metrics/status-server.js';
import { startServer } from '../../src/index.js';
import { tempDir } from '../helpers/tmp.js';

let servers: StatusServer[] = [];

afterEach(async () => {
  await Promise.all(servers.map((server) => server.close()));
  servers = [];
});

function fakeSource(readiness: { current: Readiness }): StatusSource {
  const registry = new Registry();
  new Counter({ name: 'tinykv_test_total', help: 'a test counter', registers: [registry] }).inc(3);
  return {
    registry,
    storeId: 7,
    addr: '127.0.0.1:20160',
    config: {
      addr: '127.0.0.1:20160',
      tls: { keyFile: '/etc/key.pem', certFile: '/etc/cert.pem' },
      schedulerPassword: 'hunter2',
      apiToken: undefined,
    },
    readiness: () => readiness.current,
    peerRoles: () =>
      new Map([
        [1, 'leader'],
        [4, 'follower'],
      ]),
  };
}

async function start(source: StatusSource, requestTimeoutMs?: number): Promise<string> {
  const server = await startStatusServer({ addr: '127.0.0.1:0', source, logger: silentLogger(), requestTimeoutMs });
  servers.push(server);
  return `http://${server.addr}`;
}

describe('status server', () => {
  it('serves metrics, liveness, readiness, status and config', async () => {
    const base = await start(fakeSource({ current: { ready: true } }));
    const metrics = await fetch(`${base}/metrics`);
    expect(metrics.status).toBe(200);
    expect(metrics.headers.get('content-type')).toContain('text/plain');
    expect(await metrics.text()).toContain('tinykv_test_total 3');
    expect((await fetch(`${base}/livez`)).status).toBe(200);
    expect(await (await fetch(`${base}/readyz`)).json()).toEqual({ status: 'ready' });
    const status = (await (await fetch(`${base}/status`)).json()) as Record<string, unknown>;
    expect(status).toMatchObject({ store_id: 7, address: '127.0.0.1:20160', regions: { '1': 'leader', '4': 'follower' } });
    expect(status.version).toBe('0.1.0');
    expect(typeof status.git_hash).toBe('string');
    expect(status.uptime_seconds).toBeGreaterThanOrEqual(0);
    // A query string and a trailing slash do not change the path.
    expect((await fetch(`${base}/livez/?verbose=1`)).status).toBe(200);
  });

  it('answers /readyz 503 with the reason while not ready, and 200 again after', async () => {
    const readiness = { current: { ready: false, reason: 'no regions loaded yet' } as Readiness };
    const base = await start(fakeSource(readiness));
    const notReady = await fetch(`${base}/readyz`);
    expect(notReady.status).toBe(503);
    expect(await notReady.json()).toEqual({ status: 'not ready', reason: 'no regions loaded yet' });
    readiness.current = { ready: true };
    expect((await fetch(`${base}/readyz`)).status).toBe(200);
    // Liveness does not depend on readiness.
    readiness.current = { ready: false, reason: 'stopping' };
    expect((await fetch(`${base}/livez`)).status).toBe(200);
    expect((await fetch(`${base}/readyz`)).status).toBe(503);
  });

  it('answers unknown paths 404 and other methods 405 with Allow', async () => {
    const base = await start(fakeSource({ current: { ready: true } }));
    const missing = await fetch(`${base}/nope`);
    expect(missing.status).toBe(404);
    expect(await missing.json()).toMatchObject({ code: 'KV:Http:NotFound' });
    const post = await fetch(`${base}/metrics`, { method: 'POST', body: 'x' });
    expect(post.status).toBe(405);
    expect(post.headers.get('allow')).toBe('GET');
    expect(await post.json()).toMatchObject({ code: 'KV:Http:MethodNotAllowed' });
  });

  it('redacts secret-named fields from /config, at any depth', async () => {
    const base = await start(fakeSource({ current: { ready: true } }));
    const config = (await (await fetch(`${base}/config`)).json()) as Record<string, unknown>;
    expect(config).toEqual({
      addr: '127.0.0.1:20160',
      tls: { keyFile: '<redacted>', certFile: '/etc/cert.pem' },
      schedulerPassword: '<redacted>',
      apiToken: null,
    });
    expect(redactSecrets({ 'key-file': 'a', secret_key: 'b', list: [{ token: 'c' }], n: 1 })).toEqual({
      'key-file': '<redacted>',
      secret_key: '<redacted>',
      list: [{ token: '<redacted>' }],
      n: 1,
    });
  });

  it('answers 503 when a scrape outlasts the request timeout', async () => {
    const source = fakeSource({ current: { ready: true } });
    // A collector that never finishes (a stuck disk under an engine-size read).
    new Counter({ name: 'tinykv_slow_total', help: 'never done', registers: [source.registry], collect: () => new Promise(() => {}) });
    const base = await start(source, 200);
    const response = await fetch(`${base}/metrics`);
    expect(response.status).toBe(503);
    expect(await response.json()).toMatchObject({ code: 'KV:Http:Timeout' });
  });

  it('rejects with the bind error on an address in use (the node names it, src/server/status-endpoint.ts)', async () => {
    const first = await startStatusServer({ addr: '127.0.0.1:0', source: fakeSource({ current: { ready: true } }), logger: silentLogger() });
    servers.push(first);
    await expect(
      startStatusServer({ addr: first.addr, source: fakeSource({ current: { ready: true } }), logger: silentLogger() }),
    ).rejects.toMatchObject({
      code: 'EADDRINUSE',
    });
  });
});

describe('status server of a standalone node', () => {
  it('is ready while serving, not ready once stopping, and gone after', async () => {
    const dir = tempDir();
    const node = await startServer({ addr: '127.0.0.1:0', statusAddr: '127.0.0.1:0', dataDir: dir.path, logger: silentLogger() });
    try {
      const base = `http://${node.statusAddr}`;
      expect((await fetch(`${base}/readyz`)).status).toBe(200);
      const config = (await (await fetch(`${base}/config`)).json()) as Record<string, unknown>;
      expect(config.statusAddr).toBe('127.0.0.1:0');
      expect(config.dataDir).toBe(dir.path);
      const closing = node.close();
      expect(node.readiness()).toEqual({ ready: false, reason: 'stopping' });
      await closing;
      await expect(fetch(`${base}/livez`)).rejects.toThrow();
    } finally {
      await node.close();
      dir.cleanup();
    }
  });

  it('serves no status port unless asked', async () => {
    const dir = tempDir();
    const node = await startServer({ addr: '127.0.0.1:0', dataDir: dir.path, logger: silentLogger() });
    expect(node.statusAddr).toBeUndefined();
    await node.close();
    dir.cleanup();
  });
});
