// Where the addon lives, in one place for the loader (src/binding.ts), the build
// (scripts/build.mjs) and the packer (scripts/prebuild.mjs): a prebuilt binary for this
// platform when the package ships one, else the local node-gyp build.
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The package folder (this file is in its scripts/). */
export const PACKAGE_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
/** The prebuilt binary of this platform: prebuilds/<platform>-<arch>/strongroom.node. */
export const PREBUILT_ADDON = path.join(PACKAGE_DIR, 'prebuilds', `${process.platform}-${process.arch}`, 'strongroom.node');
/** The local build: build/Release/strongroom.node. */
export const LOCAL_ADDON = path.join(PACKAGE_DIR, 'build', 'Release', 'strongroom.node');
