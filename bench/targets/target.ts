/** What the runner drives: one store (or the no-op ceiling) behind a few gRPC channels. */

export const TARGET_NAMES = ['tinykv', 'noop', 'etcd'] as const;
export type TargetName = (typeof TARGET_NAMES)[number];

export interface BenchTarget {
  /** Target kind as shown in reports: tinykv, noop or etcd. */
  readonly name: TargetName;
  /** Where it runs, for the report header (addresses, "child process", ...). Set once connected. */
  readonly description: string;
  /** Opens the channels and waits until each one is connected. */
  connect(): Promise<void>;
  /**
   * The calls. `lane` is the client loop's number; a lane always uses the same channel, so the
   * clients spread evenly over the channels (and, for etcd, over the endpoints).
   */
  put(key: Buffer, value: Buffer, lane: number): Promise<void>;
  /** Resolves to whether the key was found. */
  get(key: Buffer, lane: number): Promise<boolean>;
  /** Resolves to the number of pairs returned. */
  scan(startKey: Buffer, limit: number, lane: number): Promise<number>;
  /**
   * Calls sent again so far after an error the target could route around (a routed tinykv target
   * after a region error); counted apart from errors. Absent when the target never retries.
   */
  readonly retries?: number;
  /** Cancels every call in flight (the runner's stall watchdog). */
  cancelInFlight(): void;
  close(): Promise<void>;
}
