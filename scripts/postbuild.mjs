// After tsc: marks the CLI entry executable, so `npx tinykv` works from a fresh clone, and copies the
// dashboard's static files (not TypeScript, so tsc leaves them) beside the compiled module serving them,
// so a packed or installed dist/ has them too.
import { chmodSync, cpSync } from 'node:fs';
chmodSync('dist/src/cli/main.js', 0o755);
cpSync('src/scheduler/http/dashboard', 'dist/src/scheduler/http/dashboard', { recursive: true });
