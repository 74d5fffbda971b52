/** Errors both engines raise, in one place so they stay identical. */
import { statfsSync } from 'node:fs';
import { ErrorCode, quoteForError, TinyKvError } from '../util/errors.js';

export function unknownFamily(cf: string): TinyKvError {
  return new TinyKvError(ErrorCode.UnknownColumnFamily, `unknown column family ${quoteForError(cf)}`);
}

export function snapshotClosed(): TinyKvError {
  return new TinyKvError(ErrorCode.ReaderClosed, 'snapshot is closed');
}

export function engineClosed(): TinyKvError {
  return new TinyKvError(ErrorCode.EngineClosed, 'engine is closed');
}

/** Looks a column family up in a per-engine map, or throws the engine's unknown-family error. */
export function familyIn<T>(families: ReadonlyMap<string, T>, cf: string): T {
  const family = families.get(cf);
  if (family === undefined) throw unknownFamily(cf);
  return family;
}

/**
 * A commit that did not reach the disk. LMDB reports a full disk as a short write (EIO, or
 * ENOSPC from the sync), so a failure while the filesystem has less free space than a margin
 * is classed as no-space: the caller can retry once space is freed. Anything else is an I/O
 * error. Either way the write was not made durable and must not be acknowledged.
 */
export function writeFailure(err: unknown, path: string): TinyKvError {
  if (err instanceof TinyKvError) return err;
  const cause = err instanceof Error ? err.message : String(err);
  const errno = (err as { code?: unknown } | undefined)?.code;
  const freeBytes = freeSpaceBytes(path);
  if (errno === 'ENOSPC' || errno === ENOSPC_ERRNO || (freeBytes !== undefined && freeBytes < NO_SPACE_MARGIN_BYTES)) {
    return new TinyKvError(ErrorCode.NoSpace, `no space left on the device of ${path}: write refused (${cause})`, {
      path,
      freeBytes,
    });
  }
  return new TinyKvError(ErrorCode.WriteFailed, `write to ${path} failed: ${cause}`, { path, errno });
}

const ENOSPC_ERRNO = 28;
/** Below this much free space a failed commit is taken for a full disk (a few LMDB commits' worth). */
const NO_SPACE_MARGIN_BYTES = 4 * 1024 * 1024;

function freeSpaceBytes(path: string): number | undefined {
  try {
    const stats = statfsSync(path);
    return stats.bavail * stats.bsize;
  } catch {
    return undefined;
  }
}
