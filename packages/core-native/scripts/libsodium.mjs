#!/usr/bin/env node
// Obtains, verifies, patches and builds libsodium as a static, position-independent
// library for the addon, and caches the result in deps/ (git-ignored).
//
// Sources, in order:
//   1. STRONGROOM_LIBSODIUM_TARBALL: a path to an official libsodium release tarball
//      (or the Debian orig tarball), checked against the SHA-256 pinned below;
//   2. on Debian and Ubuntu: the distribution's source archive (`apt-get source
//      --download-only libsodium`), whose orig tarball is checked against the same pins
//      and whose security patches (debian/patches/series) are applied.
// Nothing is ever downloaded from anywhere else, and the source is never committed.
// When no source can be had, the build stops with one message saying what to do.

import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { PACKAGE_DIR } from './addon-path.mjs';

export const DEPS_DIR = path.join(PACKAGE_DIR, 'deps');
export const INSTALL_DIR = path.join(DEPS_DIR, 'libsodium');
const STAMP = path.join(INSTALL_DIR, 'strongroom-stamp.json');

// SHA-256 of every tarball we accept. The Debian orig tarball lacks ./configure
// (autogen.sh regenerates it); the upstream release tarball ships it.
const PINNED = {
  d59323c6b712a1519a5daf710b68f5e7fde57040845ffec53850911f10a5d4f4: {
    name: 'libsodium_1.0.18.orig.tar.gz (Debian/Ubuntu source archive)',
    version: '1.0.18',
  },
  '6f504490b342a4f8a4c4a02fc9b866cbef8622d5df4e5452b46be121e46636c1': {
    name: 'libsodium-1.0.18.tar.gz (upstream release)',
    version: '1.0.18',
  },
};

// Not --enable-minimal: that build leaves out crypto_pwhash_scryptsalsa208sha256, which
// age's passphrase recipients (native/age_*.cc) need. A cache built with other flags is
// rebuilt: libsodiumReady() compares the flags in the stamp with these, and build.mjs then
// relinks the addon (the Makefile node-gyp writes does not depend on libsodium.a).
const CONFIGURE_FLAGS = [
  '--disable-shared',
  '--enable-static',
  '--with-pic',
  '--disable-dependency-tracking',
];

class SourceUnavailable extends Error {}

function log(message) {
  process.stderr.write(`[strongroom libsodium] ${message}\n`);
}

