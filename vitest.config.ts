import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // forks, not threads: the workers must inherit NODE_EXTRA_CA_CERTS set by the global setup.
    pool: 'forks',
    globalSetup: ['test/setup/tls.ts', 'test/setup/postgres.ts'],
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
