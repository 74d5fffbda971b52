/** Storage on a single engine, without replication: TinyKV's project 1 node. */
import type { Context } from '../proto/kvrpcpb.js';
import type { Engine, WriteOp } from '../engine/engine.js';
import { EngineReader } from './engine-reader.js';
import type { Modify, Storage, StorageReader } from './storage.js';

export class StandaloneStorage implements Storage {
  constructor(readonly engine: Engine) {}

  async start(): Promise<void> {}

  async stop(): Promise<void> {
    await this.engine.close();
  }

  async write(_context: Context | undefined, batch: readonly Modify[]): Promise<void> {
    await this.engine.write(batch.map(toWriteOp));
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
