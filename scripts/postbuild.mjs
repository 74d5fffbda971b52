// Marks the CLI entry executable after tsc, so `npx tinykv` works from a fresh clone.
import { chmodSync } from 'node:fs';
chmodSync('dist/src/cli/main.js', 0o755);
