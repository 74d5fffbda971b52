/**
 * The route table of PD's `/pd/api/v1` subset that pd-ctl uses, each route one call on
 * SchedulerAdmin with its JSON mapping. Answers that PD gives as a plain message are JSON strings.
 */
import type { Clock } from '../../env/clock.js';
import type { SchedulerAdmin } from '../admin.js';
import type { RegionInfo } from '../cluster-state.js';
import { invalidArgument } from '../errors.js';
import { HttpError, HttpErrorCode } from './errors.js';
import {
  clusterStatusJson,
  configJson,
  memberJson,
  operatorJson,
  regionJson,
  regionsJson,
  replicationConfigJson,
  scheduleConfigJson,
  storeJson,
  storesJson,
} from './pd-json.js';
import { configPatch, operatorRequest, pathId, pauseDelaySeconds, schedulerName } from './requests.js';
import type { Route, RouteContext } from './router.js';

export const API_PREFIX = '/pd/api/v1';

/** PD's region checks (`/regions/check/{type}`), given the configured replica count. */
const REGION_CHECKS: Readonly<Record<string, (region: RegionInfo, maxReplicas: number) => boolean>> = {
  'miss-peer': (r, max) => r.region.peers.length < max,
  'extra-peer': (r, max) => r.region.peers.length > max,
  'down-peer': (r) => r.downPeers.length > 0,
  'pending-peer': (r) => r.pendingPeers.length > 0,
};

function param(context: RouteContext, name: string): string {
  return context.params[name] ?? '';
}

export function adminRoutes(admin: SchedulerAdmin, clock: Clock): Route[] {
  const route = (method: Route['method'], path: string, handler: Route['handler']): Route => ({ method, pattern: API_PREFIX + path, handler });
  return [
    route('GET', '/health', () => admin.members().map((m) => ({ ...memberJson(m), health: true }))),
    route('GET', '/members', () => {
      const members = admin.members().map(memberJson);
      return { members, ...(members[0] ? { leader: members[0] } : {}) };
    }),
    route('GET', '/cluster', () => ({ id: admin.clusterStatus().clusterId, max_peer_count: admin.config().maxReplicas })),
    route('GET', '/cluster/status', () => clusterStatusJson(admin.clusterStatus())),
    ...storeRoutes(admin, route),
    ...regionRoutes(admin, route),
    ...operatorRoutes(admin, route),
    ...schedulerRoutes(admin, clock, route),
    ...configRoutes(admin, route),
  ];
}

type RouteMaker = (method: Route['method'], path: string, handler: Route['handler']) => Route;

function storeRoutes(admin: SchedulerAdmin, route: RouteMaker): Route[] {
  return [
    route('GET', '/stores', () => storesJson(admin.stores())),
    route('GET', '/store/:id', (c) => storeJson(admin.store(pathId(param(c, 'id'), 'store id')))),
    route('DELETE', '/store/:id', async (c) => {
      await admin.deleteStore(pathId(param(c, 'id'), 'store id'));
      return 'The store is set as Offline.';
    }),
  ];
}

function regionRoutes(admin: SchedulerAdmin, route: RouteMaker): Route[] {
  return [
    route('GET', '/regions', () => regionsJson(admin.regions())),
    route('GET', '/region/id/:id', (c) => regionJson(admin.region(pathId(param(c, 'id'), 'region id')))),
    route('GET', '/region/key/:key', (c) => regionJson(admin.regionByKey(Buffer.from(param(c, 'key'), 'utf8')))),
    route('GET', '/regions/check/:type', (c) => {
      const type = param(c, 'type');
      const check = Object.hasOwn(REGION_CHECKS, type) ? REGION_CHECKS[type] : undefined;
      if (!check) throw invalidArgument(`unknown region check; known: ${Object.keys(REGION_CHECKS).join(', ')}`);
      const maxReplicas = admin.config().maxReplicas;
      return regionsJson(admin.regions().filter((r) => check(r, maxReplicas)));
    }),
  ];
}

function operatorRoutes(admin: SchedulerAdmin, route: RouteMaker): Route[] {
  return [
    route('GET', '/operators', () => admin.operators().map(operatorJson)),
    route('POST', '/operators', async (c) => operatorJson(await admin.addOperator(operatorRequest(c.body)))),
    // Before `/operators/:region_id`, which would take "records" for a region id.
    route('GET', '/operators/records', (c) => {
      const limit = c.query.get('limit');
      const history = admin.operatorHistory();
      return (limit === null ? history : history.slice(-pathId(limit, 'limit'))).map(operatorJson);
    }),
    route('GET', '/operators/:region_id', (c) => operatorJson(admin.operator(pathId(param(c, 'region_id'), 'region id')))),
    route('DELETE', '/operators/:region_id', (c) => {
      const regionId = pathId(param(c, 'region_id'), 'region id');
      if (!admin.removeOperator(regionId)) throw new HttpError(404, HttpErrorCode.NotFound, `region ${regionId} has no running operator`);
      return 'The pending operator is canceled.';
    }),
  ];
}

function schedulerRoutes(admin: SchedulerAdmin, clock: Clock, route: RouteMaker): Route[] {
  return [
    route('GET', '/schedulers', (c) => {
      const status = c.query.get('status');
      if (status !== null && status !== 'paused') throw invalidArgument('"status" may only be "paused"');
      const nowMs = clock.nowMs();
      return admin
        .schedulers()
        .filter((s) => status === null || s.pausedUntilMs > nowMs)
        .map((s) => s.name);
    }),
    route('POST', '/schedulers', async (c) => {
      await admin.addScheduler(schedulerName(c.body));
      return 'The scheduler is created.';
    }),
    route('DELETE', '/schedulers/:name', async (c) => {
      await admin.removeScheduler(param(c, 'name'));
      return 'The scheduler is removed.';
    }),
    route('POST', '/schedulers/:name', async (c) => {
      const delaySeconds = pauseDelaySeconds(c.body);
      await admin.pauseScheduler(param(c, 'name'), delaySeconds);
      return delaySeconds === 0 ? 'Resume the scheduler successfully.' : 'Pause the scheduler successfully.';
    }),
  ];
}

function configRoutes(admin: SchedulerAdmin, route: RouteMaker): Route[] {
  const update = async (c: RouteContext) => configJson(await admin.setConfig(configPatch(c.body)));
  return [
    route('GET', '/config', () => configJson(admin.config())),
    route('POST', '/config', update),
    route('GET', '/config/schedule', () => scheduleConfigJson(admin.config())),
    route('POST', '/config/schedule', update),
    route('GET', '/config/replicate', () => replicationConfigJson(admin.config())),
    route('POST', '/config/replicate', update),
  ];
}
