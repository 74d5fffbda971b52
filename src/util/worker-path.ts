/**
 * The compiled file of a worker-thread entry point under workers/. From dist/ it sits beside the
 * running code; when the TypeScript sources run directly (tests), the build in dist/ is used.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export function workerFileUrl(name: string): string {
  const beside = new URL(`../../workers/${name}.js`, import.meta.url);
  if (existsSync(fileURLToPath(beside))) return beside.href;
  const built = new URL(`../../dist/workers/${name}.js`, import.meta.url);
  if (existsSync(fileURLToPath(built))) return built.href;
  throw new Error(`worker ${name} is not built: run npm run build`);
}
