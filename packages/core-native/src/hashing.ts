// BLAKE2b between regions, and HMAC-SHA-256/512 keyed by a region.
import { native } from './binding.js';
import { nativeOf, type Region } from './region.js';
import { checkBytes, checkMessage, checkOneOf, invalid } from './validate.js';

export type HmacAlgorithm = 'sha256' | 'sha512';
const ALGORITHMS: readonly HmacAlgorithm[] = ['sha256', 'sha512'];

/**
 * target = BLAKE2b(source [, key]) with target.size bytes of output (16 to 64);
 * a key region, when given, is 16 to 64 bytes. target may be source itself.
 */
export function blake2b(target: Region, source: Region, key?: Region): void {
  const t = nativeOf(target, 'target');
  const s = nativeOf(source, 'source');
  const k = key === undefined ? undefined : nativeOf(key, 'key');
  if (target.size < 16 || target.size > 64) throw invalid(`a BLAKE2b target is 16 to 64 bytes, got ${target.size}`);
  if (key !== undefined && (key.size < 16 || key.size > 64)) {
    throw invalid(`a BLAKE2b key is 16 to 64 bytes, got ${key.size}`);
  }
  native().blake2b(t, s, k);
}

/** The HMAC tag (32 or 64 bytes) of a message (bytes, or a string as UTF-8). */
export function hmac(algorithm: HmacAlgorithm, key: Region, message: Uint8Array | string): Uint8Array {
  const a = ALGORITHMS.indexOf(checkOneOf(algorithm, 'algorithm', ALGORITHMS));
  return native().hmac(a, nativeOf(key, 'key'), checkMessage(message, 'message'));
}

/** Whether `tag` is the HMAC of the message, compared in constant time. */
export function hmacVerify(
  algorithm: HmacAlgorithm,
  key: Region,
  message: Uint8Array | string,
  tag: Uint8Array,
): boolean {
  const a = ALGORITHMS.indexOf(checkOneOf(algorithm, 'algorithm', ALGORITHMS));
  return native().hmacVerify(a, nativeOf(key, 'key'), checkMessage(message, 'message'), checkBytes(tag, 'tag'));
}
