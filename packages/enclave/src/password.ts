// Argon2id password hashing of a SecretBuffer or an Enclave: @strongroom/buffer's
// hashPassword and verifyPassword. An Enclave is opened into a fresh guarded SecretBuffer
// for the call; that buffer is destroyed as soon as the call has returned its promise, by
// when the bytes are in the work's private guarded copy (core-native copies them before it
// returns), so the plaintext lives outside the seal only for that instant.
import {
  DEFAULT_PASSWORD_OPTIONS,
  hashPassword as hashBuffer,
  needsRehash,
  SecretBuffer,
  verifyPassword as verifyBuffer,
  type PasswordHashOptions,
} from '@strongroom/buffer';
import { StrongroomError } from '@strongroom/core-native';
import { checkArgs, describe, invalid } from '@strongroom/core-native/validate';

import { Enclave } from './enclave.js';

export { DEFAULT_PASSWORD_OPTIONS, needsRehash, type PasswordHashOptions };

function withSecret<T>(secret: unknown, fn: (buffer: SecretBuffer) => Promise<T>): Promise<T> {
  if (secret instanceof SecretBuffer) return fn(secret);
  if (!(secret instanceof Enclave)) throw invalid(`secret must be a SecretBuffer or an Enclave, got ${describe(secret)}`);
  if (Enclave.backend !== 'native') {
    throw new StrongroomError(
      'ERR_NATIVE_UNAVAILABLE',
      'password hashing needs the native addon (libsodium), and enclaves use the portable JavaScript backend here',
    );
  }
  const opened = secret.open();
  try {
    return fn(opened);
  } finally {
    opened.destroy();
  }
}

/**
 * The Argon2id hash of a SecretBuffer's or an Enclave's bytes, encoded as libsodium's
 * crypto_pwhash_str writes it ('$argon2id$v=19$m=<KiB>,t=<passes>,p=1$<salt>$<hash>').
 * Errors are rejections: those of @strongroom/buffer's hashPassword, and ERR_AUTH for an
 * Enclave that does not open.
 */
export async function hashPassword(secret: SecretBuffer | Enclave, options?: PasswordHashOptions): Promise<string> {
  checkArgs(arguments.length, 2, 'hashPassword()');
  return withSecret(secret, (buffer) => hashBuffer(buffer, options));
}

/**
 * Whether a SecretBuffer or an Enclave holds the password of an encoded argon2id hash.
 * ERR_UNSUPPORTED_HASH for a hash libsodium 1.0.18 cannot verify, ERR_INVALID_ARG for a
 * malformed one: never false.
 */
export async function verifyPassword(secret: SecretBuffer | Enclave, encoded: string): Promise<boolean> {
  checkArgs(arguments.length, 2, 'verifyPassword()');
  return withSecret(secret, (buffer) => verifyBuffer(buffer, encoded));
}
