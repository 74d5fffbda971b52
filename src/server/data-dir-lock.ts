/** One server per data directory: a pid file, taken over only when its owner is gone (kill -9 leaves one behind). */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ErrorCode, TinyKvError } from '../util/errors.js';

const LOCK_FILE = 'tinykv.pid';

export class DataDirLock {
  private constructor(private readonly path: string) {}

  static acquire(dataDir: string): DataDirLock {
    mkdirSync(dataDir, { recursive: true });
    const path = join(dataDir, LOCK_FILE);
    const owner = readOwner(path);
    if (owner !== undefined && owner !== process.pid && isAlive(owner)) {
      throw new TinyKvError(ErrorCode.InvalidConfig, `data directory ${dataDir} is in use by process ${owner}`);
    }
    writeFileSync(path, `${process.pid}\n`);
    return new DataDirLock(path);
  }

  release(): void {
    if (readOwner(this.path) === process.pid) rmSync(this.path, { force: true });
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

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
