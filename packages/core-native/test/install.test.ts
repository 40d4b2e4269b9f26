// The install script: where the addon cannot be built, installing goes on (so that the
// enclave's portable backend can be reached) unless STRONGROOM_REQUIRE_NATIVE=1. The
// build is made to fail by a copy of the package with no libsodium cache and a
// libsodium tarball that does not exist.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { PACKAGE_DIR } from './helpers.js';

describe('scripts/build.mjs --install without a buildable addon', () => {
  let copy: string;

  beforeAll(() => {
    copy = fs.mkdtempSync(path.join(os.tmpdir(), 'strongroom-install-'));
    for (const entry of ['scripts', 'native', 'binding.gyp', 'package.json']) {
      fs.cpSync(path.join(PACKAGE_DIR, entry), path.join(copy, entry), { recursive: true });
    }
  });

  afterAll(() => {
    fs.rmSync(copy, { recursive: true, force: true });
  });

  function install(requireNative: boolean) {
    const env: NodeJS.ProcessEnv = { ...process.env, STRONGROOM_LIBSODIUM_TARBALL: path.join(copy, 'missing.tar.gz') };
    if (requireNative) env.STRONGROOM_REQUIRE_NATIVE = '1';
    else delete env.STRONGROOM_REQUIRE_NATIVE;
    return spawnSync(process.execPath, ['scripts/build.mjs', '--install'], { cwd: copy, env, encoding: 'utf8', timeout: 60_000 });
  }

  it('warns and succeeds, saying what the fallback loses', () => {
    const result = install(false);
    expect(result.status).toBe(0);
    expect(result.stderr).toMatch(/build failed/);
    expect(result.stderr).toMatch(/install goes on without the native addon.*ERR_NATIVE_UNAVAILABLE/s);
    expect(result.stderr).toMatch(/STRONGROOM_REQUIRE_NATIVE=1/);
    expect(fs.existsSync(path.join(copy, 'build', 'Release', 'strongroom.node'))).toBe(false);
  });

  it('fails the install under STRONGROOM_REQUIRE_NATIVE=1', () => {
    const result = install(true);
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(/build failed/);
    expect(result.stderr).not.toMatch(/install goes on/);
  });
});
