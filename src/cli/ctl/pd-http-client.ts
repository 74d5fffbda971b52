/**
 * The scheduler's admin HTTP API (`/pd/api/v1`) from the command line: global fetch, one deadline
 * per call (AbortSignal), JSON in and out. A refusal becomes an AdminApiError carrying the server's
 * code; an unreachable or silent server an AdminUnreachableError naming the URL.
 */
import { TinyKvError } from '../../util/errors.js';

export const CtlErrorCode = {
  /** The admin API answered with an error status; `serverCode` holds its code. */
  AdminApi: 'KV:Cli:AdminApi',
  /** The admin API could not be reached, or did not answer within the deadline. */
  AdminUnreachable: 'KV:Cli:AdminUnreachable',
} as const;

export class AdminApiError extends TinyKvError {
  constructor(
    readonly status: number,
    readonly serverCode: string,
    serverMessage: string,
  ) {
    super(CtlErrorCode.AdminApi, `${serverMessage} (${serverCode}, HTTP ${status})`, { status, serverCode });
  }
}

export class AdminUnreachableError extends TinyKvError {
  constructor(url: string, cause: unknown) {
    const reason = cause instanceof Error && cause.name === 'TimeoutError' ? 'no answer in time' : describeCause(cause);
    super(CtlErrorCode.AdminUnreachable, `cannot reach the scheduler admin API at ${url}: ${reason}`, { url }, { cause, retryable: true });
  }
}

function describeCause(cause: unknown): string {
  const inner = cause instanceof Error && cause.cause instanceof Error ? cause.cause : cause;
  return inner instanceof Error ? inner.message : String(inner);
}

export const API_PREFIX = '/pd/api/v1';

/** Most bytes of an answer read; the largest (all regions) stays far below this. */
const MAX_ANSWER_BYTES = 256 * 1024 * 1024;

export class PdHttpClient {
  /** `baseUrl` like `http://127.0.0.1:2380` (no path). */
  constructor(
    readonly baseUrl: string,
    private readonly timeoutMs: number,
  ) {}

  get(path: string): Promise<unknown> {
    return this.call('GET', path);
  }

  post(path: string, body: unknown): Promise<unknown> {
    return this.call('POST', path, body);
  }

  delete(path: string): Promise<unknown> {
    return this.call('DELETE', path);
  }

  private async call(method: string, path: string, body?: unknown): Promise<unknown> {
    const url = `${this.baseUrl}${API_PREFIX}${path}`;
    let response: Response;
    let text: string;
    try {
      response = await fetch(url, {
        method,
        signal: AbortSignal.timeout(this.timeoutMs),
        ...(body === undefined ? {} : { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } }),
      });
      text = await response.text();
    } catch (err) {
      throw new AdminUnreachableError(url, err);
    }
    if (text.length > MAX_ANSWER_BYTES) throw new AdminUnreachableError(url, new Error('answer too large'));
    const json = parseJson(text);
    if (!response.ok) {
      const error = json as { error?: unknown; code?: unknown } | undefined;
      const message = typeof error?.error === 'string' ? error.error : text.slice(0, 200) || response.statusText;
      throw new AdminApiError(response.status, typeof error?.code === 'string' ? error.code : 'unknown', message);
    }
    return json;
  }
}

function parseJson(text: string): unknown {
  if (text.length === 0) return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}
