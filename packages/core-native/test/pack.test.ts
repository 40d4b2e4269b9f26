// `pnpm pack` gives a tarball that installs into an empty folder (with the prebuilt
// binary for this platform, so no compiler runs) and loads there.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { expect, it } from 'vitest';

import { PACKAGE_DIR } from './helpers.js';

it('the packed tarball installs into an empty folder and works there', { timeout: 300_000 }, () => {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'strongroom-pack-'));
  try {
    execFileSync('pnpm', ['pack', '--pack-destination', work], { cwd: PACKAGE_DIR, stdio: 'pipe' });
    const tarball = fs.readdirSync(work).find((f) => f.endsWith('.tgz'));
    expect(tarball).toBeDefined();
    const listing = execFileSync('tar', ['-tzf', path.join(work, tarball!)], { encoding: 'utf8' });
    expect(listing).toContain(`package/prebuilds/${process.platform}-${process.arch}/strongroom.node`);
    expect(listing).toContain('package/dist/index.js');
    expect(listing).toContain('package/native/guarded_memory.cc');
    expect(listing).not.toMatch(/package\/(deps|build|test|src)\//);
    expect(fs.existsSync(path.join(PACKAGE_DIR, 'prebuilds'))).toBe(false); // postpack cleaned up

    const app = path.join(work, 'app');
    fs.mkdirSync(app);
    fs.writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module', allowScripts: { '@strongroom/core-native': true } }));
    const install = execFileSync(
      'npm',
      ['install', '--no-audit', '--no-fund', '--foreground-scripts', path.join(work, tarball!)],
      { cwd: app, encoding: 'utf8', stdio: 'pipe', env: { ...process.env, npm_config_loglevel: 'error' } },
    );
    expect(install).not.toMatch(/gyp info/); // the prebuild was used: nothing compiled
    const out = execFileSync(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        `import * as sr from '@strongroom/core-native';
         const key = sr.allocate(32); sr.randomFill(key);
         const msg = sr.allocate(5); sr.randomFill(msg);
         const opened = sr.open(key, sr.seal(key, msg));
         console.log(sr.equals(opened, msg), sr.stats().regions);`,
      ],
      { cwd: app, encoding: 'utf8' },
    );
    expect(out.trim()).toBe('true 3');
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
});
