#!/usr/bin/env node
// Builds the native addon: libsodium first (scripts/libsodium.mjs), then node-gyp.
//
//   node scripts/build.mjs            incremental build of the addon and the test-only addon
//   node scripts/build.mjs --install  (the package's install script) nothing to do when a
//                                      prebuilt binary for this platform loads; else build.
//                                      A failed build (or a platform other than Linux) does
//                                      not fail the install: the addon then reports
//                                      ERR_NATIVE_UNAVAILABLE and @strongroom/enclave can use
//                                      its portable backend. STRONGROOM_REQUIRE_NATIVE=1 makes
//                                      it fail the install instead.
//
// Node's headers are taken from the running Node's own installation when present, so
// node-gyp never downloads them (a closed network stays closed).
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';

import { LOCAL_ADDON as LOCAL_BUILD, PACKAGE_DIR, PREBUILT_ADDON as PREBUILD } from './addon-path.mjs';
import { ensureLibsodium, libsodiumReady } from './libsodium.mjs';

const TEST_ADDON_DIR = path.join(PACKAGE_DIR, 'test', 'native');

function loads(file) {
  if (!fs.existsSync(file)) return false;
  const probe = spawnSync(process.execPath, ['-e', `process.dlopen({ exports: {} }, ${JSON.stringify(file)})`], {
    stdio: 'ignore',
  });
  return probe.status === 0;
}

function nodeGyp() {
  try {
    return [process.execPath, createRequire(import.meta.url).resolve('node-gyp/bin/node-gyp.js')];
  } catch {
    // Installed from the registry: npm and pnpm hand their bundled node-gyp to scripts.
    if (process.env.npm_config_node_gyp) return [process.execPath, process.env.npm_config_node_gyp];
    return ['node-gyp'];
  }
}

function nodedirArgs() {
  const given = process.env.npm_config_nodedir;
  if (given) return [`--nodedir=${given}`];
  const prefix = path.resolve(path.dirname(process.execPath), '..');
  return fs.existsSync(path.join(prefix, 'include', 'node', 'node_api.h')) ? [`--nodedir=${prefix}`] : [];
}

function gyp(args, cwd) {
  const [cmd, ...pre] = nodeGyp();
  const result = spawnSync(cmd, [...pre, ...args, ...nodedirArgs()], { cwd, stdio: 'inherit' });
  if (result.error) throw new Error(`node-gyp could not be started: ${result.error.message}`);
  if (result.status !== 0) throw new Error(`node-gyp ${args[0]} failed in ${cwd} (exit ${result.status})`);
}

function buildAddon(cwd) {
  if (!fs.existsSync(path.join(cwd, 'build', 'Makefile'))) gyp(['configure'], cwd);
  gyp(['build', `--jobs=${os.availableParallelism()}`], cwd);
}

function main() {
  if (install && loads(PREBUILD)) {
    process.stderr.write('[strongroom] using the prebuilt binary for this platform\n');
    return;
  }
  const rebuilt = !libsodiumReady();
  ensureLibsodium();
  // The Makefile node-gyp writes does not depend on libsodium.a: after a rebuild of the
  // library (new configure flags), the addon's link outputs go, so that it is linked again.
  if (rebuilt) {
    for (const linked of [LOCAL_BUILD, path.join(path.dirname(LOCAL_BUILD), 'obj.target', 'strongroom.node')]) {
      fs.rmSync(linked, { force: true });
    }
  }
  buildAddon(PACKAGE_DIR);
  if (!loads(LOCAL_BUILD)) throw new Error(`the built addon ${LOCAL_BUILD} does not load`);
  if (!install && fs.existsSync(TEST_ADDON_DIR)) buildAddon(TEST_ADDON_DIR);
}

const install = process.argv.includes('--install');
const requireNative = process.env.STRONGROOM_REQUIRE_NATIVE === '1';

function giveUp(reason) {
  if (install && !requireNative) {
    process.stderr.write(
      `[strongroom] ${reason.replace(/\.+$/, '')}. The install goes on without the native addon: loading it reports ` +
        'ERR_NATIVE_UNAVAILABLE, and @strongroom/enclave falls back to its portable JavaScript backend ' +
        '(weaker: no guard pages, no mlock). Set STRONGROOM_REQUIRE_NATIVE=1 to make this fail the install.\n',
    );
    process.exit(0);
  }
  process.stderr.write(`[strongroom] ${reason}\n`);
  process.exit(1);
}

if (process.platform !== 'linux') {
  giveUp(`the native addon supports Linux only (this is ${process.platform})`);
} else {
  try {
    main();
  } catch (error) {
    giveUp(`build failed: ${error.message}`);
  }
}
