import { defineConfig } from 'vitest/config';

// Forks, not threads: the native addon keeps a persistent thread pool per process.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    pool: 'forks',
    poolOptions: { forks: { maxForks: 2, minForks: 1 } },
    testTimeout: 120_000,
    reporters: ['default'],
  },
});
