/** Disk space files take, for store heartbeats and the engine-size metric. */
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * Bytes the files directly in `dir` take on disk. LMDB's data file is sparse where its map is not
 * yet written, so allocated blocks count, not the apparent size; a file that is gone counts 0.
 */
export async function directoryBytes(dir: string): Promise<number> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return 0;
  }
  const sizes = await Promise.all(
    names.map(async (name) => {
      try {
        const s = await stat(join(dir, name));
        return s.isFile() ? Math.min(s.size, s.blocks * 512) : 0;
      } catch {
        return 0;
      }
    }),
  );
  return sizes.reduce((a, b) => a + b, 0);
}
