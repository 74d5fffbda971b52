#!/usr/bin/env node
// Soak test for src/raft: runs thousands of simulation seeds by spawning
// `vitest run test/raft/sim.test.ts` in batches (RAFT_SIM_BASE/RAFT_SIM_SEEDS).
//
//   node scripts/raft-soak.mjs [--seeds 5000] [--base <seed>] [--batch 1000] [--jobs 1]
//
// The base seed defaults to one derived from the clock and is printed, so a
// failing batch can be re-run; a failure prints its own seed and replay command.
// Uses a temporary vitest config (no global build step) rooted at this repo.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..');

function arg(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] !== undefined ? Number(process.argv[i + 1]) : fallback;
}

const seeds = arg('seeds', 5000);
const base = arg('base', (Date.now() % 1_000_000_000) * 10);
const batch = arg('batch', 1000);
const jobs = Math.max(1, arg('jobs', 1));

const dir = mkdtempSync(join(tmpdir(), 'raft-soak-'));
const config = join(dir, 'vitest.raft-soak.config.mjs');
writeFileSync(
  config,
  `export default ${JSON.stringify({
    root: repo,
    test: { include: ['test/raft/sim.test.ts'], testTimeout: 3_600_000, pool: 'forks' },
  })};\n`,
);

const batches = [];
for (let start = base; start < base + seeds; start += batch) {
  batches.push({ start, count: Math.min(batch, base + seeds - start) });
}

console.log(`raft soak: ${seeds} seeds from base ${base}, ${batches.length} batch(es), ${jobs} job(s)`);
const started = Date.now();
let failed = 0;

function runBatch({ start, count }) {
  return new Promise((done) => {
    const child = spawn(process.execPath, [join(repo, 'node_modules/vitest/vitest.mjs'), 'run', '--config', config, 'test/raft/sim.test.ts'], {
      cwd: repo,
      env: { ...process.env, RAFT_SIM_BASE: String(start), RAFT_SIM_SEEDS: String(count) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
    });
    child.stderr.on('data', (d) => {
      out += d;
    });
    child.on('close', (code) => {
      const ok = code === 0;
      if (!ok) failed++;
      console.log(`seeds ${start}..${start + count - 1}: ${ok ? 'ok' : 'FAILED'}`);
      if (!ok)
        console.log(
          out
            .split('\n')
            .filter((l) => /simulation failed|replay:|Error|seed/.test(l))
            .slice(0, 40)
            .join('\n'),
        );
      done();
    });
  });
}

const queue = [...batches];
await Promise.all(
  Array.from({ length: jobs }, async () => {
    while (queue.length > 0) await runBatch(queue.shift());
  }),
);
rmSync(dir, { recursive: true, force: true });
const secs = ((Date.now() - started) / 1000).toFixed(1);
console.log(`raft soak: ${seeds} seeds, ${failed} failed batch(es), ${secs}s`);
process.exit(failed === 0 ? 0 : 1);
