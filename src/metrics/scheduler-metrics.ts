/**
 * The scheduler's Prometheus metrics (names fixed by issue #13), in a registry of its own: a process
 * may run several schedulers (tests, an embedded one beside a store), and a global registry would
 * mix their counts. Counters are bumped where the event happens (service.ts, the operator
 * controller's finish path); store states and the region count are read on scrape, so they never
 * lag behind the cluster state and cost nothing between scrapes.
 */
import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client';

/** The store states the scheduler names (its admin StoreStateName; kept here so metrics imports no scheduler module). */
export const STORE_STATE_NAMES = ['Up', 'Disconnected', 'Down', 'Offline', 'Tombstone'] as const;
export type StoreStateName = (typeof STORE_STATE_NAMES)[number];

export type HeartbeatKind = 'store' | 'region';

/** What the scrape-time gauges read. */
export interface SchedulerMetricsSource {
  /** Every known store's state, tombstones included. */
  storeStates(): Iterable<StoreStateName>;
  regionCount(): number;
}

export interface SchedulerMetricsOptions {
  /** prom-client's process and event-loop metrics in the text too (default true). */
  readonly defaultMetrics?: boolean;
}

let processRegistry: Registry | undefined;

/**
 * prom-client's default metrics describe the process, not one scheduler, and each collector set
 * installs a GC observer for good: one set per process, shared by every scheduler's text.
 */
function processMetrics(): Registry {
  if (processRegistry === undefined) {
    processRegistry = new Registry();
    collectDefaultMetrics({ register: processRegistry });
  }
  return processRegistry;
}

export class SchedulerMetrics {
  /** This scheduler's own metrics (the process metrics are added to the text only). */
  readonly registry = new Registry();
  private readonly exposed: Registry;
  private readonly tsoRequests: Counter;
  private readonly heartbeats: Counter<'kind'>;
  private readonly operators: Counter<'kind' | 'status'>;

  constructor(source: SchedulerMetricsSource, options: SchedulerMetricsOptions = {}) {
    const registers = [this.registry];
    this.tsoRequests = new Counter({ name: 'tinykv_scheduler_tso_requests_total', help: 'TSO requests received', registers });
    this.heartbeats = new Counter({
      name: 'tinykv_scheduler_heartbeats_total',
      help: 'Heartbeats received, by kind (store, region)',
      labelNames: ['kind'],
      registers,
    });
    this.operators = new Counter({
      name: 'tinykv_scheduler_operators_total',
      help: 'Operators finished, by kind names and final status (success, timeout, cancel, replace)',
      labelNames: ['kind', 'status'],
      registers,
    });
    new Gauge({
      name: 'tinykv_scheduler_stores',
      help: 'Stores known to the scheduler, by state',
      labelNames: ['state'],
      registers,
      collect() {
        const counts = new Map<StoreStateName, number>(STORE_STATE_NAMES.map((state) => [state, 0]));
        for (const state of source.storeStates()) counts.set(state, (counts.get(state) ?? 0) + 1);
        for (const [state, count] of counts) this.set({ state }, count);
      },
    });
    new Gauge({
      name: 'tinykv_scheduler_regions',
      help: 'Regions known to the scheduler',
      registers,
      collect() {
        this.set(source.regionCount());
      },
    });
    // Merging takes the metrics registered so far: last, after this scheduler's own.
    this.exposed = options.defaultMetrics === false ? this.registry : Registry.merge([processMetrics(), this.registry]);
  }

  tsoRequest(): void {
    this.tsoRequests.inc();
  }

  heartbeat(kind: HeartbeatKind): void {
    this.heartbeats.inc({ kind });
  }

  /** `kind`: the operator's kind names (`leader,admin`); `status`: how it ended. */
  operatorFinished(kind: string, status: string): void {
    this.operators.inc({ kind, status });
  }

  /** The Prometheus text exposition of every metric. */
  metricsText(): Promise<string> {
    return this.exposed.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
