/**
 * A path router for a fixed route table: `/store/:id` style patterns, matched segment by segment on
 * the raw path, each segment URL-decoded after the split (so an encoded "/" stays inside its segment).
 * Unknown paths are 404, known paths with another method 405 (with the methods allowed).
 */
import { HttpError, HttpErrorCode } from './errors.js';
import { invalidArgument } from '../errors.js';

export type Method = 'GET' | 'POST' | 'DELETE';

export interface RouteContext {
  readonly params: Readonly<Record<string, string>>;
  readonly query: URLSearchParams;
  /** The parsed JSON body (undefined when empty). */
  readonly body: unknown;
}

/** Answers the JSON value to send with status 200, or a RawAnswer. */
export type RouteHandler = (context: RouteContext) => unknown;

/** An answer sent as given rather than as JSON with status 200: metrics text, health lines, dashboard files. */
export class RawAnswer {
  constructor(
    readonly status: number,
    readonly contentType: string,
    readonly body: string | Buffer,
  ) {}
}

export interface Route {
  readonly method: Method;
  /** e.g. `/pd/api/v1/store/:id`. */
  readonly pattern: string;
  readonly handler: RouteHandler;
}

interface CompiledRoute extends Route {
  readonly segments: readonly string[];
}

export interface RouteMatch {
  readonly handler: RouteHandler;
  readonly params: Record<string, string>;
}

export class Router {
  private readonly routes: readonly CompiledRoute[];

  constructor(routes: readonly Route[]) {
    this.routes = routes.map((route) => ({ ...route, segments: route.pattern.split('/').slice(1) }));
  }

  /** The route for `method` and `rawPath` (still URL-encoded); throws 404 or 405 HttpError. */
  match(method: string, rawPath: string): RouteMatch {
    const segments = decodeSegments(rawPath);
    const allowed: Method[] = [];
    for (const route of this.routes) {
      const params = matchSegments(route.segments, segments);
      if (!params) continue;
      if (route.method === method) return { handler: route.handler, params };
      allowed.push(route.method);
    }
    if (allowed.length === 0) throw new HttpError(404, HttpErrorCode.NotFound, 'no such API path');
    throw new MethodNotAllowed(allowed);
  }
}

/** 405 with what the path takes (the Allow header). */
export class MethodNotAllowed extends HttpError {
  constructor(readonly allowed: readonly Method[]) {
    super(405, HttpErrorCode.MethodNotAllowed, `method not allowed here; allowed: ${allowed.join(', ')}`);
  }
}

function decodeSegments(rawPath: string): string[] {
  const trimmed = rawPath.length > 1 && rawPath.endsWith('/') ? rawPath.slice(0, -1) : rawPath;
  try {
    return trimmed.split('/').slice(1).map(decodeURIComponent);
  } catch {
    throw invalidArgument('the path is not valid URL encoding');
  }
}

function matchSegments(pattern: readonly string[], segments: readonly string[]): Record<string, string> | undefined {
  if (pattern.length !== segments.length) return undefined;
  const params: Record<string, string> = {};
  for (const [i, part] of pattern.entries()) {
    const segment = segments[i] ?? '';
    if (part.startsWith(':')) params[part.slice(1)] = segment;
    else if (part !== segment) return undefined;
  }
  return params;
}
