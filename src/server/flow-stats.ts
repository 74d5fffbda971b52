/**
 * The data a store's clients wrote and read, for its store heartbeat (PD's StoreStats
 * bytes_written, keys_written, bytes_read, keys_read over the heartbeat's interval), which the
 * scheduler's dashboard sums into the cluster's throughput. Counted on the main thread when a
 * request succeeds: a request answered with a region error or a key error moved nothing.
 * Bytes are keys plus values as the client sent or received them.
 */
export interface FlowTotals {
  readonly bytesWritten: number;
  readonly keysWritten: number;
  readonly bytesRead: number;
  readonly keysRead: number;
}

export class FlowCounter {
  private bytesWritten = 0;
  private keysWritten = 0;
  private bytesRead = 0;
  private keysRead = 0;

  wrote(keys: number, bytes: number): void {
    this.keysWritten += keys;
    this.bytesWritten += bytes;
  }

  read(keys: number, bytes: number): void {
    this.keysRead += keys;
    this.bytesRead += bytes;
  }

  /** The totals since the previous take (or the start), and starts counting again from zero. */
  take(): FlowTotals {
    const totals = { bytesWritten: this.bytesWritten, keysWritten: this.keysWritten, bytesRead: this.bytesRead, keysRead: this.keysRead };
    this.bytesWritten = this.keysWritten = this.bytesRead = this.keysRead = 0;
    return totals;
  }
}
