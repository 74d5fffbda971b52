/**
 * One process per data directory, enforced by an OS file lock on `<data-dir>/tinykv.pid`.
 *
 * The lock is an open-file-description lock (fcntl F_OFD_SETLK on Linux, flock elsewhere, through
 * fs-native-extensions): the kernel drops it when the holder's file is closed, which happens the
 * moment the process dies, even while it is still an unreaped zombie. So a restart right after
 * kill -9 is never refused, and the pid written into the file is only for the error message: a
 * stale file, or one naming a pid that the OS has since given to another process, never blocks.
 */
import { closeSync, fstatSync, ftruncateSync, mkdirSync, openSync, readFileSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { tryLock } from 'fs-native-extensions';
import { ErrorCode, TinyKvError } from '../util/errors.js';

export const LOCK_FILE = 'tinykv.pid';

/** A release unlinks the file; a locker that raced with it retries on the new file this many times. */
const MAX_ATTEMPTS = 8;

export class DataDirLock {
  private released = false;

  private constructor(
    private readonly path: string,
    private readonly fd: number,
  ) {}

  static acquire(dataDir: string): DataDirLock {
    mkdirSync(dataDir, { recursive: true });
    const path = join(dataDir, LOCK_FILE);
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const fd = openSync(path, 'a+');
      let locked = false;
      try {
        locked = tryLock(fd);
      } catch (err) {
        closeSync(fd);
        throw new TinyKvError(ErrorCode.InvalidConfig, `cannot lock data directory ${dataDir}: ${(err as Error).message}`);
      }
      if (!locked) {
        closeSync(fd);
        throw inUse(dataDir, path);
      }
      // The holder we waited on may have unlinked the file as it released it: our lock is then on
      // a file nobody else will open, so take the lock again on whatever the path names now.
      if (!samePath(fd, path)) {
        closeSync(fd);
        continue;
      }
      ftruncateSync(fd, 0);
      writeSync(fd, `${process.pid}\n`);
      return new DataDirLock(path, fd);
    }
    throw new TinyKvError(ErrorCode.InvalidConfig, `cannot lock data directory ${dataDir}: its lock file keeps being replaced`);
  }

  /** Removes the file, then closes it, which drops the lock (unlinking first leaves no window for a new owner's file to go). */
  release(): void {
    if (this.released) return;
    this.released = true;
    try {
      unlinkSync(this.path);
    } catch {
      // Already gone (a removed data directory): closing still drops the lock.
    }
    closeSync(this.fd);
  }
}

function inUse(dataDir: string, path: string): TinyKvError {
  const owner = readOwner(path);
  const who = owner === undefined ? 'another process' : `process ${owner}`;
  return new TinyKvError(ErrorCode.InvalidConfig, `data directory ${dataDir} is in use by ${who}`, { dataDir, owner });
}

function samePath(fd: number, path: string): boolean {
  try {
    const open = fstatSync(fd);
    const named = statSync(path);
    return open.ino === named.ino && open.dev === named.dev;
  } catch {
    return false;
  }
}

function readOwner(path: string): number | undefined {
  try {
    const pid = Number.parseInt(readFileSync(path, 'utf8').trim(), 10);
    return Number.isSafeInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}
