// Fast iteration on the Raft library's tests without the root config's build step.
import { defineConfig } from 'vitest/config';

export default defineConfig({ test: { include: ['test/raft/**/*.test.ts'], testTimeout: 120_000 } });
