// Envelope decryption on a PKCS#11 token (native/pkcs11.cc): the token decrypts a wrapped
// data key with a key that never leaves it, and the plaintext lands in a new guarded region.
// The module is loaded with dlopen by the addon itself (no npm binding, which would hand the
// plaintext back in a JS Buffer); the PIN is read by native code from a guarded region and
// is never a JS string. The exchange runs on libuv's thread pool.
//
//   pkcs11Decrypt({ module, tokenLabel | slot, pin, key: { label?, id? }, mechanism, ciphertext,
//                   iv?, aad?, oaepHash?, backend?, mlock? }) -> Promise<Region>
import { native } from './binding.js';
import { constants } from './constants.js';
import { StrongroomError } from './errors.js';
import { nativeOf, resolveAllocation, wrapHandle, type AllocateOptions, type Region } from './region.js';
import type { OaepHash, Pkcs11Mechanism } from './types.js';
import {
  checkArgs,
  checkBytes,
  checkInteger,
  checkOneOf,
  checkOptions,
  checkText,
  describe,
  invalid,
  PKCS11_DECRYPT_KEYS,
  PKCS11_KEY_KEYS,
} from './validate.js';

/** Which key on the token: its CKA_LABEL, its CKA_ID, or both (both must match). */
export interface Pkcs11Key {
  label?: string;
  id?: Uint8Array;
}

export interface Pkcs11DecryptOptions extends AllocateOptions {
  /** The PKCS#11 module's path, e.g. '/usr/lib/softhsm/libsofthsm2.so'. */
  module: string;
  /** The token by its label (without the space padding), or... */
  tokenLabel?: string;
  /** ...by its slot id: exactly one of the two. */
  slot?: number;
  /** The user PIN, in a native region (it is read there, never copied into JS). */
  pin: Region;
  /** The key encryption key: an AES secret key (aes-gcm) or an RSA private key (rsa-oaep). */
  key: Pkcs11Key;
  mechanism: Pkcs11Mechanism;
  /**
   * aes-gcm: `iv || ciphertext || tag` (a 12-byte IV, a 16-byte tag), or, with `iv` given,
   * `ciphertext || tag`. rsa-oaep: the RSA block (the modulus' length).
   */
  ciphertext: Uint8Array;
  /** aes-gcm: the IV (1 to 256 bytes), when it is not the ciphertext's first 12 bytes. */
  iv?: Uint8Array;
  /** aes-gcm: additional authenticated data (default none). */
  aad?: Uint8Array;
  /** rsa-oaep: the hash of OAEP and of its MGF1 (default 'sha256'); the OAEP label is empty. */
  oaepHash?: OaepHash;
}

const FN = 'pkcs11Decrypt()';
const MECHANISMS: readonly Pkcs11Mechanism[] = ['aes-gcm', 'rsa-oaep'];
const OAEP_HASHES: readonly OaepHash[] = ['sha256', 'sha1'];
const encoder = new TextEncoder();

function short(what: string): StrongroomError {
  return new StrongroomError('ERR_AUTH', `${what}: it was truncated; nothing was sent to the token`);
}

function sized(value: unknown, what: string, min: number, max: number): Uint8Array {
  const bytes = checkBytes(value, what);
  if (bytes.length < min || bytes.length > max) {
    throw invalid(`${what} must be ${min} to ${max} bytes long, got ${bytes.length}`);
  }
  return bytes;
}

/**
 * Decrypts a wrapped data key on a PKCS#11 token into a new 'readwrite' region of exactly the
 * plaintext's length. Rejects with ERR_INVALID_ARG (bad options), ERR_SOURCE_UNAVAILABLE (the
 * module does not load: dlerror's text), ERR_SECRET_NOT_FOUND (no such token or key, named),
 * ERR_SOURCE_AUTH (the PIN was refused or is locked), ERR_AUTH (the ciphertext does not
 * decrypt: altered, truncated, another key, IV or AAD), ERR_EMPTY (an empty plaintext),
 * ERR_PKCS11 (anything else the token reports, with its CKR_ code), or an allocation error.
 * The PIN is copied natively before the call returns: the caller may free it at once.
 */
