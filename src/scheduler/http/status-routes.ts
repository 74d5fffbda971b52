/**
 * The scheduler's status endpoints beside the admin API, as TiKV's and PD's status ports have them:
 * `/metrics` (Prometheus text), `/livez` (the process answers), `/readyz` (bootstrapped and serving;
 * 503 otherwise, so a load balancer or a script waits for it), `/status` and `/config` (JSON).
 * Nothing here computes anything; StatusSource (../status-source.ts) gathers the values.
 */
import { RawAnswer, type Route } from './router.js';

const TEXT = 'text/plain; charset=utf-8';

export interface Readiness {
  readonly bootstrapped: boolean;
  /** gRPC bound and not stopping. */
  readonly serving: boolean;
}

export interface StatusSource {
  metricsText(): Promise<string>;
  readonly metricsContentType: string;
  readiness(): Readiness;
  /** Version, git hash, uptime, cluster id and addresses. */
  status(): Promise<Record<string, unknown>>;
  /** The live schedule config, the schedulers and the flags the scheduler started with. */
  config(): Record<string, unknown>;
}

export function statusRoutes(source: StatusSource): Route[] {
  return [
    { method: 'GET', pattern: '/metrics', handler: async () => new RawAnswer(200, source.metricsContentType, await source.metricsText()) },
    { method: 'GET', pattern: '/livez', handler: () => new RawAnswer(200, TEXT, 'ok\n') },
    { method: 'GET', pattern: '/readyz', handler: () => readyAnswer(source.readiness()) },
    { method: 'GET', pattern: '/status', handler: () => source.status() },
    { method: 'GET', pattern: '/config', handler: () => source.config() },
  ];
}

function readyAnswer(readiness: Readiness): RawAnswer {
  const missing = [...(readiness.bootstrapped ? [] : ['not bootstrapped']), ...(readiness.serving ? [] : ['not serving'])];
  return missing.length === 0 ? new RawAnswer(200, TEXT, 'ok\n') : new RawAnswer(503, TEXT, `not ready: ${missing.join(', ')}\n`);
}
