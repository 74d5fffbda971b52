// Fast iteration on the raftstore tests without the root config's build step.
import { defineConfig } from 'vitest/config';

export default defineConfig({ test: { include: ['test/raftstore/**/*.test.ts'], testTimeout: 120_000 } });
