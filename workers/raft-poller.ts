/**
 * Entry point of a raft poller thread. Thread entry points live in workers/; the thread's code is
 * src/raftstore/batch/poller-thread.ts, beside the poll loop it runs.
 */
import { runPollerThread } from '../src/raftstore/batch/poller-thread.js';

runPollerThread();
