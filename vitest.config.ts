import { defineConfig } from 'vitest/config'

// Two projects: `unit` (pure, fast, no servers) and `integration` (real PostgreSQL, a real OIDC
// provider, the built CLI). `npm test` runs both, as CI does.
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
          environment: 'node',
        },
      },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          environment: 'node',
          globalSetup: ['test/support/global-setup.ts'],
          testTimeout: 60_000,
          hookTimeout: 120_000,
          // Real servers on a shared 2-core machine: give expect.poll room under load (CI).
          expect: { poll: { timeout: 10_000, interval: 100 } },
          fileParallelism: false,
        },
      },
    ],
  },
})
