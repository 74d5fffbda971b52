/**
 * A node:http server bounded the way every HTTP port of this project is (the store's status port,
 * the scheduler's admin API): a request time limit, a connection limit, unparseable HTTP answered
 * 400 and dropped, a failed accept logged rather than fatal, and a close that ends open connections.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';

export interface BoundedHttpServerOptions {
  /** host:port; port 0 picks a free one. */
  readonly addr: string;
  readonly requestTimeoutMs: number;
  readonly maxConnections: number;
  readonly logger: Logger;
  /** What the server is, for its log lines (e.g. `status server`). */
  readonly name: string;
  readonly handle: (req: IncomingMessage, res: ServerResponse) => void;
  /** Turns a failed listen into the error the caller throws (default: as it came). */
  readonly listenError?: (err: Error) => Error;
}

export interface BoundedHttpServer {
  /** The address listened on, with the real port when 0 was asked for. */
  readonly addr: string;
  /** Stops listening and ends open connections. Idempotent. */
  close(): Promise<void>;
}

export async function startBoundedHttpServer(options: BoundedHttpServerOptions): Promise<BoundedHttpServer> {
  const timeoutMs = options.requestTimeoutMs;
  const server = createServer({ requestTimeout: timeoutMs, headersTimeout: timeoutMs }, options.handle);
  server.maxConnections = options.maxConnections;
  // Unparseable HTTP never reaches the handler; answer it and drop the connection.
  server.on('clientError', (_err, socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
    else socket.destroy();
  });
  const colon = options.addr.lastIndexOf(':');
  const host = options.addr.slice(0, colon).replace(/^\[(.*)\]$/, '$1');
  const port = await new Promise<number>((resolve, reject) => {
    server.once('error', (err) => reject(options.listenError ? options.listenError(err) : err));
    server.listen({ host, port: Number(options.addr.slice(colon + 1)) }, () => resolve((server.address() as AddressInfo).port));
  });
  // After listening, a server error is a failed accept (EMFILE, ...): the server goes on; say so.
  server.on('error', (err) => options.logger.warn({ err }, `${options.name} error`));
  const addr = `${options.addr.slice(0, colon)}:${port}`;
  options.logger.info({ addr }, `${options.name} serving`);
  let closing: Promise<void> | undefined;
  return {
    addr,
    close: () =>
      (closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      })),
  };
}
