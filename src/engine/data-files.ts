/**
 * Opening a store's LMDB environments only when their files are whole.
 *
 * Before anything maps them, each environment's data.mdb is checked (lmdb-file-check.ts). A file
 * that is missing or empty is not damage by itself (a new store), so the store keeps an identity,
 * `<data-dir>/IDENT`, naming the environments that have been opened: once an environment is in
 * it, losing its data.mdb is a refusal, never a silent start as an empty store.
 *
 * Runs once, in the main thread, before any worker opens the environments (a check while another
 * thread commits could read a meta page mid-write).
 */
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { checkLmdbDataFile, corrupted } from './lmdb-file-check.js';

export const IDENT_FILE = 'IDENT';
const IDENT_FORMAT = 1;

interface StoreIdentity {
  readonly format: number;
  /** Environments (directories under the data dir) that have been opened and must keep their data. */
  readonly environments: string[];
}

/**
 * Checks `environments` (directory names under `dataDir`), runs `open`, then records them in the
 * store's identity. Throws KV:Engine:Corrupted, before `open` runs, if a file is damaged or lost.
 */
export function openCheckedEnvironments<T>(dataDir: string, environments: readonly string[], open: () => T): T {
  const identityPath = join(dataDir, IDENT_FILE);
  const identity = readIdentity(identityPath);
  for (const name of environments) {
    const dataFile = join(dataDir, name, 'data.mdb');
    const state = checkLmdbDataFile(dataFile);
    if (!state.present && identity?.environments.includes(name)) {
      throw corrupted(
        `data file ${dataFile} is missing or empty, but the store's identity ` +
          `(${identityPath}) says it held data; refusing to start as an empty store (restore the data directory, ` +
          'or remove it to start a new store)',
        { dataFile, identityPath },
      );
    }
  }
  const opened = open();
  const missing = environments.filter((name) => !identity?.environments.includes(name));
  if (missing.length > 0) {
    // The identity must never be durable before what it vouches for: LMDB wrote the meta pages of
    // a new environment on open, without syncing them.
    for (const name of missing) fsyncFile(join(dataDir, name, 'data.mdb'));
    writeIdentity(dataDir, identityPath, { format: IDENT_FORMAT, environments: [...(identity?.environments ?? []), ...missing] });
  }
  return opened;
}

function readIdentity(path: string): StoreIdentity | undefined {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  try {
    const parsed = JSON.parse(text) as StoreIdentity;
    if (parsed.format !== IDENT_FORMAT || !Array.isArray(parsed.environments) || !parsed.environments.every((e) => typeof e === 'string')) {
      throw new Error('unexpected content');
    }
    return parsed;
  } catch (err) {
    throw corrupted(`the store's identity file ${path} is damaged (${(err as Error).message})`, { identityPath: path });
  }
}

/** Replaces the identity atomically: a crash leaves the old one or the new one, never half of it. */
function writeIdentity(dataDir: string, path: string, identity: StoreIdentity): void {
  const temporary = `${path}.tmp`;
  writeFileSync(temporary, JSON.stringify(identity) + '\n');
  fsyncFile(temporary);
  renameSync(temporary, path);
  fsyncFile(dataDir);
}

function fsyncFile(path: string): void {
  const fd = openSync(path, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
