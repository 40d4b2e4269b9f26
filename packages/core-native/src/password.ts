// Argon2id password hashing over a guarded region (libsodium's crypto_pwhash_argon2id
// family, native/password.cc). The hash runs on libuv's thread pool: the event loop keeps
// serving meanwhile. The password is copied natively into a private guarded region before
// the call returns, so the caller's region may be freed while the promise is pending.
//
//   hashPassword(region, { timeCost, memoryCost }) -> Promise<'$argon2id$v=19$m=…,t=…,p=1$salt$hash'>
//   verifyPassword(region, encoded)                -> Promise<boolean>
//   needsRehash(encoded, { timeCost, memoryCost }) -> boolean
import { native } from './binding.js';
import { constants } from './constants.js';
import { nativeOf, type Region } from './region.js';
import { checkArgs, checkInteger, checkOptions, describe, invalid, PASSWORD_HASH_KEYS } from './validate.js';

export interface PasswordHashOptions {
  /** Passes over the memory (libsodium's opslimit), default 2. */
  timeCost?: number;
  /** Memory in KiB (as the argon2 package and hash-wasm count it), default 19456 (19 MiB). */
  memoryCost?: number;
  /** Lanes: only 1, the one libsodium 1.0.18 computes. */
  parallelism?: number;
}

/**
 * The defaults: OWASP's Password Storage Cheat Sheet's first argon2id configuration
 * (m = 19 MiB, t = 2, p = 1). On one core of a current server a hash takes some tens of
 * milliseconds, so a login service keeps dozens of hashes per second per core, while each
 * guess costs an attacker 19 MiB of memory-hard work. Raise them where the latency budget
 * allows; needsRehash() then finds the hashes written with the old ones.
 */
export const DEFAULT_PASSWORD_OPTIONS: Readonly<Required<PasswordHashOptions>> = Object.freeze({
  timeCost: 2,
  memoryCost: 19456,
  parallelism: 1,
});

interface Costs {
  timeCost: number;
  memoryCost: number;
}

function costs(options: unknown, fn: string): Costs {
  const given = checkOptions(options, fn, PASSWORD_HASH_KEYS);
  const c = constants();
  if (given.parallelism !== undefined && given.parallelism !== c.argon2idParallelism) {
    throw invalid(
      `parallelism must be ${c.argon2idParallelism}, got ${describe(given.parallelism)}: libsodium 1.0.18, which ` +
        'strongroom uses, computes Argon2id with one lane only. Raise timeCost or memoryCost for a costlier hash',
    );
  }
  return {
    timeCost:
      given.timeCost === undefined
        ? DEFAULT_PASSWORD_OPTIONS.timeCost
        : checkInteger(given.timeCost, 'timeCost', c.argon2idMinTimeCost, c.argon2idMaxTimeCost),
    memoryCost:
      given.memoryCost === undefined
        ? DEFAULT_PASSWORD_OPTIONS.memoryCost
        : checkInteger(given.memoryCost, 'memoryCost (KiB)', c.argon2idMinMemoryCost, c.argon2idMaxMemoryCost),
  };
}

function checkEncoded(value: unknown): string {
  if (typeof value !== 'string') throw invalid(`the encoded hash must be a string, got ${describe(value)}`);
  return value;
}

/**
 * The Argon2id hash of the region's bytes, encoded as libsodium's crypto_pwhash_str writes
 * it: `$argon2id$v=19$m=<KiB>,t=<passes>,p=1$<salt>$<hash>` (16-byte random salt, 32-byte
 * hash). Rejects with ERR_INVALID_ARG for bad options, ERR_NO_MEMORY when Argon2's memory
 * cannot be allocated.
 */
export async function hashPassword(password: Region, options?: PasswordHashOptions): Promise<string> {
  checkArgs(arguments.length, 2, 'hashPassword()');
  const handle = nativeOf(password, 'password');
  const { timeCost, memoryCost } = costs(options, 'hashPassword()');
  return native().hashPassword(handle, timeCost, memoryCost);
}

/**
 * Whether the region's bytes are the password of an encoded argon2id hash (compared in
 * constant time). A string libsodium 1.0.18 cannot verify (argon2i, argon2d, p > 1, a
 * version other than 19) rejects with ERR_UNSUPPORTED_HASH, a malformed one with
 * ERR_INVALID_ARG: neither is ever `false`.
 */
export async function verifyPassword(password: Region, encoded: string): Promise<boolean> {
  checkArgs(arguments.length, 2, 'verifyPassword()');
  const handle = nativeOf(password, 'password');
  return native().verifyPassword(handle, checkEncoded(encoded));
}

/**
 * Whether an encoded hash differs from what hashPassword() writes with these options
 * (default: the defaults): other costs, or another salt or hash length. Throws like
 * verifyPassword for a string that cannot be verified.
 */
export function needsRehash(encoded: string, options?: PasswordHashOptions): boolean {
  checkArgs(arguments.length, 2, 'needsRehash()');
  const text = checkEncoded(encoded);
  const { timeCost, memoryCost } = costs(options, 'needsRehash()');
  return native().needsRehash(text, timeCost, memoryCost);
}
