/**
 * piscina options for a pool whose worker threads open the store's LMDB environments and keep
 * them between tasks (region snapshots, split checks, raft-log GC).
 *
 * - `atomics: 'disabled'`: between tasks the thread goes back to its event loop. lmdb-js renews a
 *   thread's read transaction from that loop; a thread parked in piscina's Atomics.wait never
 *   does, and would keep reading the view of its first task (a split check that never sees new
 *   writes, a snapshot built from old data).
 * - `idleTimeout: Infinity`: the thread stays until the pool closes. With piscina's default (0) a
 *   thread ends after every task and the next one starts and reopens LMDB; under that churn a
 *   store process aborted in Node 20 (a background compile job outliving a worker's isolate).
 */
export const LMDB_WORKER_POOL_OPTIONS = { idleTimeout: Infinity, atomics: 'disabled' } as const;
