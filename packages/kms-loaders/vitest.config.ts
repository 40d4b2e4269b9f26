import { defineProject } from 'vitest/config';

export default defineProject({
  test: {
    name: 'kms-loaders',
    include: ['test/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 60_000,
    pool: 'forks',
  },
});
