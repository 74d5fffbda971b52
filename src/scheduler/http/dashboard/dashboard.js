// The live cluster page: polls the scheduler's admin API (docs/admin-api.md) and redraws the
// tables. No framework and no build step: the scheduler serves this file as it is. Values reach
// the page through textContent only, so nothing a store reports (an address) is parsed as HTML.

const API = '/pd/api/v1';
const POLL_INTERVAL_MS = 1500;
// A poll that takes longer is abandoned; the next one starts on schedule.
const REQUEST_TIMEOUT_MS = 5000;
// Past this many regions the map lists the first ones only; a browser table of tens of thousands of rows is slow.
const MAX_REGION_ROWS = 1000;
const HISTORY_ROWS = 20;

/** An element with attributes (`class`, `data-*`, ...) and children (strings become text). */
function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) if (value !== undefined) node.setAttribute(name, String(value));
  for (const child of children) node.append(child instanceof Node ? child : String(child ?? ''));
  return node;
}

function fillBody(table, rows) {
  document.querySelector(`#${table} tbody`).replaceChildren(...rows);
}

/** Rows, or one "none" row across `columns` so an empty table reads as empty rather than broken. */
function orNone(rows, columns) {
  return rows.length > 0 ? rows : [el('tr', { class: 'none' }, el('td', { colspan: columns, class: 'muted' }, 'none'))];
}

async function getJson(path) {
  const response = await fetch(API + path, { signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS), cache: 'no-store' });
  if (!response.ok) throw new Error(`${path}: HTTP ${response.status}`);
  return response.json();
}

/** A region boundary (upper-case hex) as text when it is printable ASCII, else shortened hex; "" is unbounded. */
function showKey(hex, unbounded) {
  if (hex === '') return unbounded;
  const bytes = hex.match(/../g).map((pair) => parseInt(pair, 16));
  if (bytes.every((b) => b >= 0x20 && b < 0x7f)) return JSON.stringify(String.fromCharCode(...bytes));
  return hex.length > 24 ? `0x${hex.slice(0, 24)}…` : `0x${hex}`;
}

function ago(isoTime) {
  if (!isoTime) return 'never';
  const seconds = Math.max(0, Math.round((Date.now() - Date.parse(isoTime)) / 1000));
  if (seconds < 120) return `${seconds}s ago`;
  return seconds < 7200 ? `${Math.round(seconds / 60)}m ago` : `${Math.round(seconds / 3600)}h ago`;
}

function clockTime(isoTime) {
  return isoTime ? new Date(isoTime).toLocaleTimeString() : '';
}

/** Keys and bytes per second a store reported for its last heartbeat interval. */
function flowOf(status) {
  const seconds = status.interval_seconds > 0 ? status.interval_seconds : 0;
  const rate = (n) => (seconds > 0 ? n / seconds : 0);
  return {
    writeKeys: rate(status.keys_written ?? 0),
    writeBytes: rate(status.bytes_written ?? 0),
    readKeys: rate(status.keys_read ?? 0),
    readBytes: rate(status.bytes_read ?? 0),
  };
}

function showRate(n) {
  return n >= 10 ? Math.round(n).toLocaleString() : n.toFixed(1);
}

function showBytesRate(n) {
  const units = ['B', 'KiB', 'MiB', 'GiB'];
  let unit = 0;
  while (n >= 1024 && unit < units.length - 1) {
    n /= 1024;
    unit++;
  }
  return `${n >= 10 || unit === 0 ? Math.round(n) : n.toFixed(1)} ${units[unit]}/s`;
}

/** The cluster's throughput: the sum over stores that are Up (a silent store's last report is stale). */
function renderThroughput(stores) {
  const up = stores.filter(({ store }) => store.state_name === 'Up');
  const total = { writeKeys: 0, writeBytes: 0, readKeys: 0, readBytes: 0 };
  for (const { status } of up) {
    const flow = flowOf(status);
    for (const key of Object.keys(total)) total[key] += flow[key];
  }
  const text =
    `writes ${showRate(total.writeKeys)} keys/s (${showBytesRate(total.writeBytes)}), ` +
    `reads ${showRate(total.readKeys)} keys/s (${showBytesRate(total.readBytes)}) over ${up.length} store${up.length === 1 ? '' : 's'} up`;
  const line = document.querySelector('#throughput');
  line.textContent = text;
  line.dataset.writeKeys = String(total.writeKeys);
  line.dataset.readKeys = String(total.readKeys);
}

function renderStores(stores) {
  document.querySelector('#store-count').textContent = `(${stores.length})`;
  const rows = stores.map(({ store, status }) => {
    const flow = flowOf(status);
    return el(
      'tr',
      { 'data-store-id': store.id, 'data-state': store.state_name },
      el('td', { class: 'num' }, store.id),
      el('td', {}, store.address),
      el('td', { class: `state state-${store.state_name}` }, store.state_name),
      el('td', { class: 'num' }, status.capacity),
      el('td', { class: 'num' }, status.used_size),
      el('td', { class: 'num' }, status.available),
      el('td', { class: 'num regions' }, status.region_count),
      el('td', { class: 'num leaders' }, status.leader_count),
      el('td', { class: 'num writes' }, showRate(flow.writeKeys)),
      el('td', { class: 'num reads' }, showRate(flow.readKeys)),
      el('td', { title: status.last_heartbeat_ts ?? '' }, ago(status.last_heartbeat_ts)),
    );
  });
  fillBody('stores', rows);
}

