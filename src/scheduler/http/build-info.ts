/**
 * The version and git commit this scheduler runs, for `/status`. The version is package.json's; the
 * commit is asked of git once, on first use, with a time limit ("unknown" outside a clone or
 * without git), so starting a scheduler never waits on a child process.
 */
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const GIT_TIMEOUT_MS = 2_000;

export interface BuildInfo {
  readonly version: string;
  readonly gitHash: string;
}

let cached: Promise<BuildInfo> | undefined;

export function buildInfo(): Promise<BuildInfo> {
  return (cached ??= loadBuildInfo());
}

async function loadBuildInfo(): Promise<BuildInfo> {
  const root = packageRoot();
  if (root === undefined) return { version: 'unknown', gitHash: 'unknown' };
  const { version } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version?: unknown };
  return { version: typeof version === 'string' ? version : 'unknown', gitHash: await gitHead(root) };
}

/** The nearest folder above this module with package.json (src/… in a clone, dist/src/… when built). */
function packageRoot(): string | undefined {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    const parent = dirname(dir);
    if (parent === dir) return undefined;
    dir = parent;
  }
}

function gitHead(cwd: string): Promise<string> {
  return new Promise((resolve) => {
    execFile('git', ['rev-parse', 'HEAD'], { cwd, timeout: GIT_TIMEOUT_MS }, (err, stdout) => {
      const hash = stdout.trim();
      resolve(err === null && /^[0-9a-f]{40}$/.test(hash) ? hash : 'unknown');
    });
  });
}
