/**
 * What the scheduler's status endpoints (http/status-routes.ts) answer, gathered from its parts:
 * readiness, identity (version, commit, uptime, cluster id, addresses) and the effective
 * configuration (live schedule config, schedulers, start flags; the scheduler has no secrets).
 */
import type { Clock } from '../env/clock.js';
import type { SchedulerMetrics } from '../metrics/scheduler-metrics.js';
import type { SchedulerAdmin } from './admin.js';
import { buildInfo } from './http/build-info.js';
import { scheduleConfigJson, replicationConfigJson } from './http/pd-json.js';
import type { Readiness, StatusSource } from './http/status-routes.js';

export interface StatusSourceDeps {
  readonly admin: SchedulerAdmin;
  readonly metrics: SchedulerMetrics;
  readonly clock: Clock;
  readonly startMs: number;
  readonly clusterId: bigint;
  readonly addr: string;
  /** The admin HTTP address, known once it listens. */
  readonly statusAddr: () => string | undefined;
  readonly readiness: () => Readiness;
  /** The options the scheduler started with, as plain values. */
  readonly flags: Readonly<Record<string, unknown>>;
}

export function schedulerStatusSource(deps: StatusSourceDeps): StatusSource {
  const { admin } = deps;
  return {
    metricsText: () => deps.metrics.metricsText(),
    metricsContentType: deps.metrics.contentType,
    readiness: deps.readiness,
    status: async () => {
      const build = await buildInfo();
      return {
        component: 'scheduler',
        version: build.version,
        git_hash: build.gitHash,
        start_time: new Date(deps.startMs).toISOString(),
        uptime_seconds: Math.max(0, Math.floor((deps.clock.nowMs() - deps.startMs) / 1000)),
        cluster_id: String(deps.clusterId),
        bootstrapped: admin.clusterStatus().bootstrapped,
        address: deps.addr,
        status_address: deps.statusAddr(),
      };
    },
    config: () => {
      const config = admin.config();
      return {
        schedule: scheduleConfigJson(config),
        replication: replicationConfigJson(config),
        schedulers: admin.schedulers().map((s) => s.name),
        flags: deps.flags,
      };
    },
  };
}
