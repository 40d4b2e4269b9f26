// XSalsa20-Poly1305 sealing between regions and ordinary bytes.
//
//   sealed = nonce(24) || mac(16) || ciphertext     (NaCl crypto_secretbox, nonce first)
//
// byte-for-byte what tweetnacl and every NaCl secretbox produce after the nonce:
// nacl.secretbox.open(sealed.subarray(24), sealed.subarray(0, 24), key) opens it.
// The key is a 32-byte region; the ciphertext is not secret and lives in the heap.
import { native } from './binding.js';
import { allocate, nativeOf, type AllocateOptions, type Region } from './region.js';
import { checkBytes, invalid } from './validate.js';

export const KEY_BYTES = 32;
export const NONCE_BYTES = 24;
export const MAC_BYTES = 16;
/** sealed.length - plaintext length */
export const SEAL_OVERHEAD = NONCE_BYTES + MAC_BYTES;

function checkKey(key: Region) {
  const handle = nativeOf(key, 'key');
  if (key.size !== KEY_BYTES) throw invalid(`the key must be a ${KEY_BYTES}-byte region, got ${key.size} bytes`);
  return handle;
}

/** Seals the bytes of `plaintext` under `key`, with a fresh random nonce. */
export function seal(key: Region, plaintext: Region): Uint8Array {
  const k = checkKey(key);
  return native().seal(k, nativeOf(plaintext, 'plaintext'));
}

function plaintextSize(sealed: Uint8Array): number {
  checkBytes(sealed, 'sealed');
  if (sealed.length <= SEAL_OVERHEAD) {
    throw invalid(`sealed bytes are at least ${SEAL_OVERHEAD + 1} long (nonce, MAC, one byte), got ${sealed.length}`);
  }
  return sealed.length - SEAL_OVERHEAD;
}

/** Opens sealed bytes into an existing region of exactly sealed.length - 40 bytes. */
export function openInto(key: Region, sealed: Uint8Array, target: Region): void {
  const k = checkKey(key);
  const size = plaintextSize(sealed);
  const t = nativeOf(target, 'target');
  if (target.size !== size) throw invalid(`the target must be ${size} bytes for these sealed bytes, got ${target.size}`);
  native().open(k, sealed, t);
}

/**
 * Opens sealed bytes into a new region. ERR_AUTH when they were altered, truncated or
 * sealed under another key: then no plaintext was written and no region survives.
 */
export function open(key: Region, sealed: Uint8Array, options?: AllocateOptions): Region {
  const k = checkKey(key);
  const target = allocate(plaintextSize(sealed), options);
  try {
    native().open(k, sealed, nativeOf(target, 'target'));
    return target;
  } catch (error) {
    target.free();
    throw error;
  }
}
