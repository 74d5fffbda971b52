/** Client test harness: an in-process standalone node on LMDB in a temp dir, seeded randomness. */
import { startServer, type TinyKvNode } from '../../src/index.js';
import { silentLogger } from '../../src/log/logger.js';
import { connect, type ConnectOptions, type TinyKvClient } from '../../src/client/index.js';
import { tempDir } from '../helpers/tmp.js';
import { mulberry32 } from '../../src/raft/rng.js';

export interface TestNode {
  readonly node: TinyKvNode;
  readonly addr: string;
  /** Connects a client to the node; every client made here is closed by stop(). */
  client(options?: Omit<ConnectOptions, 'addr' | 'scheduler'>): Promise<TinyKvClient>;
  stop(): Promise<void>;
}

export async function startTestNode(): Promise<TestNode> {
  const dir = tempDir('tinykv-client-test-');
  // fsync off: these tests are about protocol behaviour, not durability, and share a slow disk.
  const node = await startServer({ addr: '127.0.0.1:0', dataDir: dir.path, sync: false, logger: silentLogger() });
  const clients: TinyKvClient[] = [];
  return {
    node,
    addr: node.addr,
    async client(options = {}) {
      const client = await connect({ addr: node.addr, ...options });
      clients.push(client);
      return client;
    },
    async stop() {
      await Promise.all(clients.map((c) => c.close()));
      await node.close();
      dir.cleanup();
    },
  };
}

/** The seed of a randomized test: TINYKV_TEST_SEED if set, else random; always printed. */
export function testSeed(name: string): number {
  const fromEnv = process.env['TINYKV_TEST_SEED'];
  const seed = fromEnv !== undefined ? Number(fromEnv) : Math.floor(Math.random() * 2 ** 31);
  console.log(`[${name}] seed=${seed} (rerun with TINYKV_TEST_SEED=${seed})`);
  return seed;
}

/** A seeded generator of floats in [0, 1) (mulberry32, shared with the Raft library). */
export const rng: (seed: number) => () => number = mulberry32;

export const b = (s: string): Buffer => Buffer.from(s);
export const str = (v: Buffer | undefined): string | undefined => v?.toString();
