#!/usr/bin/env node
// prepack: ships the local build as the prebuilt binary
// for this platform (prebuilds/<platform>-<arch>/strongroom.node), so the packed
// tarball installs and loads without a compiler. postpack (--clean) removes it again,
// so a development checkout always loads its own fresh build.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

import { LOCAL_ADDON, PACKAGE_DIR, PREBUILT_ADDON } from './addon-path.mjs';

const PREBUILDS = path.join(PACKAGE_DIR, 'prebuilds');

if (process.argv.includes('--clean')) {
  fs.rmSync(PREBUILDS, { recursive: true, force: true });
} else {
  if (!fs.existsSync(LOCAL_ADDON)) {
    process.stderr.write('[strongroom] nothing to pack: build the addon first (node scripts/build.mjs)\n');
    process.exit(1);
  }
  // `pnpm build` compiles dist/; compile here only when it is missing, so a pack never
  // rewrites files that a running test may be importing.
  if (!fs.existsSync(path.join(PACKAGE_DIR, 'dist', 'index.js'))) {
    const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
    const result = spawnSync(process.execPath, [tsc, '-p', 'tsconfig.build.json'], { cwd: PACKAGE_DIR, stdio: 'inherit' });
    if (result.status !== 0) process.exit(result.status ?? 1);
  }
  fs.mkdirSync(path.dirname(PREBUILT_ADDON), { recursive: true });
  fs.copyFileSync(LOCAL_ADDON, PREBUILT_ADDON);
}
