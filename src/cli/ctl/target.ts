/**
 * Where `tinykv ctl` finds the scheduler's admin API: `--pd http://host:port` as given, else the
 * HTTP port next to the scheduler's gRPC address (`--scheduler host:port`, port + 1), the default
 * `tinykv scheduler` listens on.
 */
import { UsageError } from '../output.js';
import { PdHttpClient } from './pd-http-client.js';

export const DEFAULT_SCHEDULER = '127.0.0.1:2379';

export interface TargetOptions {
  readonly pd?: string;
  readonly scheduler?: string;
  readonly timeoutMs: number;
}

/** The admin API base URL the options name. */
export function adminBaseUrl(options: Pick<TargetOptions, 'pd' | 'scheduler'>): string {
  if (options.pd !== undefined) {
    if (options.scheduler !== undefined) throw new UsageError('give --pd or --scheduler, not both');
    let url: URL;
    try {
      url = new URL(options.pd.includes('://') ? options.pd : `http://${options.pd}`);
    } catch {
      throw new UsageError(`--pd must be a URL such as http://127.0.0.1:2380, got "${options.pd}"`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new UsageError(`--pd must be an http(s) URL, got "${options.pd}"`);
    return url.origin;
  }
  return `http://${statusAddrOf(options.scheduler ?? DEFAULT_SCHEDULER)}`;
}

/** The admin API's host:port by convention: the gRPC address with port + 1. */
export function statusAddrOf(grpcAddr: string): string {
  const colon = grpcAddr.lastIndexOf(':');
  const port = Number(grpcAddr.slice(colon + 1));
  if (colon <= 0 || !/^\d+$/.test(grpcAddr.slice(colon + 1)) || port < 1 || port >= 65_535) {
    throw new UsageError(`the scheduler address must be host:port (port 1..65534), got "${grpcAddr}"`);
  }
  return `${grpcAddr.slice(0, colon)}:${port + 1}`;
}

export function adminClient(options: TargetOptions): PdHttpClient {
  return new PdHttpClient(adminBaseUrl(options), options.timeoutMs);
}
