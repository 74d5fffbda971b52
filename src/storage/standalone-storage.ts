/** Storage on a single engine, without replication: TinyKV's project 1 node. */
import { performance } from 'node:perf_hooks';
import type { Context } from '../proto/kvrpcpb.js';
import type { Engine, WriteOp } from '../engine/engine.js';
import { EngineReader } from './engine-reader.js';
import type { Modify, Storage, StorageReader } from './storage.js';

export interface StandaloneStorageOptions {
  /** Told each write batch's commit time in seconds (metrics). */
  readonly onCommitSeconds?: (seconds: number) => void;
}

export class StandaloneStorage implements Storage {
  constructor(
    readonly engine: Engine,
    private readonly options: StandaloneStorageOptions = {},
  ) {}

  async start(): Promise<void> {}

  async stop(): Promise<void> {
    await this.engine.close();
  }

  async write(_context: Context | undefined, batch: readonly Modify[]): Promise<void> {
    const observe = this.options.onCommitSeconds;
    if (observe === undefined) return this.engine.write(batch.map(toWriteOp));
    const startedMs = performance.now();
    await this.engine.write(batch.map(toWriteOp));
    observe((performance.now() - startedMs) / 1000);
  }

  async reader(_context: Context | undefined): Promise<StorageReader> {
    return new EngineReader(this.engine.snapshot());
  }
}

function toWriteOp(modify: Modify): WriteOp {
  return modify.type === 'put'
    ? { type: 'put', cf: modify.cf, key: modify.key, value: modify.value }
    : { type: 'delete', cf: modify.cf, key: modify.key };
}
