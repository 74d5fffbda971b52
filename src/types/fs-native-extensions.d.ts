// The part of fs-native-extensions (holepunch; no bundled types) that the data-directory lock uses.
declare module 'fs-native-extensions' {
  /** Takes a lock on the open file without waiting; false if another open file description holds it. */
  export function tryLock(fd: number, options?: { shared?: boolean }): boolean;
  export function unlock(fd: number): void;
}
