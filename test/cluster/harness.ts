// A scheduler and three (or more) stores in this process, over real gRPC on loopback and LMDB, for the
// cluster tests: start, reach, stop.
import { inspect } from 'node:util';
import { loadConfig, type ConfigOverrides } from '../../src/config/config.js';
import { createLogger, silentLogger } from '../../src/log/logger.js';
import type { LogLevel } from '../../src/config/config.js';
import { connect, ClientError, type TinyKvClient } from '../../src/client/index.js';
import { ClusterNode, type ClusterNodeSeams } from '../../src/server/cluster-node.js';
import { startScheduler, type SchedulerHandle } from '../../src/scheduler/scheduler-server.js';
import { tempDir } from '../helpers/tmp.js';

/** What a test expects of the stores' internal failures. */
export interface FatalExpectation {
  /**
   * True only in a test that provokes an internal failure on purpose: its fatalErrors are then
   * the test's to assert, and close() does not fail. Default false: any fatal fails the test.
   */
  readonly expectFatal?: boolean;
}

/**
 * TINYKV_TEST_LOG_LEVEL=info (or debug) makes the stores of a cluster test log to stderr (every
 * thread, as JSON), for a failure to be read afterwards; tests are silent otherwise.
 */
const TEST_LOG_LEVEL = (process.env.TINYKV_TEST_LOG_LEVEL ?? 'silent') as LogLevel;
const testLogger = (component: string) => (TEST_LOG_LEVEL === 'silent' ? silentLogger() : createLogger(TEST_LOG_LEVEL, 'tinykv', { component }));

export class InProcessCluster {
  readonly nodes = new Map<number, ClusterNode>();
  /**
   * Internal failures stores reported (fail-stop); recorded, so the test process lives on. A
   * real node would have exited, so unless the test opted in (expectFatal) close() fails the test
   * with them, and assertNoFatal() fails it at once.
   */
  readonly fatalErrors: Array<{ readonly dataDir: string; readonly reason: string; readonly err: unknown }> = [];
  private readonly dirs: Array<ReturnType<typeof tempDir>> = [];

  private constructor(
    readonly scheduler: SchedulerHandle,
    private readonly overrides: ConfigOverrides,
    private readonly seams: ClusterNodeSeams,
    private readonly fatal: FatalExpectation,
  ) {}

  /**
   * Three stores (`bootstrap.initialStores` to change it; bootstrap places a peer of every region
   * on each) with 20 ms ticks and no automatic scheduling (`bootstrap.autoSchedule` to turn it
   * on); `overrides` adds store settings (pollers, GC limit, ...). A
   * `seams.onFatal` of the test's own replaces the recording (that test handles fatals itself).
   */
  static async start(
    overrides: ConfigOverrides = {},
    seams: ClusterNodeSeams = {},
    bootstrap: { readonly initialRegions?: number; readonly initialStores?: number; readonly autoSchedule?: boolean } = {},
    fatal: FatalExpectation = {},
  ): Promise<InProcessCluster> {
    const initialStores = bootstrap.initialStores ?? 3;
    const scheduler = await startScheduler({
      addr: '127.0.0.1:0',
      engine: 'memory',
      initialStores,
      initialRegions: bootstrap.initialRegions,
      // The scenario tests move replicas and leaders themselves (TinyKV's run over a mock scheduler
      // that never schedules): the scheduler's own balancing would fight them. Tests of scheduling opt in.
      autoSchedule: bootstrap.autoSchedule ?? false,
      logger: testLogger('scheduler'),
    });
    const cluster = new InProcessCluster(scheduler, overrides, seams, fatal);
    for (let i = 0; i < initialStores; i++) cluster.dirs.push(tempDir());
    await Promise.all(cluster.dirs.map((d) => cluster.startStore(d.path)));
    return cluster;
  }

  all(): ClusterNode[] {
    return [...this.nodes.values()];
  }

