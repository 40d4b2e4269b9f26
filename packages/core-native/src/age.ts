// age v1 decryption (age-encryption.org/v1) natively into guarded memory (native/age.cc):
// the file is read by native code from a path or a descriptor, its header parsed and
// authenticated, the file key unwrapped with an X25519 identity or an scrypt passphrase
// (both given as Regions, never strings), and the payload decrypted chunk by chunk into a
// fresh Region. The file key, the derived keys and the plaintext never reach the JS heap;
// on any failure nothing is returned and no region or descriptor is left behind.
//
//   ageDecrypt('/etc/app/secret.age', { identity })            -> Region of the plaintext
//   ageDecrypt(fd, { passphrase, maxSize: 1 << 20 })            -> Region
//   ageEncrypt(region, ['age1…'], { armor: true })              -> Uint8Array (the age file)
import { native } from './binding.js';
import { constants } from './constants.js';
import { DEFAULT_MAX_SIZE, type ReadOptions } from './io.js';
import { MAX_REGION_SIZE, nativeOf, resolveAllocation, wrapHandle, type Region } from './region.js';
import {
  AGE_DECRYPT_KEYS,
  AGE_ENCRYPT_KEYS,
  checkArgs,
  checkBoolean,
  checkInteger,
  checkOptions,
  checkText,
  describe,
  invalid,
} from './validate.js';

export interface AgeDecryptOptions extends ReadOptions {
  /**
   * The identity text: one or more `AGE-SECRET-KEY-1…` lines (age-keygen's file as it is:
   * empty lines and `#` comments are skipped), e.g. from readFile() or readEnv().
   */
  identity?: Region;
  /** The passphrase of an scrypt-encrypted file (`age -p`): its bytes, as they are. */
  passphrase?: Region;
  /**
   * The largest scrypt work factor (log2 N) accepted, 1 to 22; default 18, what `age -p`
   * writes. scrypt needs 1 KiB * 2^N of memory (256 MiB at 18, 4 GiB at 22): a file above
   * the bound is refused (ERR_TOO_LARGE) before scrypt runs.
   */
  maxWorkFactor?: number;
}

/**
 * Decrypts an age v1 file, binary or armored (`-----BEGIN AGE ENCRYPTED FILE-----`), read
 * natively from `source` (a path, or an open descriptor, which is not closed) into a new
 * 'readwrite' Region of exactly the plaintext. Give exactly one of `identity` (X25519) or
 * `passphrase` (scrypt). `maxSize` bounds the file's size (default 64 KiB).
 *
 * Errors: ERR_AGE_FORMAT (not a well-formed age v1 file), ERR_AUTH (wrong identity or
 * passphrase, header MAC or payload failed authentication: altered, truncated or extended),
 * ERR_TOO_LARGE (file above maxSize, scrypt work factor above maxWorkFactor), ERR_EMPTY
 * (authentic, but the plaintext is empty), ERR_INVALID_ARG (bad options, an identity line
 * that is not AGE-SECRET-KEY-1…, an identity for a passphrase file or the reverse),
 * ERR_NOT_FOUND, ERR_IO; ERR_NO_MEMORY when scrypt's memory cannot be had.
 */
export function ageDecrypt(source: string | number, options: AgeDecryptOptions): Region {
  checkArgs(arguments.length, 2, 'ageDecrypt()');
  const from =
    typeof source === 'number' ? checkInteger(source, 'fd', 0, constants().maxFd) : checkText(source, 'path');
  const given = checkOptions(options, 'ageDecrypt()', AGE_DECRYPT_KEYS);
  if ((given.identity === undefined) === (given.passphrase === undefined)) {
    throw invalid('ageDecrypt() needs exactly one of { identity } (an X25519 identity) or { passphrase } (scrypt)');
  }
  const kinds = constants().ageKeyKinds;
  const kind = given.identity !== undefined ? kinds.identity : kinds.passphrase;
  const key = nativeOf(given.identity ?? given.passphrase, given.identity !== undefined ? 'identity' : 'passphrase');
  const maxSize =
    given.maxSize === undefined ? DEFAULT_MAX_SIZE : checkInteger(given.maxSize, 'maxSize', 1, MAX_REGION_SIZE);
  const maxWorkFactor =
    given.maxWorkFactor === undefined
      ? constants().ageDefaultWorkFactor
      : checkInteger(given.maxWorkFactor, 'maxWorkFactor', 1, constants().ageMaxWorkFactor);
  const allocation = resolveAllocation(given);
  const binding = native();
  const handle = binding.ageDecrypt(from, kind, key, maxSize, maxWorkFactor, allocation.backendCode, allocation.mlockCode);
  return wrapHandle(handle, binding.regionSize(handle), allocation);
}

export interface AgeEncryptOptions {
  /** Write the ASCII armor (`-----BEGIN AGE ENCRYPTED FILE-----`) instead of the binary form. Default false. */
  armor?: boolean;
}

/**
 * Encrypts the region's bytes to X25519 recipients (`age1…`, as `age-keygen -y` prints them;
 * public keys, so strings) as an age v1 file that `age -d` and ageDecrypt() read. The file
 * key, the ephemeral keys and every derived key live in a private guarded region of the
 * plaintext's backend for the call only; the plaintext is read natively and only the
 * ciphertext reaches the JS heap. At most 64 recipients.
 */
export function ageEncrypt(plaintext: Region, recipients: string | readonly string[], options?: AgeEncryptOptions): Uint8Array {
  checkArgs(arguments.length, 3, 'ageEncrypt()');
  const handle = nativeOf(plaintext, 'plaintext');
  const list = typeof recipients === 'string' ? [recipients] : recipients;
  if (!Array.isArray(list) || list.length === 0 || !list.every((r) => typeof r === 'string')) {
    throw invalid(`recipients must be an age1… string or a non-empty array of them, got ${describe(recipients)}`);
  }
  const given = checkOptions(options, 'ageEncrypt()', AGE_ENCRYPT_KEYS);
  const armor = given.armor === undefined ? false : checkBoolean(given.armor, 'armor');
  return native().ageEncrypt(handle, [...list], armor);
}
