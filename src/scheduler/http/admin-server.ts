/**
 * The scheduler's admin HTTP API (PD's `/pd/api/v1` subset, routes.ts) on node:http. Every request
 * is bounded: body size, time to receive it, time to answer it, connections at once. Bad input is a
 * 4xx with `{"error", "code"}`; a bug is a 500 and a log line, never a crash.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { systemClock, type Clock } from '../../env/clock.js';
import { listenError } from '../../rpc/listen-error.js';
import { startBoundedHttpServer } from '../../util/http-server.js';
import type { SchedulerAdmin } from '../admin.js';
import { invalidArgument } from '../errors.js';
import { errorAnswer, HttpError, HttpErrorCode } from './errors.js';
import { dashboardRoutes } from './dashboard-routes.js';
import { MethodNotAllowed, RawAnswer, Router } from './router.js';
import { adminRoutes } from './routes.js';
import { statusRoutes, type StatusSource } from './status-routes.js';

export const DEFAULT_BODY_LIMIT_BYTES = 1024 * 1024;
export const DEFAULT_REQUEST_TIMEOUT_MS = 10_000;
export const DEFAULT_MAX_CONNECTIONS = 256;

export interface AdminHttpServerOptions {
  /** host:port to listen on; port 0 picks a free port. */
  readonly addr: string;
  readonly admin: SchedulerAdmin;
  readonly logger: Logger;
  /** For "paused" scheduler listings. Default: the system clock. */
  readonly clock?: Clock;
  readonly bodyLimitBytes?: number;
  /** Receiving a request and answering it must each finish within this. */
  readonly requestTimeoutMs?: number;
  readonly maxConnections?: number;
  /** Serves /metrics, /livez, /readyz, /status and /config from this; those paths are absent without it. */
  readonly status?: StatusSource;
}

export interface AdminHttpServer {
  /** The address listened on, with the real port when 0 was asked for. */
  readonly addr: string;
  /** Stops listening and closes every connection. Idempotent. */
  close(): Promise<void>;
}

export async function startAdminHttpServer(options: AdminHttpServerOptions): Promise<AdminHttpServer> {
  const router = new Router([
    ...adminRoutes(options.admin, options.clock ?? systemClock),
    ...(options.status ? statusRoutes(options.status) : []),
    ...dashboardRoutes(),
  ]);
  const limits = {
    bodyLimitBytes: options.bodyLimitBytes ?? DEFAULT_BODY_LIMIT_BYTES,
    timeoutMs: options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS,
  };
  return startBoundedHttpServer({
    addr: options.addr,
    requestTimeoutMs: limits.timeoutMs,
    maxConnections: options.maxConnections ?? DEFAULT_MAX_CONNECTIONS,
    logger: options.logger,
    name: 'scheduler admin HTTP API',
    handle: (req, res) => void handleRequest(router, limits, options.logger, req, res),
    listenError: (err) => listenError(options.addr, err),
  });
}

interface Limits {
  readonly bodyLimitBytes: number;
  readonly timeoutMs: number;
}

async function handleRequest(router: Router, limits: Limits, logger: Logger, req: IncomingMessage, res: ServerResponse): Promise<void> {
  try {
    const url = parseRequestUrl(req.url);
    const match = router.match(req.method ?? '', url.pathname);
    const body = await readJsonBody(req, limits.bodyLimitBytes, req.method === 'POST');
    const value = await withTimeout(
      Promise.resolve().then(() => match.handler({ params: match.params, query: url.searchParams, body })),
      limits.timeoutMs,
    );
    if (value instanceof RawAnswer) sendRaw(res, value);
    else sendJson(res, 200, value);
  } catch (err) {
    const answer = errorAnswer(err);
    if (!answer.expected) logger.error({ err, method: req.method, url: req.url }, 'admin API request failed');
    if (err instanceof MethodNotAllowed) res.setHeader('Allow', err.allowed.join(', '));
    // A body left unread (too large, or never read on a refusal) must not be parsed as the next request.
    if (!req.complete) res.setHeader('Connection', 'close');
    sendJson(res, answer.status, { error: answer.message, code: answer.code });
  }
}

function parseRequestUrl(target: string | undefined): URL {
  try {
    return new URL(target ?? '/', 'http://admin');
  } catch {
    throw invalidArgument('the request target is not a valid URL path');
  }
}

function sendJson(res: ServerResponse, status: number, value: unknown): void {
  if (res.headersSent || res.destroyed) return;
  const text = JSON.stringify(value ?? null);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function sendRaw(res: ServerResponse, answer: RawAnswer): void {
  if (res.headersSent || res.destroyed) return;
  res.writeHead(answer.status, {
    'content-type': answer.contentType,
    'content-length': Buffer.byteLength(answer.body),
    // Health and metrics are read live; the dashboard's files change with a rebuild only.
    'cache-control': 'no-store',
  });
  res.end(answer.body);
}

/**
 * The body parsed as JSON (undefined when empty, or read and ignored when `parse` is false: only
 * POST routes take one); 413 past the limit, 400 when not JSON.
 */
async function readJsonBody(req: IncomingMessage, limitBytes: number, parse: boolean): Promise<unknown> {
  const tooLarge = () => new HttpError(413, HttpErrorCode.BodyTooLarge, `the request body is over ${limitBytes} bytes`);
  if (Number(req.headers['content-length'] ?? 0) > limitBytes) throw tooLarge();
  const text = await new Promise<string>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let sizeBytes = 0;
    const onData = (chunk: Buffer) => {
      sizeBytes += chunk.byteLength;
      if (sizeBytes <= limitBytes) return void chunks.push(chunk);
      // Stop reading but keep the socket: the 413 goes out, then the connection closes.
      req.off('data', onData);
      req.pause();
      reject(tooLarge());
    };
    req.on('data', onData);
    req.once('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.once('error', reject);
  });
  if (text.length === 0 || !parse) return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new HttpError(400, HttpErrorCode.MalformedJson, 'the request body is not valid JSON');
  }
}

function withTimeout<T>(work: Promise<T>, timeoutMs: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new HttpError(503, HttpErrorCode.Timeout, `the request did not finish within ${timeoutMs} ms`)), timeoutMs);
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}
