// Argon2id password hashing of a SecretBuffer: core-native's hashPassword and
// verifyPassword over the buffer's region. The bytes go natively from the buffer's region
// into a private guarded copy before the call returns, and the hash runs on libuv's thread
// pool; so the buffer may be destroyed while the promise is pending.
import {
  DEFAULT_PASSWORD_OPTIONS,
  hashPassword as hashRegion,
  needsRehash,
  verifyPassword as verifyRegion,
  type PasswordHashOptions,
} from '@strongroom/core-native';
import { checkArgs } from '@strongroom/core-native/validate';

import { internals, type SecretBuffer } from './secret-buffer.js';

export { DEFAULT_PASSWORD_OPTIONS, needsRehash, type PasswordHashOptions };

/**
 * The Argon2id hash of the buffer's bytes, encoded as libsodium's crypto_pwhash_str writes
 * it ('$argon2id$v=19$m=<KiB>,t=<passes>,p=1$<salt>$<hash>'). ERR_DESTROYED after
 * destroy(), ERR_BUSY while a write scope is open, ERR_INVALID_ARG for bad options,
 * ERR_NO_MEMORY when Argon2's memory cannot be allocated: all as rejections.
 */
export async function hashPassword(secret: SecretBuffer, options?: PasswordHashOptions): Promise<string> {
  checkArgs(arguments.length, 2, 'hashPassword()');
  return hashRegion(internals.readableRegionOf(secret, 'secret'), options);
}

/**
 * Whether the buffer holds the password of an encoded argon2id hash (constant-time
 * comparison). A hash libsodium 1.0.18 cannot verify (argon2i, argon2d, p > 1, a version
 * other than 19) rejects with ERR_UNSUPPORTED_HASH, a malformed one with ERR_INVALID_ARG.
 */
export async function verifyPassword(secret: SecretBuffer, encoded: string): Promise<boolean> {
  checkArgs(arguments.length, 2, 'verifyPassword()');
  return verifyRegion(internals.readableRegionOf(secret, 'secret'), encoded);
}
