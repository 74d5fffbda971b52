/**
 * A Storage whose writes pass the space guard first: a batch that adds data is refused with
 * KV:Storage:NoSpace while free space is below the reserve. Delete-only batches always pass
 * (they free space); reads are never touched.
 */
import type { Context } from '../proto/kvrpcpb.js';
import { ErrorCode, isTinyKvError } from '../util/errors.js';
import type { NodeConfig } from '../config/config.js';
import { SpaceGuard } from './space-guard.js';
import type { Modify, Storage, StorageReader } from './storage.js';

export class SpaceGuardedStorage implements Storage {
  constructor(
    private readonly inner: Storage,
    private readonly guard: SpaceGuard,
  ) {}

  start(): Promise<void> {
    return this.inner.start();
  }

  async stop(): Promise<void> {
    this.guard.stop();
    await this.inner.stop();
  }

  async write(context: Context | undefined, batch: readonly Modify[]): Promise<void> {
    let putBytes = 0;
    for (const modify of batch) if (modify.type === 'put') putBytes += modify.key.length + modify.value.length;
    if (putBytes > 0) this.guard.checkWrite(putBytes);
    try {
      await this.inner.write(context, batch);
    } catch (err) {
      if (isTinyKvError(err) && err.code === ErrorCode.NoSpace) this.guard.noteNoSpace();
      throw err;
    }
  }

  reader(context: Context | undefined, keyHint?: Buffer): Promise<StorageReader> {
    return this.inner.reader(context, keyHint);
  }
}

/** On disk, a node's writes pass the space guard (storage.reserve-space) before they reach storage. */
export function guardSpace(storage: Storage, config: Pick<NodeConfig, 'engine' | 'dataDir' | 'reserveSpaceBytes'>): Storage {
  if (config.engine !== 'lmdb') return storage;
  const guard = new SpaceGuard({ path: config.dataDir, reserveSpaceBytes: config.reserveSpaceBytes });
  return guard.enabled ? new SpaceGuardedStorage(storage, guard) : storage;
}
