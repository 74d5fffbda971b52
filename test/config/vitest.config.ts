// Fast iteration on the config tests without the root config's build step.
import { defineConfig } from 'vitest/config';

export default defineConfig({ test: { include: ['test/config/**/*.test.ts'] } });