function run(cmd, args, options = {}) {
  const result = spawnSync(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8', ...options });
  if (result.error) throw new Error(`${cmd} could not be started: ${result.error.message}`);
  if (result.status !== 0) {
    const tail = `${result.stdout ?? ''}${result.stderr ?? ''}`.trim().split('\n').slice(-25).join('\n');
    throw new Error(`\`${cmd} ${args.join(' ')}\` failed (exit ${result.status}):\n${tail}`);
  }
  return result.stdout;
}

function hasCommand(cmd) {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

function sha256(file) {
  return createHash('sha256').update(fs.readFileSync(file)).digest('hex');
}

function osRelease() {
  try {
    const text = fs.readFileSync('/etc/os-release', 'utf8');
    const fields = Object.fromEntries(
      text.split('\n').filter(Boolean).map((line) => {
        const i = line.indexOf('=');
        return [line.slice(0, i), line.slice(i + 1).replace(/^"|"$/g, '')];
      }),
    );
    return `${fields.ID ?? ''} ${fields.ID_LIKE ?? ''}`;
  } catch {
    return '';
  }
}

/** Returns { tarball, patchesDir|null } in workDir, or throws SourceUnavailable. */
function obtainSource(workDir) {
  const given = process.env.STRONGROOM_LIBSODIUM_TARBALL;
  if (given) {
    if (!fs.existsSync(given)) throw new SourceUnavailable(`STRONGROOM_LIBSODIUM_TARBALL=${given} does not exist.`);
    return { tarball: path.resolve(given), patchesDir: null };
  }
  if (!/\b(debian|ubuntu)\b/.test(osRelease()) || !hasCommand('apt-get')) {
    throw new SourceUnavailable('this is not a Debian or Ubuntu system with apt-get.');
  }
  const result = spawnSync('apt-get', ['source', '--download-only', '-qq', 'libsodium'], {
    cwd: workDir,
    stdio: ['ignore', 'pipe', 'pipe'],
    encoding: 'utf8',
  });
  const tarball = fs.readdirSync(workDir).find((f) => /^libsodium_[\d.]+\.orig\.tar\.gz$/.test(f));
  if (result.status !== 0 || !tarball) {
    const why = (result.stderr || result.stdout || '').trim().split('\n').slice(-3).join(' ');
    throw new SourceUnavailable(
      `apt-get could not download libsodium's source (${why || 'no orig tarball'}). ` +
        'The source archive needs a deb-src entry and `apt-get update`: `sudo bash scripts/setup.sh` ' +
        'at the repository root does both.',
    );
  }
  const debianTar = fs.readdirSync(workDir).find((f) => /^libsodium_.*\.debian\.tar\.(xz|gz)$/.test(f));
  let patchesDir = null;
  if (debianTar) {
    run('tar', ['-xf', debianTar], { cwd: workDir });
    const dir = path.join(workDir, 'debian', 'patches');
    if (fs.existsSync(path.join(dir, 'series'))) patchesDir = dir;
  }
  return { tarball: path.join(workDir, tarball), patchesDir };
}

function applyPatches(srcDir, patchesDir) {
  if (!patchesDir) return [];
  const series = fs
    .readFileSync(path.join(patchesDir, 'series'), 'utf8')
    .split('\n')
    .map((l) => l.replace(/#.*/, '').trim())
    .filter(Boolean);
  for (const entry of series) {
    const [name, ...opts] = entry.split(/\s+/);
    const strip = opts.find((o) => /^-p\d$/.test(o)) ?? '-p1';
    run('patch', [strip, '--forward', '--batch', '-i', path.join(patchesDir, name)], { cwd: srcDir });
    log(`applied ${name}`);
  }
  return series;
}

function buildFrom(tarball, patchesDir, workDir) {
  const digest = sha256(tarball);
  const pinned = PINNED[digest];
  if (!pinned) {
    throw new SourceUnavailable(
      `${path.basename(tarball)} has SHA-256 ${digest}, which is not one of the pinned libsodium ` +
        `tarballs (${Object.values(PINNED).map((p) => p.name).join('; ')}).`,
    );
  }
  log(`verified ${pinned.name}`);
  run('tar', ['-xzf', tarball], { cwd: workDir });
  const srcDir = path.join(workDir, `libsodium-${pinned.version}`);
  if (!fs.existsSync(srcDir)) throw new Error(`the tarball did not unpack to libsodium-${pinned.version}/`);
  const patches = applyPatches(srcDir, patchesDir);

  if (!fs.existsSync(path.join(srcDir, 'configure'))) {
    const missing = ['autoconf', 'automake', 'libtoolize'].filter((c) => !hasCommand(c));
    if (missing.length) {
      throw new SourceUnavailable(
        `libsodium's Debian source needs autotools to generate ./configure, and ${missing.join(', ')} ` +
          'is missing: `sudo apt-get install autoconf automake libtool` (or run `sudo bash scripts/setup.sh`).',
      );
    }
    log('generating ./configure (autogen.sh)');
    run('sh', ['./autogen.sh', '-s'], { cwd: srcDir, env: { ...process.env, DO_NOT_UPDATE_CONFIG_SCRIPTS: '1' } });
  }
  log('configuring');
  fs.rmSync(INSTALL_DIR, { recursive: true, force: true });
  run('sh', ['./configure', `--prefix=${INSTALL_DIR}`, ...CONFIGURE_FLAGS], { cwd: srcDir });
  log(`compiling on ${os.availableParallelism()} cores`);
  run('make', [`-j${os.availableParallelism()}`], { cwd: srcDir });
  run('make', ['install'], { cwd: srcDir });
  fs.writeFileSync(
    STAMP,
    JSON.stringify({ sha256: digest, version: pinned.version, patches, flags: CONFIGURE_FLAGS }, null, 2),
  );
}

export function libsodiumReady() {
  try {
    const stamp = JSON.parse(fs.readFileSync(STAMP, 'utf8'));
    return (
      PINNED[stamp.sha256] !== undefined &&
      JSON.stringify(stamp.flags) === JSON.stringify(CONFIGURE_FLAGS) &&
      fs.existsSync(path.join(INSTALL_DIR, 'lib', 'libsodium.a')) &&
      fs.existsSync(path.join(INSTALL_DIR, 'include', 'sodium.h'))
    );
  } catch {
    return false;
  }
}

export function ensureLibsodium() {
  if (libsodiumReady()) return INSTALL_DIR;
  fs.mkdirSync(DEPS_DIR, { recursive: true });
  const workDir = fs.mkdtempSync(path.join(DEPS_DIR, 'work-'));
  try {
    const { tarball, patchesDir } = obtainSource(workDir);
    buildFrom(tarball, patchesDir, workDir);
    log(`ready in ${path.relative(PACKAGE_DIR, INSTALL_DIR)}/`);
    return INSTALL_DIR;
  } catch (error) {
    fs.rmSync(INSTALL_DIR, { recursive: true, force: true });
    if (error instanceof SourceUnavailable) {
      const message =
        `libsodium's source is needed to build @strongroom/core-native, and ${error.message}\n` +
        'Either run `sudo bash scripts/setup.sh` at the strongroom repository root (Debian/Ubuntu: it enables ' +
        'the source archive and installs autotools), or download the official release ' +
        'libsodium-1.0.18.tar.gz and set STRONGROOM_LIBSODIUM_TARBALL=/path/to/libsodium-1.0.18.tar.gz.';
      const wrapped = new Error(message);
      wrapped.code = 'ERR_LIBSODIUM_SOURCE';
      throw wrapped;
    }
    throw error;
  } finally {
    fs.rmSync(workDir, { recursive: true, force: true });
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    ensureLibsodium();
  } catch (error) {
    log(error.message);
    process.exit(1);
  }
}
