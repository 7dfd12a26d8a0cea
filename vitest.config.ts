import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Real-process tests fork workers; forks keep each test file's children in its own process tree.
    pool: 'forks',
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // The dashboard test needs a real Chromium, the Redis tests redis-server: installed here as root on Debian,
    // so that `npm test` needs nothing by hand.
    globalSetup: ['./test/setup/browser.ts', './test/setup/redis.ts'],
  },
});
