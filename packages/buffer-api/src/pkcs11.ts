// PKCS#11 envelope decryption with SecretBuffers: core-native's pkcs11Decrypt with the PIN
// read from a SecretBuffer's region (copied natively before the call returns, so the PIN
// buffer may be destroyed while the promise is pending) and the plaintext data key in a
// new frozen SecretBuffer. Nothing of either is ever a JS string.
import { pkcs11Decrypt as decryptIntoRegion, type Pkcs11DecryptOptions as RegionOptions } from '@strongroom/core-native';
import { checkArgs, describe, invalid } from '@strongroom/core-native/validate';

import { internals, type SecretBuffer } from './secret-buffer.js';

export type { OaepHash, Pkcs11Key, Pkcs11Mechanism } from '@strongroom/core-native';

/** core-native's options, with the PIN a SecretBuffer. */
export interface Pkcs11DecryptOptions extends Omit<RegionOptions, 'pin'> {
  pin: SecretBuffer;
}

/**
 * The token decrypts `ciphertext` (AES-GCM or RSA-OAEP) with a key that never leaves it;
 * the plaintext lands in a new frozen SecretBuffer. Errors as core-native's pkcs11Decrypt.
 */
export async function pkcs11Decrypt(options: Pkcs11DecryptOptions): Promise<SecretBuffer> {
  checkArgs(arguments.length, 1, 'pkcs11Decrypt()');
  if (typeof options !== 'object' || options === null) throw invalid(`pkcs11Decrypt() takes an options object, got ${describe(options)}`);
  const pin = internals.readableRegionOf(options.pin, 'pin');
  const region = await decryptIntoRegion({ ...options, pin });
  return internals.adopt(region, true);
}
