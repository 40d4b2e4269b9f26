// The sealed format, defined once for every package (native/sealing.h is its C++ twin):
//
//   sealed = nonce(24) || mac(16) || ciphertext     (NaCl crypto_secretbox, nonce first)
//
// byte-for-byte what tweetnacl and every NaCl secretbox produce after the nonce:
// nacl.secretbox.open(sealed.subarray(24), sealed.subarray(0, 24), key) opens it.
// seal/open/openInto work under a 32-byte key region; the coffer (coffer.ts) seals the
// same format under the process-wide split key. The ciphertext is not secret and lives
// in the heap.
//
// Sealed bytes shorter than the overhead are ERR_AUTH everywhere (truncated, or not sealed
// bytes). Exactly 40 bytes is a sealed empty message (tweetnacl makes one for an empty
// input): strongroom never seals one, and a region holds at least one byte, so opening
// one authenticates it and then throws ERR_EMPTY (ERR_AUTH if it does not authenticate).
//
// These constants are the NaCl format's, stated here rather than read from the addon
// because the enclave's portable backend needs them where the addon cannot load; a test
// checks that the addon's own numbers (constants.ts) agree.
import { native } from './binding.js';
import { StrongroomError } from './errors.js';
import { allocateNative, nativeOf, type AllocateOptions, type Region } from './region.js';
import type { NativeRegion } from './types.js';
import { checkArgs, checkBytes, invalid } from './validate.js';

export const KEY_BYTES = 32;
export const NONCE_BYTES = 24;
export const MAC_BYTES = 16;
/** sealed.length - plaintext length */
export const SEAL_OVERHEAD = NONCE_BYTES + MAC_BYTES;

/**
 * The plaintext size of sealed bytes (0 for a sealed empty message). ERR_AUTH when they
 * are too short to be sealed bytes. Checks the shape only: opening authenticates.
 */
export function sealedSize(sealed: Uint8Array): number {
  checkArgs(arguments.length, 1, 'sealedSize()');
  checkBytes(sealed, 'sealed');
  if (sealed.length < SEAL_OVERHEAD) {
    throw new StrongroomError(
      'ERR_AUTH',
      `sealed bytes are at least ${SEAL_OVERHEAD} bytes long (nonce and MAC); these ${sealed.length} were truncated or are not sealed bytes`,
    );
  }
  return sealed.length - SEAL_OVERHEAD;
}

function checkKey(key: Region) {
  const handle = nativeOf(key, 'key');
  if (key.size !== KEY_BYTES) throw invalid(`the key must be a ${KEY_BYTES}-byte region, got ${key.size} bytes`);
  return handle;
}

/** Seals the bytes of `plaintext` under `key`, with a fresh random nonce. */
export function seal(key: Region, plaintext: Region): Uint8Array {
  checkArgs(arguments.length, 2, 'seal()');
  const k = checkKey(key);
  return native().seal(k, nativeOf(plaintext, 'plaintext'));
}

/** The native step of an open: fills `target` from the sealed bytes (undefined: only authenticate 40 bytes). */
type Fill = (target: NativeRegion | undefined) => void;

/**
 * @internal Opens sealed bytes into an existing region of exactly sealedSize(sealed)
 * bytes through `fill` (a key region's open, or the coffer's): the one shape of every
 * open-into. A sealed empty message is authenticated, and the native step throws
 * ERR_EMPTY (or ERR_AUTH).
 */
export function openIntoWith(sealed: Uint8Array, target: Region, fill: Fill): void {
  const size = sealedSize(sealed);
  if (size === 0) {
    fill(undefined);
    return;
  }
  const handle = nativeOf(target, 'target');
  if (target.size !== size) throw invalid(`the target must be ${size} bytes for these sealed bytes, got ${target.size}`);
  fill(handle);
}

/**
 * @internal Opens sealed bytes into a new region through `fill`: the one shape of every
 * open. ERR_AUTH (or ERR_EMPTY) leaves no region behind.
 */
export function openWith(sealed: Uint8Array, options: AllocateOptions | undefined, fn: string, fill: Fill): Region {
  const size = sealedSize(sealed);
  if (size === 0) {
    fill(undefined); // throws ERR_EMPTY, or ERR_AUTH
    throw new StrongroomError('ERR_EMPTY', 'the sealed bytes hold an empty message; there is nothing to open');
  }
  const target = allocateNative(size, options, fn); // native memory, also under a 'heap' default
  try {
    fill(nativeOf(target, 'target'));
    return target;
  } catch (error) {
    target.free();
    throw error;
  }
}

/** Opens sealed bytes into an existing region of exactly sealedSize(sealed) bytes. */
export function openInto(key: Region, sealed: Uint8Array, target: Region): void {
  checkArgs(arguments.length, 3, 'openInto()');
  const k = checkKey(key);
  openIntoWith(sealed, target, (t) => native().open(k, sealed, t));
}

/**
 * Opens sealed bytes into a new region. ERR_AUTH when they were altered, truncated or
 * sealed under another key: then no plaintext was written and no region survives.
 */
export function open(key: Region, sealed: Uint8Array, options?: AllocateOptions): Region {
  checkArgs(arguments.length, 3, 'open()');
  const k = checkKey(key);
  return openWith(sealed, options, 'open()', (t) => native().open(k, sealed, t));
}
