import { defineProject } from 'vitest/config';

// Every test here spawns real child processes; 'forks' keeps each test file in its own process.
export default defineProject({
  test: {
    name: 'testkit',
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    pool: 'forks',
  },
});
