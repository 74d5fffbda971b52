/**
 * Entry point of an apply thread. Thread entry points live in workers/; the thread's code is
 * src/raftstore/apply/apply-thread.ts, beside the Applier it runs.
 */
import { runApplyThread } from '../src/raftstore/apply/apply-thread.js';

runApplyThread();
