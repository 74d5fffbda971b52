/**
 * The gRPC ceiling: the same Raw API calls as the tinykv target, against the no-op server
 * (bench/noop-server.ts). By default the server runs as a child process started from the
 * compiled dist/bench/noop-server.js, so client and server are separate processes as with a real
 * target; `inProcess` starts it in this process instead (tests, or running from sources).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { startNoopServer, type NoopServer } from '../noop-server.js';
import { TinyKvTarget } from './tinykv.js';
import { defined } from '../../src/util/assert.js';
import { notConnected } from './channel-pool.js';
import type { BenchTarget, TargetName } from './target.js';

export interface NoopTargetOptions {
  readonly connections: number;
  readonly keySize: number;
  readonly valueSize: number;
  /** Run the no-op server in this process instead of a child process. */
  readonly inProcess?: boolean;
  /** The compiled server script; defaults to noop-server.js next to this module's parent. */
  readonly serverScript?: string;
  readonly startTimeoutMs?: number;
}

/** Where the compiled no-op server lives relative to this module (dist/bench/targets → dist/bench). */
export function defaultNoopServerScript(): string {
  return fileURLToPath(new URL('../noop-server.js', import.meta.url));
}

export class NoopTarget implements BenchTarget {
  readonly name: TargetName = 'noop';
  description = 'no-op gRPC server';
  private server: NoopServer | undefined;
  private client: TinyKvTarget | undefined;

  constructor(private readonly options: NoopTargetOptions) {}

  async connect(): Promise<void> {
    const { keySize, valueSize } = this.options;
    this.server = this.options.inProcess
      ? await startNoopServer({ keySize, valueSize })
      : await spawnNoopServer(this.options.serverScript ?? defaultNoopServerScript(), keySize, valueSize, this.options.startTimeoutMs ?? 10_000);
    const client = new TinyKvTarget({ addr: this.server.addr, connections: this.options.connections }, 'noop');
    try {
      await client.connect();
    } catch (err) {
      await this.close();
      throw err;
    }
    this.client = client;
    this.description = `${client.description}, ${this.options.inProcess ? 'in this process' : 'child process'}`;
  }

  put(key: Buffer, value: Buffer, lane: number): Promise<void> {
    return this.client ? this.client.put(key, value, lane) : notConnected(this.name);
  }

  get(key: Buffer, lane: number): Promise<boolean> {
    return this.client ? this.client.get(key, lane) : notConnected(this.name);
  }

  scan(startKey: Buffer, limit: number, lane: number): Promise<number> {
    return this.client ? this.client.scan(startKey, limit, lane) : notConnected(this.name);
  }

  cancelInFlight(): void {
    this.client?.cancelInFlight();
  }

  async close(): Promise<void> {
    await this.client?.close();
    this.client = undefined;
    await this.server?.close();
    this.server = undefined;
  }
}

/** Starts the compiled no-op server as a child process and reads its address from stdout. */
async function spawnNoopServer(script: string, keySize: number, valueSize: number, timeoutMs: number): Promise<NoopServer> {
  if (!existsSync(script)) {
    throw new Error(`the no-op server is not built (no ${script}); run \`npm run build\` first, or use --noop-in-process`);
  }
  const child = spawn(process.execPath, [script, '--addr', '127.0.0.1:0', '--key-size', String(keySize), '--value-size', String(valueSize)], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  // If the bench dies without closing the target, closing our end of stdin stops the child.
  const killOnExit = () => child.kill('SIGTERM');
  process.once('exit', killOnExit);
  let addr: string;
  try {
    addr = await readAddress(child, timeoutMs);
  } catch (err) {
    process.removeListener('exit', killOnExit);
    child.kill('SIGKILL');
    throw err;
  }
  let closing: Promise<void> | undefined;
  return {
    addr,
    close() {
      closing ??= (async () => {
        process.removeListener('exit', killOnExit);
        if (child.exitCode !== null || child.signalCode !== null) return;
        const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
        await exited;
        clearTimeout(timer);
      })();
      return closing;
    },
  };
}

function readAddress(child: ChildProcess, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const lines = createInterface({ input: defined(child.stdout, 'stdout of a child spawned with a pipe') });
    const timer = setTimeout(() => finish(new Error(`the no-op server did not report its address within ${timeoutMs} ms`)), timeoutMs);
    const onExit = (code: number | null, signal: string | null) =>
      finish(new Error(`the no-op server exited before serving (${signal ?? `exit code ${code}`})`));
    let done = false;
    function finish(err: Error | undefined, addr?: string) {
      if (done) return;
      done = true;
      clearTimeout(timer);
      child.removeListener('exit', onExit);
      lines.close();
      if (err) reject(err);
      else resolve(defined(addr, 'address of a server that started'));
    }
    child.once('exit', onExit);
    child.once('error', (err) => finish(err));
    lines.once('line', (line) => {
      try {
        const { addr } = JSON.parse(line) as { addr?: unknown };
        if (typeof addr !== 'string') throw new Error('no addr');
        finish(undefined, addr);
      } catch {
        finish(new Error(`the no-op server printed an unexpected line: ${line}`));
      }
    });
  });
}
