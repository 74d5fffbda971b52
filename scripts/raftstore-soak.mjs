#!/usr/bin/env node
// Soak test for the raftstore: runs many seeds of the chaos simulations (test/raftstore/sim.test.ts,
// with membership changes test/raftstore/sim-membership.test.ts, with splits sim-split.test.ts) in batches, each batch one
// vitest run without the build step; every seed of a batch runs in each file.
//
//   node scripts/raftstore-soak.mjs [--seeds 2000] [--base <seed>] [--batch 200] [--file <test file>]...
//
// `--file` (repeatable) runs only the given files.
// The base seed defaults to one derived from the clock and is printed; a failing seed prints
// itself and can be replayed with RAFTSTORE_SIM_SEED=<seed>.
import { spawnSync } from 'node:child_process';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..');

function arg(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] !== undefined ? Number(process.argv[i + 1]) : fallback;
}

const seeds = arg('seeds', 2000);
const base = arg('base', (Date.now() % 1_000_000) * 10);
const batch = arg('batch', 200);
const chosen = process.argv.flatMap((a, i) => (a === '--file' && process.argv[i + 1] !== undefined ? [process.argv[i + 1]] : []));
const files =
  chosen.length > 0 ? chosen : ['test/raftstore/sim.test.ts', 'test/raftstore/sim-membership.test.ts', 'test/raftstore/sim-split.test.ts'];
console.log(`raftstore soak: ${seeds} seeds from base ${base} in batches of ${batch}: ${files.join(', ')}`);

let failed = 0;
for (let start = base; start < base + seeds; start += batch) {
  const count = Math.min(batch, base + seeds - start);
  const result = spawnSync(process.execPath, ['node_modules/vitest/vitest.mjs', 'run', '-c', 'test/raftstore/vitest.config.ts', ...files], {
    cwd: repo,
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, RAFTSTORE_SIM_BASE: String(start), RAFTSTORE_SIM_SEEDS: String(count) },
  });
  const out = result.stdout.toString();
  const ok = result.status === 0;
  if (!ok) {
    failed++;
    process.stdout.write(out);
  }
  console.log(`seeds ${start}..${start + count - 1}: ${ok ? 'ok' : 'FAILED'}`);
}
console.log(failed === 0 ? `all ${seeds} seeds passed` : `${failed} batch(es) failed`);
process.exit(failed === 0 ? 0 : 1);