/** One region's peer on `storeId`: leader, down, pending or follower; undefined when it has none there. */
function peerRole(region, storeId) {
  const peer = region.peers.find((p) => p.store_id === storeId);
  if (!peer) return undefined;
  if (region.down_peers.some((d) => d.peer.id === peer.id)) return 'down';
  if (region.pending_peers.some((p) => p.id === peer.id)) return 'pending';
  return region.leader?.id === peer.id ? 'leader' : 'follower';
}

const ROLE_MARK = { leader: 'L', follower: 'F', pending: 'P', down: 'D' };

function renderRegions(regions, stores) {
  const withPeers = new Set(regions.flatMap((r) => r.peers.map((p) => p.store_id)));
  // A column per store that can hold replicas, and per tombstone some region still names.
  const storeIds = stores
    .filter(({ store }) => store.state_name !== 'Tombstone' || withPeers.has(store.id))
    .map(({ store }) => store.id)
    .sort((a, b) => a - b);
  const head = ['region', 'start key', 'end key', 'size (MiB)', ...storeIds.map((id) => `store ${id}`)];
  document.querySelector('#regions thead tr').replaceChildren(...head.map((text) => el('th', {}, text)));
  const ordered = [...regions].sort((a, b) => (a.start_key < b.start_key ? -1 : a.start_key > b.start_key ? 1 : 0));
  const shown = ordered.slice(0, MAX_REGION_ROWS);
  const more = ordered.length - shown.length;
  document.querySelector('#region-count').textContent = more > 0 ? `(${regions.length}; first ${shown.length} shown)` : `(${regions.length})`;
  const rows = shown.map((region) =>
    el(
      'tr',
      { 'data-region-id': region.id, 'data-leader-store': region.leader?.store_id },
      el('td', { class: 'num' }, region.id),
      el('td', { class: 'key' }, showKey(region.start_key, '−∞')),
      el('td', { class: 'key' }, showKey(region.end_key, '+∞')),
      el('td', { class: 'num' }, region.approximate_size),
      ...storeIds.map((storeId) => {
        const role = peerRole(region, storeId);
        const mark = role ? el('span', { class: `peer ${role}` }, ROLE_MARK[role]) : '';
        return el('td', { class: 'peer-cell', 'data-store-id': storeId, 'data-role': role }, mark);
      }),
    ),
  );
  fillBody('regions', rows);
}

function renderOperators(running, history) {
  fillBody(
    'operators',
    orNone(
      running.map((op) =>
        el(
          'tr',
          { 'data-region-id': op.region_id },
          el('td', { class: 'num' }, op.region_id),
          el('td', {}, op.desc),
          el('td', {}, op.kind),
          el('td', {}, `${op.step_index + 1}/${op.steps.length}: ${op.steps[op.step_index] ?? ''}`),
          el('td', {}, clockTime(op.create_time)),
        ),
      ),
      5,
    ),
  );
  const recent = history.slice(-HISTORY_ROWS).reverse();
  fillBody(
    'history',
    orNone(
      recent.map((op) =>
        el(
          'tr',
          { 'data-region-id': op.region_id },
          el('td', { class: 'num' }, op.region_id),
          el('td', {}, op.desc),
          el('td', {}, op.kind),
          el('td', { class: `status-${op.status}` }, op.status),
          el('td', {}, clockTime(op.finish_time)),
          el('td', { class: 'num' }, op.finish_time ? `${(Date.parse(op.finish_time) - Date.parse(op.create_time)) / 1000}s` : ''),
        ),
      ),
      6,
    ),
  );
}

function showError(message) {
  const banner = document.querySelector('#error');
  banner.hidden = message === undefined;
  banner.textContent = message ?? '';
}

async function refresh() {
  const [status, stores, regions, running, history] = await Promise.all([
    getJson('/cluster/status'),
    getJson('/stores'),
    getJson('/regions'),
    getJson('/operators'),
    getJson(`/operators/records?limit=${HISTORY_ROWS}`),
  ]);
  document.querySelector('#cluster').textContent = `cluster ${status.cluster_id}${status.bootstrapped ? '' : ' (not bootstrapped)'}`;
  const storeList = [...stores.stores].sort((a, b) => a.store.id - b.store.id);
  renderThroughput(storeList);
  renderStores(storeList);
  renderRegions(regions.regions, storeList);
  renderOperators(running, history);
  document.querySelector('#updated').textContent = `updated ${new Date().toLocaleTimeString()}`;
}

async function poll() {
  try {
    await refresh();
    showError(undefined);
  } catch (err) {
    showError(`cannot reach the scheduler: ${err instanceof Error ? err.message : String(err)}`);
  }
  setTimeout(() => void poll(), POLL_INTERVAL_MS);
}

void poll();
