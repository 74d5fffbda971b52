/**
 * The admin API's JSON (docs/admin-api.md) as aligned tables for `tinykv ctl --output table`.
 * Fields a server leaves out print as "-".
 */
import { renderTable } from '../output.js';

interface ApiPeer {
  readonly id: number;
  readonly store_id: number;
}

export interface ApiStore {
  readonly store: { readonly id: number; readonly address: string; readonly state_name: string };
  readonly status: {
    readonly capacity?: string;
    readonly available?: string;
    readonly leader_count?: number;
    readonly region_count?: number;
    readonly pending_peer_count?: number;
    readonly last_heartbeat_ts?: string;
  };
}

export interface ApiRegion {
  readonly id: number;
  readonly start_key: string;
  readonly end_key: string;
  readonly epoch?: { readonly conf_ver: number; readonly version: number };
  readonly peers?: readonly ApiPeer[];
  readonly leader?: ApiPeer;
  readonly pending_peers?: readonly ApiPeer[];
  readonly down_peers?: ReadonlyArray<{ readonly peer: ApiPeer; readonly down_seconds: number }>;
  readonly approximate_size?: number;
  readonly approximate_keys?: number;
}

export interface ApiOperator {
  readonly region_id: number;
  readonly desc: string;
  readonly kind: string;
  readonly status: string;
  readonly steps: readonly string[];
  readonly step_index: number;
  readonly create_time: string;
}

const text = (value: string | number | boolean | undefined): string => (value === undefined || value === '' ? '-' : String(value));

export function storesTable(stores: readonly ApiStore[]): string {
  const rows = stores.map(({ store, status }) => [
    String(store.id),
    store.address,
    store.state_name,
    text(status.leader_count),
    text(status.region_count),
    text(status.pending_peer_count ?? 0),
    text(status.capacity),
    text(status.available),
    text(status.last_heartbeat_ts),
  ]);
  return renderTable(['ID', 'ADDRESS', 'STATE', 'LEADERS', 'REGIONS', 'PENDING', 'CAPACITY', 'AVAILABLE', 'LAST HEARTBEAT'], rows);
}

/** Peers as `peer@store`, the leader starred. */
function peersCell(region: ApiRegion): string {
  return (region.peers ?? []).map((p) => `${p.id}@${p.store_id}${p.id === region.leader?.id ? '*' : ''}`).join(',');
}

export function regionsTable(regions: readonly ApiRegion[]): string {
  const rows = regions.map((r) => [
    String(r.id),
    text(r.start_key),
    text(r.end_key),
    r.epoch ? `${r.epoch.conf_ver}/${r.epoch.version}` : '-',
    text(peersCell(r)),
    text(r.leader?.store_id),
    text((r.pending_peers ?? []).map((p) => p.id).join(',')),
    text((r.down_peers ?? []).map((d) => `${d.peer.id}(${d.down_seconds}s)`).join(',')),
    text(r.approximate_size),
    text(r.approximate_keys),
  ]);
  const table = renderTable(
    ['ID', 'START KEY', 'END KEY', 'CONF/VER', 'PEERS (leader *)', 'LEADER STORE', 'PENDING', 'DOWN', 'SIZE MiB', 'KEYS'],
    rows,
  );
  return `${table}\n(${regions.length} regions; keys in hex, "-" is unbounded)`;
}

export function operatorsTable(operators: readonly ApiOperator[]): string {
  const rows = operators.map((op) => [
    String(op.region_id),
    op.desc,
    op.kind,
    op.status,
    `${Math.min(op.step_index + 1, op.steps.length)}/${op.steps.length}`,
    op.steps.join('; '),
    op.create_time,
  ]);
  return renderTable(['REGION', 'DESC', 'KIND', 'STATUS', 'STEP', 'STEPS', 'CREATED'], rows);
}

export function schedulersTable(names: readonly string[], paused: ReadonlySet<string>): string {
  return renderTable(
    ['NAME', 'STATE'],
    names.map((name) => [name, paused.has(name) ? 'paused' : 'running']),
  );
}

/** Config sections as `KEY VALUE` rows (`schedule.leader-schedule-limit  4`). */
export function configTable(config: Readonly<Record<string, unknown>>): string {
  const rows: string[][] = [];
  for (const [section, values] of Object.entries(config)) {
    if (typeof values !== 'object' || values === null) rows.push([section, JSON.stringify(values)]);
    else for (const [key, value] of Object.entries(values)) rows.push([key, typeof value === 'string' ? value : JSON.stringify(value)]);
  }
  return renderTable(['KEY', 'VALUE'], rows);
}

export interface ApiMember {
  readonly name: string;
  readonly member_id: number;
  readonly client_urls: readonly string[];
  readonly health?: boolean;
}

export function healthTable(members: readonly ApiMember[]): string {
  return renderTable(
    ['NAME', 'MEMBER ID', 'CLIENT URLS', 'HEALTH'],
    members.map((m) => [m.name, String(m.member_id), m.client_urls.join(','), m.health === true ? 'ok' : 'unhealthy']),
  );
}
