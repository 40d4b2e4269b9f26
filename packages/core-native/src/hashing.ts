// BLAKE2b between regions, and HMAC-SHA-256/512 keyed by a region.
//
// hmacVerify takes truncated tags (RFC 2104 section 5): a tag of HMAC_MIN_TAG_BYTES (16) up
// to the full length (32 for sha256, 64 for sha512) is compared in constant time with as
// many leading bytes of the computed tag. A tag of any other length verifies as false and
// never throws, since tags come from the network. The addon owns the figure (its
// `constants.hmacMinTagBytes`); it is stated here as well because 'heap' regions, and the
// enclave's portable backend over them, verify without the addon. A test checks they agree.
//
// A 'heap' region (heap.ts) is keyed through node:crypto: its bytes are in the JS heap
// already, and OpenSSL's HMAC context takes a copy of them for the call.
import { timingSafeEqual } from 'node:crypto';

import { native } from './binding.js';
import { constants } from './constants.js';
import * as heap from './heap.js';
import { memoryOf, nativeOf, type Region } from './region.js';
import type { HmacAlgorithm } from './types.js';
import { checkArgs, checkBytes, checkMessage, checkOneOf, HMAC_ALGORITHMS, invalid } from './validate.js';

export type { HmacAlgorithm } from './types.js';

/** The shortest truncated tag hmacVerify() accepts, in bytes (the addon's figure; a test checks they agree). */
export const HMAC_MIN_TAG_BYTES = 16;

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

/** @internal The addon's id of a checked algorithm (for coffer.ts too). */
export function algorithmCode(algorithm: HmacAlgorithm): number {
  return constants().hmacAlgorithms[algorithm];
}

/**
 * Whether `tag` matches the start of the full tag `expected` (JS paths only; the addon has
 * its own): lengths outside HMAC_MIN_TAG_BYTES..expected.length are false; the comparison
 * takes the same time for every tag of one length.
 */
function tagMatches(expected: Uint8Array, tag: Uint8Array): boolean {
  if (tag.length < HMAC_MIN_TAG_BYTES || tag.length > expected.length) return false;
  return timingSafeEqual(expected.subarray(0, tag.length), tag);
}

/**
 * The HMAC tag (32 or 64 bytes) of a message (bytes, or a string as UTF-8) under the key
 * region: in native code for a native region, through node:crypto for a 'heap' region.
 */
export function hmac(algorithm: HmacAlgorithm, key: Region, message: Uint8Array | string): Uint8Array {
  checkArgs(arguments.length, 3, 'hmac()');
  const a = checkOneOf(algorithm, 'algorithm', HMAC_ALGORITHMS);
  const k = memoryOf(key, 'key');
  const m = checkMessage(message, 'message');
  if (k instanceof heap.HeapMemory) return heap.hmac(a, k, m);
  return native().hmac(algorithmCode(a), k, m);
}

/**
 * Whether `tag` is the HMAC of the message, or its first tag.length bytes (16 up to the full
 * length), compared in constant time. A tag of another length is false, never an error.
 */
export function hmacVerify(
  algorithm: HmacAlgorithm,
  key: Region,
  message: Uint8Array | string,
  tag: Uint8Array,
): boolean {
  checkArgs(arguments.length, 4, 'hmacVerify()');
  const a = checkOneOf(algorithm, 'algorithm', HMAC_ALGORITHMS);
  const k = memoryOf(key, 'key');
  const m = checkMessage(message, 'message');
  const t = checkBytes(tag, 'tag');
  if (k instanceof heap.HeapMemory) return tagMatches(heap.hmac(a, k, m), t);
  return native().hmacVerify(algorithmCode(a), k, m, t);
}