  /** Starts (or restarts) the store of a data directory; `overrides` apply to this start only (e.g. a fixed addr). */
  async startStore(dataDir: string, overrides: ConfigOverrides = {}): Promise<ClusterNode> {
    const config = loadConfig({
      overrides: {
        standalone: false,
        scheduler: this.scheduler.addr,
        addr: '127.0.0.1:0',
        dataDir,
        raftBaseTickMs: 20,
        logLevel: TEST_LOG_LEVEL,
        ...this.overrides,
        ...overrides,
      },
    });
    const onFatal =
      this.seams.onFatal ??
      ((reason: string, err?: unknown) => {
        console.error(`store at ${dataDir} failed (fail-stop): ${reason}`, err);
        this.fatalErrors.push({ dataDir, reason, err });
      });
    const node = await ClusterNode.start(config, testLogger('store'), { ...this.seams, onFatal });
    this.nodes.set(node.storeId, node);
    return node;
  }

  async stopStore(node: ClusterNode): Promise<void> {
    this.nodes.delete(node.storeId);
    await node.close();
  }

  /** The data directory a store runs on; it outlives stopStore, so startStore(dataDirOf(node)) brings the store back. */
  dataDirOf(node: ClusterNode): string {
    return node.config.dataDir;
  }

  /** Stops a store, waits `downMs`, and starts it again on the same data directory (a crash-restart). */
  async restartStore(node: ClusterNode, downMs = 0): Promise<ClusterNode> {
    const dataDir = this.dataDirOf(node);
    await this.stopStore(node);
    if (downMs > 0) await new Promise((r) => setTimeout(r, downMs));
    return this.startStore(dataDir);
  }

  /** Ids of the stores running now, ascending. */
  storeIds(): number[] {
    return [...this.nodes.keys()].sort((a, b) => a - b);
  }

  /** Throws when a store reported an internal failure, unless the test expects one. */
  assertNoFatal(): void {
    if (this.fatal.expectFatal || this.fatalErrors.length === 0) return;
    const lines = this.fatalErrors.map(
      ({ dataDir, reason, err }) =>
        `  store at ${dataDir}: ${reason}${err === undefined ? '' : ` (${err instanceof Error ? (err.stack ?? err.message) : inspect(err)})`}`,
    );
    throw new Error(`${this.fatalErrors.length} internal failure(s) (a real store would have fail-stopped):\n${lines.join('\n')}`);
  }

  /** Stops everything; then fails (assertNoFatal) if a store reported an internal failure meanwhile. */
  async close(): Promise<void> {
    try {
      for (const node of this.nodes.values()) await node.close();
      await this.scheduler.close();
    } finally {
      for (const d of this.dirs) d.cleanup();
    }
    this.assertNoFatal();
  }
}

export async function withClient<T>(addr: string, run: (client: TinyKvClient) => Promise<T>, timeoutMs = 3_000): Promise<T> {
  const client = await connect({ node: addr, requestTimeoutMs: timeoutMs, maxRetries: 0 });
  try {
    return await run(client);
  } finally {
    await client.close();
  }
}

/**
 * Runs `op` against each store in turn until one answers (a leader; followers answer with region
 * errors), retrying until the deadline.
 */
export async function firstAnswer<T>(
  op: (addr: string) => Promise<T>,
  among: () => ClusterNode[],
  deadlineMs = 20_000,
): Promise<{ node: ClusterNode; value: T }> {
  const deadline = Date.now() + deadlineMs;
  for (;;) {
    for (const node of among()) {
      try {
        return { node, value: await op(node.addr) };
      } catch (err) {
        if (!(err instanceof ClientError)) throw err;
      }
    }
    if (Date.now() > deadline) throw new Error('no store answered');
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Polls until `done()` holds or the deadline passes. */
export async function waitUntil(done: () => boolean, deadlineMs = 10_000, stepMs = 20): Promise<void> {
  for (const deadline = Date.now() + deadlineMs; !done() && Date.now() < deadline;) {
    await new Promise((r) => setTimeout(r, stepMs));
  }
}
