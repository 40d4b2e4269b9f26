import { defineProject } from 'vitest/config';

// Checks of the repository itself (its import graph, its design document), run with
// every other project by the root vitest config.
export default defineProject({
  test: {
    name: 'repo-checks',
    include: ['test/**/*.test.ts'],
  },
});
