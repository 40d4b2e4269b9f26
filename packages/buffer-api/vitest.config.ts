import { defineProject } from 'vitest/config';

// The root vitest.config.ts runs this project twice: as is ('direct' views over guarded
// memory) and with STRONGROOM_NO_EXTERNAL_BUFFERS=1 ('copy' mode, as under Electron).
export default defineProject({
  test: {
    name: 'buffer',
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
  },
});
