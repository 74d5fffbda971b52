// Medians over the rounds of a scripted bench run (bench/scripts/issue-14.sh, side-by-side.sh):
// every JSON report in the directory, grouped by file prefix (unary-1.json -> "unary") and run
// (target, op, clients), one line per run with the median and the range of each figure.
//   node bench/scripts/medians.mjs <out-dir>
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const dir = process.argv[2];
if (!dir) {
  console.error('usage: node bench/scripts/medians.mjs <out-dir>');
  process.exit(2);
}
const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};
const fmt = (value, digits = 0) => value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
const runs = new Map();
for (const file of readdirSync(dir)
  .filter((name) => /-\d+\.json$/.test(name))
  .sort()) {
  const group = file.replace(/-\d+\.json$/, '');
  const report = JSON.parse(readFileSync(join(dir, file), 'utf8'));
  for (const r of report.results) {
    const key = `${group} ${r.target} ${r.op} x${r.clients}`;
    if (!runs.has(key)) runs.set(key, []);
    runs.get(key).push(r);
  }
}
/** @type {Array<{ name: string, of: (r: any) => number, digits: number }>} */
const figures = [
  { name: 'ops/s', of: (r) => r.opsPerSec, digits: 0 },
  { name: 'p50 ms', of: (r) => r.latencyMs.p50, digits: 2 },
  { name: 'p99 ms', of: (r) => r.latencyMs.p99, digits: 2 },
  { name: 'client us/op', of: (r) => r.clientCpuUsPerOp, digits: 0 },
  { name: 'server us/op', of: (r) => r.server?.cpuUsPerRequest ?? NaN, digits: 0 },
];
for (const [key, results] of runs) {
  const parts = figures
    .map(({ name, of, digits }) => {
      const values = results.map(of).filter((v) => Number.isFinite(v));
      if (values.length === 0) return undefined;
      return `${name} ${fmt(median(values), digits)} [${fmt(Math.min(...values), digits)}..${fmt(Math.max(...values), digits)}]`;
    })
    .filter(Boolean);
  console.log(`${key} (${results.length} rounds): ${parts.join(', ')}`);
}
