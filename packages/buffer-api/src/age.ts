// age v1 decryption with SecretBuffers: core-native's ageDecrypt with the identity or the
// passphrase read from a SecretBuffer's region, and the plaintext in a new frozen
// SecretBuffer. Neither the identity, nor the file key, nor the plaintext is ever a JS string.
import { ageDecrypt as decryptIntoRegion, type AgeDecryptOptions as RegionOptions } from '@strongroom/core-native';
import { checkArgs, checkOptions, invalid } from '@strongroom/core-native/validate';

import { internals, type SecretBuffer } from './secret-buffer.js';

/** core-native's options, with the identity or the passphrase a SecretBuffer. */
export interface AgeDecryptOptions extends Omit<RegionOptions, 'identity' | 'passphrase'> {
  /** One or more `AGE-SECRET-KEY-1…` lines (age-keygen's file as it is). */
  identity?: SecretBuffer;
  /** The passphrase of an scrypt-encrypted file (`age -p`). */
  passphrase?: SecretBuffer;
}

const KEYS = ['identity', 'passphrase', 'maxWorkFactor', 'maxSize', 'backend', 'mlock'] as const;

/** The plaintext of an age file (a path, or an open fd left open) in a new frozen SecretBuffer. */
export function ageDecrypt(source: string | number, options: AgeDecryptOptions): SecretBuffer {
  checkArgs(arguments.length, 2, 'ageDecrypt()');
  const given = checkOptions(options, 'ageDecrypt()', KEYS);
  if ((given.identity === undefined) === (given.passphrase === undefined)) {
    throw invalid('ageDecrypt() needs exactly one of { identity } (an X25519 identity) or { passphrase } (scrypt)');
  }
  const { identity, passphrase, ...rest } = given;
  const key =
    identity !== undefined
      ? { identity: internals.readableRegionOf(identity, 'identity') }
      : { passphrase: internals.readableRegionOf(passphrase, 'passphrase') };
  return internals.adopt(decryptIntoRegion(source, { ...(rest as Omit<RegionOptions, 'identity' | 'passphrase'>), ...key }), true);
}