export async function pkcs11Decrypt(options: Pkcs11DecryptOptions): Promise<Region> {
  checkArgs(arguments.length, 1, FN);
  if (options === undefined) throw invalid(`${FN} needs its options: module, tokenLabel or slot, pin, key, mechanism, ciphertext`);
  const given = checkOptions(options, FN, PKCS11_DECRYPT_KEYS);
  const c = constants();
  const module = checkText(given.module, 'module (the PKCS#11 library path)');
  if ((given.slot === undefined) === (given.tokenLabel === undefined)) {
    throw invalid(`${FN} needs exactly one of tokenLabel and slot to find the token`);
  }
  let slot = -1;
  let tokenLabel: string | undefined;
  if (given.slot !== undefined) {
    slot = checkInteger(given.slot, 'slot', 0, Number.MAX_SAFE_INTEGER);
  } else {
    tokenLabel = checkText(given.tokenLabel, 'tokenLabel');
    if (encoder.encode(tokenLabel).length > c.tokenLabelBytes) {
      throw invalid(`tokenLabel must be at most ${c.tokenLabelBytes} bytes of UTF-8 (a token label's field)`);
    }
    if (tokenLabel.endsWith(' ')) {
      throw invalid('tokenLabel must not end with a space: tokens pad their labels with spaces, which are not part of the label');
    }
  }
  if (given.pin === undefined) throw invalid(`${FN} needs the pin, in a Region`);
  const pin = nativeOf(given.pin, 'pin');
  if (given.key === undefined) throw invalid(`${FN} needs key: { label } and/or { id }`);
  const key = checkOptions(given.key, `${FN}'s key`, PKCS11_KEY_KEYS);
  const keyLabel = key.label === undefined ? undefined : checkText(key.label, 'key.label');
  const keyId = key.id === undefined ? undefined : sized(key.id, 'key.id', 1, c.pkcs11MaxCiphertext);
  if (keyLabel === undefined && keyId === undefined) throw invalid(`${FN}'s key needs a label, an id, or both`);
  const mechanism = checkOneOf(given.mechanism, 'mechanism', MECHANISMS);
  let ciphertext = sized(given.ciphertext, 'ciphertext', 1, c.pkcs11MaxCiphertext);
  let iv: Uint8Array | undefined;
  let aad: Uint8Array | undefined;
  let oaepHash: OaepHash = 'sha256';
  if (mechanism === 'aes-gcm') {
    if (given.oaepHash !== undefined) throw invalid(`oaepHash goes with mechanism 'rsa-oaep', got it with 'aes-gcm'`);
    if (given.aad !== undefined) aad = sized(given.aad, 'aad', 0, c.pkcs11MaxCiphertext);
    if (given.iv !== undefined) {
      iv = sized(given.iv, 'iv', 1, c.gcmMaxIvBytes);
      if (ciphertext.length < c.gcmTagBytes) throw short(`the ciphertext is shorter than the ${c.gcmTagBytes}-byte tag`);
    } else {
      if (ciphertext.length < c.gcmIvBytes + c.gcmTagBytes) {
        throw short(`the ciphertext is shorter than a ${c.gcmIvBytes}-byte IV and a ${c.gcmTagBytes}-byte tag`);
      }
      iv = ciphertext.subarray(0, c.gcmIvBytes);
      ciphertext = ciphertext.subarray(c.gcmIvBytes);
    }
  } else {
    for (const name of ['iv', 'aad'] as const) {
      if (given[name] !== undefined) throw invalid(`${name} goes with mechanism 'aes-gcm', got it with 'rsa-oaep' (${describe(given[name])})`);
    }
    if (given.oaepHash !== undefined) oaepHash = checkOneOf(given.oaepHash, 'oaepHash', OAEP_HASHES);
  }
  const allocation = resolveAllocation(given);
  const handle = await native().pkcs11Decrypt(
    module,
    slot,
    tokenLabel,
    pin,
    keyLabel,
    keyId,
    c.pkcs11Mechanisms[mechanism],
    c.oaepHashes[oaepHash],
    ciphertext,
    iv,
    aad,
    allocation.backendCode,
    allocation.mlockCode,
  );
  return wrapHandle(handle, native().regionSize(handle), allocation);
}
