// Fast iteration on the metrics tests without the root config's build step (run `npm run build` first).
import { defineConfig } from 'vitest/config';

export default defineConfig({ test: { include: ['test/metrics/**/*.test.ts'], testTimeout: 120_000 } });
