import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Real-process tests fork workers; forks keep each test file's children in its own process tree.
    pool: 'forks',
    testTimeout: 30_000,
    hookTimeout: 30_000,
  },
});
