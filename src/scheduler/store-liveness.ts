/**
 * Notices when an Up store goes Down (silent for max-store-down-time) or comes back, and logs each
 * transition once: on the heartbeat that brings it back, on the first lookup or periodic check
 * that finds it silent. The state itself is not stored anywhere: Down is always computed from the
 * time of the last heartbeat (ClusterState.storeDownMs), so a restart just recomputes it.
 */
import type { Logger } from 'pino';
import { StoreState } from '../proto/metapb.js';
import type { ClusterState, StoreInfo } from './cluster-state.js';

export class StoreLiveness {
  /** Stores last seen Down (logged once when they went). */
  private readonly down = new Set<number>();

  constructor(
    private readonly state: ClusterState,
    private readonly maxStoreDownTimeMs: () => number,
    private readonly logger: Logger,
  ) {}

  /** Compares `info` with what was seen before and logs a transition. */
  observe(info: StoreInfo): void {
    const storeId = info.store.id;
    // Down is a state of an Up store (admin.ts StoreStateName); Offline and Tombstone say more.
    if (info.store.state !== StoreState.Up) {
      this.down.delete(storeId);
      return;
    }
    const silentMs = this.state.storeDownMs(info);
    const isDown = silentMs >= this.maxStoreDownTimeMs();
    if (isDown === this.down.has(storeId)) return;
    if (isDown) {
      this.down.add(storeId);
      this.logger.info({ storeId, address: info.store.address, silentMs }, 'store is down: no heartbeat within max-store-down-time');
    } else {
      this.down.delete(storeId);
      this.logger.info({ storeId, address: info.store.address }, 'store is up again');
    }
  }

  forget(storeId: number): void {
    this.down.delete(storeId);
  }
}
