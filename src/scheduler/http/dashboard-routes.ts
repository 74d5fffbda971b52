/**
 * `/dashboard`: the live cluster page (dashboard/: one HTML file, one script, one stylesheet; no
 * build step, nothing fetched from the internet). The page polls the admin API itself, so the
 * server only hands out these three files. They are read once, on first request, from beside
 * this module: src/ when run from source, dist/ once `npm run build` copied them there, or the
 * clone's src/ when dist/ was compiled by tsc alone (the test setup does that).
 */
import { readFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { defined } from '../../util/assert.js';
import { RawAnswer, type Route } from './router.js';

const ASSETS: Readonly<Record<string, { readonly file: string; readonly contentType: string }>> = {
  '/dashboard': { file: 'index.html', contentType: 'text/html; charset=utf-8' },
  '/dashboard/dashboard.js': { file: 'dashboard.js', contentType: 'text/javascript; charset=utf-8' },
  '/dashboard/dashboard.css': { file: 'dashboard.css', contentType: 'text/css; charset=utf-8' },
};

const ASSET_DIRS = [new URL('./dashboard/', import.meta.url), new URL('../../../../src/scheduler/http/dashboard/', import.meta.url)];

let loaded: Promise<Map<string, RawAnswer>> | undefined;

export function dashboardRoutes(): Route[] {
  return Object.keys(ASSETS).map((pattern) => ({
    method: 'GET',
    pattern,
    handler: async () => defined((await loadAssets()).get(pattern), `dashboard file for ${pattern}`),
  }));
}

function loadAssets(): Promise<Map<string, RawAnswer>> {
  loaded ??= readAssets().catch((err: unknown) => {
    // A missing file is a packaging fault: a 500 and a log line (admin-server.ts); look again next time.
    loaded = undefined;
    throw err;
  });
  return loaded;
}

async function readAssets(): Promise<Map<string, RawAnswer>> {
  const dir = ASSET_DIRS.find((candidate) => existsSync(new URL('index.html', candidate)));
  if (dir === undefined) {
    throw new Error(`the dashboard files are missing (looked in ${ASSET_DIRS.map((d) => fileURLToPath(d)).join(', ')})`);
  }
  const answers = new Map<string, RawAnswer>();
  for (const [pattern, asset] of Object.entries(ASSETS)) {
    answers.set(pattern, new RawAnswer(200, asset.contentType, await readFile(new URL(asset.file, dir))));
  }
  return answers;
}
