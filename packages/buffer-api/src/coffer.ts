// SecretBuffers sealed under, and opened from, core-native's process-wide coffer key,
// natively: the bytes go from the buffer's region to the cipher and back without a JS
// view. These are the two operations @strongroom/enclave needs; they replace the
// '@strongroom/buffer/internal' entry point, which handed any caller a buffer's raw Region.
import { cofferOpen, cofferSeal, type AllocateOptions } from '@strongroom/core-native';
import { ALLOCATE_KEYS, checkArgs, checkOptions } from '@strongroom/core-native/validate';

import { internals, type SecretBuffer } from './secret-buffer.js';

/**
 * Seals `length` bytes (default all) of a live SecretBuffer with no scope open under the
 * coffer key: nonce(24) || mac(16) || ciphertext. The buffer is left as it was.
 * ERR_DESTROYED after destroy(), ERR_BUSY while a scope is open.
 */
export function cofferSealBuffer(buffer: SecretBuffer, length?: number): Uint8Array {
  checkArgs(arguments.length, 2, 'cofferSealBuffer()');
  return cofferSeal(internals.idleRegionOf(buffer), length);
}

/**
 * Opens bytes sealed under the coffer key into a new frozen SecretBuffer. ERR_AUTH when
 * they were altered or come from elsewhere (ERR_EMPTY for a bare nonce and MAC); then no
 * region is left allocated.
 */
export function cofferOpenBuffer(sealed: Uint8Array, options?: AllocateOptions): SecretBuffer {
  checkArgs(arguments.length, 2, 'cofferOpenBuffer()');
  const given = checkOptions(options, 'cofferOpenBuffer()', ALLOCATE_KEYS) as AllocateOptions;
  return internals.adopt(cofferOpen(sealed, given), true);
}
