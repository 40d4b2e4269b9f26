import { defineConfig } from 'vitest/config';

// One vitest run covers every package: each package folder is a project with its own config.
export default defineConfig({
  test: {
    projects: ['packages/*'],
  },
});
