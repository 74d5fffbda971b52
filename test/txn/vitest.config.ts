// Runs only the transaction tests, without the repository-wide build step of the root config:
//   npx vitest run --config test/txn/vitest.config.ts
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    root: fileURLToPath(new URL('../..', import.meta.url)),
    include: ['test/txn/**/*.test.ts'],
    testTimeout: 60_000,
    pool: 'forks',
  },
});
