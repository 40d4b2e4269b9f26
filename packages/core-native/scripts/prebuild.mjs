#!/usr/bin/env node
// prepack: ships the local build as the prebuilt binary
// for this platform (prebuilds/<platform>-<arch>/strongroom.node), so the packed
// tarball installs and loads without a compiler. postpack (--clean) removes it again,
// so a development checkout always loads its own fresh build.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const PACKAGE_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const PREBUILDS = path.join(PACKAGE_DIR, 'prebuilds');

if (process.argv.includes('--clean')) {
  fs.rmSync(PREBUILDS, { recursive: true, force: true });
} else {
  const built = path.join(PACKAGE_DIR, 'build', 'Release', 'strongroom.node');
  if (!fs.existsSync(built)) {
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
  const target = path.join(PREBUILDS, `${process.platform}-${process.arch}`);
  fs.mkdirSync(target, { recursive: true });
  fs.copyFileSync(built, path.join(target, 'strongroom.node'));
}
