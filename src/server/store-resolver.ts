/** Store id → address, looked up through the scheduler and cached (TinyKV caches for 60 s). */
import type { Logger } from 'pino';
import type { SchedulerClient } from '../client/scheduler-client.js';
import type { StoreResolver } from '../transport/grpc-transport.js';

const CACHE_TTL_MS = 60_000;

export class SchedulerStoreResolver implements StoreResolver {
  private readonly cache = new Map<number, { addr: string; expiresAt: number }>();
  private readonly resolving = new Set<number>();

  constructor(
    private readonly scheduler: SchedulerClient,
    private readonly logger: Logger,
    private readonly nowMs: () => number = Date.now,
  ) {}

  invalidateAddress(addr: string): void {
    for (const [storeId, entry] of this.cache) if (entry.addr === addr) this.cache.delete(storeId);
  }

  resolve(storeId: number): string | undefined {
    const cached = this.cache.get(storeId);
    if (cached && cached.expiresAt > this.nowMs()) return cached.addr;
    if (!this.resolving.has(storeId) && storeId !== 0) {
      this.resolving.add(storeId);
      this.scheduler.getStore(storeId).then(
        (store) => {
          this.resolving.delete(storeId);
          if (store?.address) this.cache.set(storeId, { addr: store.address, expiresAt: this.nowMs() + CACHE_TTL_MS });
        },
        (err: unknown) => {
          this.resolving.delete(storeId);
          this.logger.debug({ lookedUpStoreId: storeId, err }, 'store address lookup failed');
        },
      );
    }
    // While refreshing an expired entry, keep using the old address.
    return cached?.addr;
  }
}
