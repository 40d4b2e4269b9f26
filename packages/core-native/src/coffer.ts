// The Coffer: the process-wide sealing key, held as two guarded halves and never whole
// outside one native call.
//
//   key = BLAKE2b-256(left) XOR right
//
// A native thread re-randomises the halves every `rekeyInterval` ms (default 500) without
// changing the key, so a memory image taken at one instant holds halves that stop matching
// a moment later. The thread never keeps the process alive. Every worker thread shares the
// one coffer: bytes sealed on one thread open on any other thread of the process.
// purgeCoffer() draws both halves afresh: everything sealed before stops opening.
//
//   sealed = nonce(24) || mac(16) || ciphertext      (the one format: sealing.ts)
import { native } from './binding.js';
import { constants, nameOf } from './constants.js';
import { algorithmCode } from './hashing.js';
import { nativeOf, resolveAllocation, type AllocateOptions, type Region } from './region.js';
import { openIntoWith, openWith } from './sealing.js';
import type { CofferOptions, CofferStats, HmacAlgorithm } from './types.js';
import {
  ALLOCATE_KEYS,
  checkArgs,
  checkBytes,
  checkInteger,
  checkMessage,
  checkOneOf,
  checkOptions,
  HMAC_ALGORITHMS,
  invalid,
} from './validate.js';

export type { CofferOptions, CofferStats } from './types.js';

export const DEFAULT_REKEY_INTERVAL = 500;
/** The longest interval configureCoffer() accepts: one day (the addon's bound too; a test checks they agree). */
export const MAX_REKEY_INTERVAL = 86_400_000;

let ready = false;

/**
 * The addon with the coffer created: by the first call in the process (any thread),
 * with configure()'s backend and mlock policy then in force, rekeying every
 * DEFAULT_REKEY_INTERVAL ms until configureCoffer() says otherwise.
 */
function coffer() {
  const addon = native();
  if (!ready) {
    const { backendCode, mlockCode } = resolveAllocation();
    addon.cofferInit(backendCode, mlockCode, DEFAULT_REKEY_INTERVAL);
    ready = true;
  }
  return addon;
}

/** Seals `length` bytes (default: all) of a region or of ordinary bytes under the coffer key. */
export function cofferSeal(source: Region | Uint8Array, length?: number): Uint8Array {
  checkArgs(arguments.length, 2, 'cofferSeal()');
  if (source instanceof Uint8Array) {
    if (source.length === 0) throw invalid('there is nothing to seal: the bytes are empty');
    return coffer().cofferSeal(source, sealLength(length, source.length));
  }
  const handle = nativeOf(source, 'source');
  return coffer().cofferSeal(handle, sealLength(length, source.size));
}

function sealLength(length: number | undefined, size: number): number {
  return length === undefined ? size : checkInteger(length, 'length', 1, size);
}

/**
 * Opens bytes sealed under the coffer key into `target` (exactly sealedSize(sealed)
 * bytes). ERR_AUTH, with the target wiped, when they were altered or truncated, come from
 * another process or were sealed before a purge.
 */
export function cofferOpenInto(sealed: Uint8Array, target: Region): void {
  checkArgs(arguments.length, 2, 'cofferOpenInto()');
  openIntoWith(sealed, target, (t) => coffer().cofferOpen(sealed, t));
}

/**
 * Opens bytes sealed under the coffer key into a new region. ERR_AUTH when they were
 * altered or truncated, come from another process or were sealed before a purge: then
 * no region survives.
 */
export function cofferOpen(sealed: Uint8Array, options?: AllocateOptions): Region {
  checkArgs(arguments.length, 2, 'cofferOpen()');
  return openWith(sealed, options, 'cofferOpen()', (t) => coffer().cofferOpen(sealed, t));
}

const NO_HEADER = new Uint8Array(0);

/**
 * Reads the next bytes of an open file descriptor into the guarded `staging` region,
 * seals them and wipes the region: the plaintext never enters ordinary memory. With a
 * `header` (public bytes, shorter than the region), what is sealed is header || the next
 * staging.size - header.length bytes of the file, so a caller can bind each chunk to its
 * place (EnclaveStream does). Fewer bytes at the end; null at end of file.
 */
