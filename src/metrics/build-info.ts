/**
 * What build this process runs: the package version and, when the code runs from a git checkout,
 * the commit hash. Read once at startup (a few small synchronous file reads) and never again.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface BuildInfo {
  readonly version: string;
  /** The commit checked out, or "unknown" outside a readable git checkout. */
  readonly gitHash: string;
}

/** How far up from this file the package root may be (src/metrics or dist/src/metrics). */
const MAX_PARENT_DIRS = 5;

let cached: BuildInfo | undefined;

export function buildInfo(): BuildInfo {
  cached ??= readBuildInfo(dirname(fileURLToPath(import.meta.url)));
  return cached;
}

function readBuildInfo(from: string): BuildInfo {
  const root = packageRoot(from);
  if (root === undefined) return { version: 'unknown', gitHash: 'unknown' };
  const { version } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version?: unknown };
  return { version: typeof version === 'string' ? version : 'unknown', gitHash: gitHead(root) ?? 'unknown' };
}

function packageRoot(from: string): string | undefined {
  let dir = from;
  for (let i = 0; i <= MAX_PARENT_DIRS; i++) {
    const candidate = join(dir, 'package.json');
    if (existsSync(candidate) && isThisPackage(candidate)) return dir;
    dir = dirname(dir);
  }
  return undefined;
}

function isThisPackage(path: string): boolean {
  try {
    return (JSON.parse(readFileSync(path, 'utf8')) as { name?: unknown }).name === 'tinykv';
  } catch {
    return false;
  }
}

/**
 * The commit HEAD names, read from the files git keeps: a detached hash, or a branch ref (loose or
 * packed). A worktree's `.git` is a file pointing at its git dir, whose refs live in the common dir.
 */
function gitHead(root: string): string | undefined {
  try {
    const gitDir = resolveGitDir(join(root, '.git'));
    const head = readFileSync(join(gitDir, 'HEAD'), 'utf8').trim();
    if (/^[0-9a-f]{40}$/.test(head)) return head;
    const ref = /^ref: (\S+)$/.exec(head)?.[1];
    if (ref === undefined) return undefined;
    const commonDir = existsSync(join(gitDir, 'commondir')) ? resolve(gitDir, readFileSync(join(gitDir, 'commondir'), 'utf8').trim()) : gitDir;
    for (const dir of [gitDir, commonDir]) {
      const loose = join(dir, ref);
      if (existsSync(loose)) return readFileSync(loose, 'utf8').trim();
    }
    const packed = readFileSync(join(commonDir, 'packed-refs'), 'utf8');
    return packed
      .split('\n')
      .find((line) => line.endsWith(` ${ref}`))
      ?.split(' ')[0];
  } catch {
    return undefined;
  }
}

function resolveGitDir(dotGit: string): string {
  if (statSync(dotGit).isDirectory()) return dotGit;
  const text = readFileSync(dotGit, 'utf8');
  const pointer = /^gitdir: (.+)$/m.exec(text)?.[1];
  if (pointer === undefined) throw new Error('not a gitdir pointer');
  return isAbsolute(pointer) ? pointer : resolve(dirname(dotGit), pointer);
}
