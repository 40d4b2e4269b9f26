import { defineConfig } from 'vitest/config';

// One vitest run covers every package: each package folder is a project with its own
// config; tools/repo-checks checks the repository's structure and design document. @strongroom/buffer and
// @strongroom/express run a second time in 'copy' view mode, the mode of runtimes that refuse external
// ArrayBuffers: the same suites must pass in both. @strongroom/buffer and @strongroom/enclave run once
// more on isolated regions (STRONGROOM_ISOLATED=1: no region shares a slab), since by default their
// small secrets live in slab slots.
export default defineConfig({
  test: {
    // Fails the run when a test leaves a strongroom-* folder in the temp directory.
    globalSetup: ['./tools/repo-checks/temp-folders.ts'],
    projects: [
      'packages/*',
      'tools/repo-checks',
      {
        extends: './packages/buffer-api/vitest.config.ts',
        root: './packages/buffer-api',
        test: {
          name: 'buffer (copy mode)',
          env: { STRONGROOM_NO_EXTERNAL_BUFFERS: '1' },
        },
      },
      {
        extends: './packages/buffer-api/vitest.config.ts',
        root: './packages/buffer-api',
        test: {
          name: 'buffer (isolated)',
          env: { STRONGROOM_ISOLATED: '1' },
        },
      },
      {
        extends: './packages/enclave/vitest.config.ts',
        root: './packages/enclave',
        test: {
          name: 'enclave (isolated)',
          env: { STRONGROOM_ISOLATED: '1' },
        },
      },
      {
        extends: './packages/express-integration/vitest.config.ts',
        root: './packages/express-integration',
        test: {
          name: 'express (copy mode)',
          env: { STRONGROOM_NO_EXTERNAL_BUFFERS: '1' },
        },
      },
    ],
  },
});
