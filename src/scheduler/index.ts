/** The scheduler (TinyScheduler, a trimmed PD): server and embeddable core (its client is src/client/scheduler-client.ts). See README.md here. */
export { startScheduler, DEFAULT_SCHEDULER_ADDR, type StartSchedulerOptions, type SchedulerHandle } from './scheduler-server.js';
export { SchedulerCore, type SchedulerCoreOptions, type RegionHeartbeatInput, type AskSplitResult } from './core.js';
export { createSchedulerService, type SchedulerServiceDeps, type SchedulerServiceHandle } from './service.js';
export { ClusterState, type RegionInfo, type StoreInfo, type RegionHeartbeatResult } from './cluster-state.js';
export { HeartbeatStreams, type HeartbeatSink } from './heartbeat-streams.js';
export { IdAllocator, ID_ALLOC_STEP } from './id-allocator.js';
export { evenSplitKeys, resolveSplitKeys, planInitialRegions, MAX_INITIAL_REGIONS, MAX_INITIAL_STORES } from './bootstrap.js';
export { SchedulerError, SchedulerErrorCode, isSchedulerError, type SchedulerErrorCodeValue } from './errors.js';
