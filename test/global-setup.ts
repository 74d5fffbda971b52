// End-to-end tests run the compiled CLI (as users do), so compile once before any test runs.
import { execFileSync } from 'node:child_process';

export default function setup(): void {
  execFileSync(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.build.json'], { stdio: 'inherit' });
  execFileSync(process.execPath, ['scripts/postbuild.mjs'], { stdio: 'inherit' });
}