export function cofferSealFromFd(fd: number, staging: Region, header?: Uint8Array): Uint8Array | null {
  checkArgs(arguments.length, 3, 'cofferSealFromFd()');
  checkInteger(fd, 'fd', 0, constants().maxFd);
  const region = nativeOf(staging, 'staging');
  const prefix = header === undefined ? NO_HEADER : checkBytes(header, 'header');
  if (prefix.length >= staging.size) {
    throw invalid(`the header (${prefix.length} bytes) must be shorter than the staging region (${staging.size} bytes)`);
  }
  return coffer().cofferSealFromFd(fd, region, prefix);
}

/**
 * The HMAC tag (32 or 64 bytes) of a message under the secret sealed in `sealed` (as
 * cofferSeal made it), in one native call: the sealed bytes are opened into a temporary
 * guarded region (allocated with `options`, as cofferOpen's), the tag is computed there, and
 * the region is wiped and released before the call returns. ERR_AUTH as cofferOpen().
 */
export function cofferHmac(
  sealed: Uint8Array,
  algorithm: HmacAlgorithm,
  message: Uint8Array | string,
  options?: AllocateOptions,
): Uint8Array {
  checkArgs(arguments.length, 4, 'cofferHmac()');
  checkBytes(sealed, 'sealed');
  const a = algorithmCode(checkOneOf(algorithm, 'algorithm', HMAC_ALGORITHMS));
  const m = checkMessage(message, 'message');
  const { backendCode, mlockCode } = resolveAllocation(checkOptions(options, 'cofferHmac()', ALLOCATE_KEYS));
  return coffer().cofferHmac(sealed, a, m, backendCode, mlockCode);
}

/**
 * Whether `tag` is the HMAC of the message under the sealed secret, as hmacVerify(): a
 * truncated tag of 16 bytes up to the full length compares with the start of the computed
 * tag in constant time; any other length is false. One native call, as cofferHmac().
 */
export function cofferHmacVerify(
  sealed: Uint8Array,
  algorithm: HmacAlgorithm,
  message: Uint8Array | string,
  tag: Uint8Array,
  options?: AllocateOptions,
): boolean {
  checkArgs(arguments.length, 5, 'cofferHmacVerify()');
  checkBytes(sealed, 'sealed');
  const a = algorithmCode(checkOneOf(algorithm, 'algorithm', HMAC_ALGORITHMS));
  const m = checkMessage(message, 'message');
  const t = checkBytes(tag, 'tag');
  const { backendCode, mlockCode } = resolveAllocation(checkOptions(options, 'cofferHmacVerify()', ALLOCATE_KEYS));
  return coffer().cofferHmacVerify(sealed, a, m, t, backendCode, mlockCode);
}

/** Re-randomises the halves now; the key does not change. */
export function rekeyCoffer(): void {
  checkArgs(arguments.length, 0, 'rekeyCoffer()');
  coffer().cofferRekey();
}

/** Replaces both halves: the key changes and nothing sealed before opens again. */
export function purgeCoffer(): void {
  checkArgs(arguments.length, 0, 'purgeCoffer()');
  coffer().cofferPurge();
}

/** Sets the rekey interval for the whole process (all threads) and returns the coffer's stats. */
export function configureCoffer(options: CofferOptions): CofferStats {
  checkArgs(arguments.length, 1, 'configureCoffer()');
  const given = checkOptions(options, 'configureCoffer()', ['rekeyInterval']);
  if (given.rekeyInterval !== undefined) {
    coffer().cofferSetInterval(checkInteger(given.rekeyInterval, 'rekeyInterval', 0, MAX_REKEY_INTERVAL));
  }
  return cofferStats();
}

/** The coffer's backend, lock, rekey interval, and rekey and purge counts. */
export function cofferStats(): CofferStats {
  checkArgs(arguments.length, 0, 'cofferStats()');
  const stats = coffer().cofferStats();
  return { ...stats, backend: nameOf(constants().backends, stats.backend) };
}
