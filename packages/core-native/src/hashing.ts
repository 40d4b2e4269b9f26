// BLAKE2b between regions, and HMAC-SHA-256/512 keyed by a region.
import { native } from './binding.js';
import { constants } from './constants.js';
import { nativeOf, type Region } from './region.js';
import type { HmacAlgorithm } from './types.js';
import { checkArgs, checkBytes, checkMessage, checkOneOf, invalid } from './validate.js';

export type { HmacAlgorithm } from './types.js';

const ALGORITHMS: readonly HmacAlgorithm[] = ['sha256', 'sha512'];

/**
 * target = BLAKE2b(source [, key]) with target.size bytes of output (16 to 64);
 * a key region, when given, is 16 to 64 bytes. target may be source itself.
 */
export function blake2b(target: Region, source: Region, key?: Region): void {
  checkArgs(arguments.length, 3, 'blake2b()');
  const t = nativeOf(target, 'target');
  const s = nativeOf(source, 'source');
  const k = key === undefined ? undefined : nativeOf(key, 'key');
  const { blake2bMinBytes, blake2bMaxBytes, blake2bMinKeyBytes, blake2bMaxKeyBytes } = constants();
  if (target.size < blake2bMinBytes || target.size > blake2bMaxBytes) {
    throw invalid(`a BLAKE2b target is ${blake2bMinBytes} to ${blake2bMaxBytes} bytes, got ${target.size}`);
  }
  if (key !== undefined && (key.size < blake2bMinKeyBytes || key.size > blake2bMaxKeyBytes)) {
    throw invalid(`a BLAKE2b key is ${blake2bMinKeyBytes} to ${blake2bMaxKeyBytes} bytes, got ${key.size}`);
  }
  native().blake2b(t, s, k);
}

function algorithmCode(algorithm: unknown): number {
  return constants().hmacAlgorithms[checkOneOf(algorithm, 'algorithm', ALGORITHMS)];
}

/** The HMAC tag (32 or 64 bytes) of a message (bytes, or a string as UTF-8). */
export function hmac(algorithm: HmacAlgorithm, key: Region, message: Uint8Array | string): Uint8Array {
  checkArgs(arguments.length, 3, 'hmac()');
  const a = algorithmCode(algorithm);
  return native().hmac(a, nativeOf(key, 'key'), checkMessage(message, 'message'));
}

/** Whether `tag` is the HMAC of the message, compared in constant time. */
export function hmacVerify(
  algorithm: HmacAlgorithm,
  key: Region,
  message: Uint8Array | string,
  tag: Uint8Array,
): boolean {
  checkArgs(arguments.length, 4, 'hmacVerify()');
  const a = algorithmCode(algorithm);
  return native().hmacVerify(a, nativeOf(key, 'key'), checkMessage(message, 'message'), checkBytes(tag, 'tag'));
}
