/**
 * A store's status HTTP server (TiKV's status port): `/metrics` in Prometheus text, `/livez`,
 * `/readyz`, `/status` and `/config` as JSON. Only GET; unknown paths are 404 and other methods
 * 405, answered as the scheduler's admin API does (`{"error", "code"}`, KV:Http:* codes). Every
 * request is bounded in time and the connections at once are capped.
 *
 * It shares the admin API's `KV:Http:*` codes (docs/errors.md) but not its module: the scheduler
 * reports its own metrics through this folder, so this folder must not import the scheduler.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { TinyKvError } from '../util/errors.js';
import { startBoundedHttpServer } from '../util/http-server.js';
import { buildInfo } from './build-info.js';

export const STATUS_REQUEST_TIMEOUT_MS = 10_000;
export const STATUS_MAX_CONNECTIONS = 64;

export type PeerRole = 'leader' | 'follower';

/** Whether the process serves traffic now; `reason` says why not. */
export interface Readiness {
  readonly ready: boolean;
  readonly reason?: string;
}

/** What the status server reports on; the node behind it answers each on demand. */
export interface StatusSource {
  readonly registry: Registry;
  /** The store's id; undefined for a standalone node. */
  readonly storeId: number | undefined;
  /** The gRPC address served. */
  readonly addr: string;
  /** The effective configuration (secrets are redacted before it is sent). */
  readonly config: object;
  readiness(): Readiness;
  /** Region id -> role of the peer here; empty for a standalone node. */
  peerRoles(): ReadonlyMap<number, PeerRole>;
}

export interface StatusServerOptions {
  /** host:port; port 0 picks a free port. */
  readonly addr: string;
  readonly source: StatusSource;
  readonly logger: Logger;
  readonly requestTimeoutMs?: number;
  readonly maxConnections?: number;
}

export interface StatusServer {
  /** The address listened on, with the real port when 0 was asked for. */
  readonly addr: string;
  /** Stops listening and closes every connection. Idempotent. */
  close(): Promise<void>;
}

interface Answer {
  readonly status: number;
  readonly contentType: string;
  readonly body: string;
}

/** The admin API's codes for the same refusals (docs/errors.md, "Admin HTTP API"). */
const HttpCode = {
  NotFound: 'KV:Http:NotFound',
  MethodNotAllowed: 'KV:Http:MethodNotAllowed',
  Timeout: 'KV:Http:Timeout',
} as const;

/** What a bug is answered with, as at the gRPC edge and in the admin API. */
const UNEXPECTED_ERROR_CODE = 'KV:Internal:Unexpected';

/** A refusal answered with `status` and `{"error", "code"}`. */
class StatusHttpError extends TinyKvError {
  constructor(
    readonly status: number,
    code: (typeof HttpCode)[keyof typeof HttpCode],
    message: string,
  ) {
    super(code, message);
  }
}

type Route = (source: StatusSource, startedAtMs: number) => Answer | Promise<Answer>;

const ROUTES: ReadonlyMap<string, Route> = new Map<string, Route>([
  ['/metrics', async (source) => ({ status: 200, contentType: source.registry.contentType, body: await source.registry.metrics() })],
  ['/livez', () => json(200, { status: 'live' })],
  ['/readyz', (source) => readyz(source.readiness())],
  ['/status', (source, startedAtMs) => json(200, statusBody(source, startedAtMs))],
  ['/config', (source) => json(200, redactSecrets(source.config))],
]);

/**
 * Starts the server; rejects with the listen error as Node reports it (EADDRINUSE, ...). The
 * caller names it for the operator (src/rpc/listen-error.ts): this folder imports no store layer.
 */
export async function startStatusServer(options: StatusServerOptions): Promise<StatusServer> {
  const timeoutMs = options.requestTimeoutMs ?? STATUS_REQUEST_TIMEOUT_MS;
  const startedAtMs = Date.now();
  return startBoundedHttpServer({
    addr: options.addr,
    requestTimeoutMs: timeoutMs,
    maxConnections: options.maxConnections ?? STATUS_MAX_CONNECTIONS,
    logger: options.logger,
    name: 'status server',
    handle: (req, res) => void handleRequest(options, timeoutMs, startedAtMs, req, res),
  });
}

async function handleRequest(
  options: StatusServerOptions,
  timeoutMs: number,
  startedAtMs: number,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  // Nothing here takes a body; one left unread must not be parsed as the next request.
  req.resume();
  try {
    const route = routeFor(req.method ?? '', req.url ?? '/');
    send(
      res,
      await withTimeout(
        Promise.resolve().then(() => route(options.source, startedAtMs)),
        timeoutMs,
      ),
    );
  } catch (err) {
    if (err instanceof StatusHttpError) {
      if (err.code === HttpCode.MethodNotAllowed) res.setHeader('Allow', 'GET');
      send(res, json(err.status, { error: err.message, code: err.code }));
      return;
    }
    // A bug (or a collector that threw): the log has it, the client a generic answer.
    options.logger.error({ err, method: req.method, url: req.url }, 'status request failed');
    send(res, json(500, { error: 'internal error', code: UNEXPECTED_ERROR_CODE }));
  }
}

function routeFor(method: string, target: string): Route {
  const path = target.split('?', 1)[0] ?? '/';
  const route = ROUTES.get(path.length > 1 && path.endsWith('/') ? path.slice(0, -1) : path);
  if (route === undefined) throw new StatusHttpError(404, HttpCode.NotFound, 'no such status path');
  if (method !== 'GET') throw new StatusHttpError(405, HttpCode.MethodNotAllowed, 'method not allowed here; allowed: GET');
  return route;
}

function readyz(readiness: Readiness): Answer {
  return readiness.ready ? json(200, { status: 'ready' }) : json(503, { status: 'not ready', reason: readiness.reason ?? 'unknown' });
}

function statusBody(source: StatusSource, startedAtMs: number): unknown {
  const { version, gitHash } = buildInfo();
  const roles: Record<string, PeerRole> = {};
  for (const [regionId, role] of source.peerRoles()) roles[String(regionId)] = role;
  return {
    version,
    git_hash: gitHash,
    uptime_seconds: Math.floor((Date.now() - startedAtMs) / 1000),
    store_id: source.storeId ?? null,
    address: source.addr,
    regions: roles,
  };
}

/** Names whose values are never shown (a TLS key file, a password, a token). */
const SECRET_NAME = /password|secret|token|key[-_]?file/i;

/** A JSON-ready copy of `value` with every secret-named field's value replaced. */
export function redactSecrets(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(redactSecrets);
  if (typeof value !== 'object' || value === null) return value ?? null;
  const copy: Record<string, unknown> = {};
  for (const [name, field] of Object.entries(value)) {
    copy[name] = SECRET_NAME.test(name) && field !== undefined && field !== null ? '<redacted>' : redactSecrets(field);
  }
  return copy;
}

function json(status: number, value: unknown): Answer {
  return { status, contentType: 'application/json; charset=utf-8', body: JSON.stringify(value) };
}

function send(res: ServerResponse, answer: Answer): void {
  if (res.headersSent || res.destroyed) return;
  res.writeHead(answer.status, { 'content-type': answer.contentType, 'content-length': Buffer.byteLength(answer.body) });
  res.end(answer.body);
}

function withTimeout<T>(work: Promise<T>, timeoutMs: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new StatusHttpError(503, HttpCode.Timeout, `the request did not finish within ${timeoutMs} ms`)), timeoutMs);
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}
