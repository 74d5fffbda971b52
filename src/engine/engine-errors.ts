/** Errors both engines raise, in one place so they stay identical. */
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
