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
//   sealed = nonce(24) || mac(16) || ciphertext      (NaCl secretbox, as seal() in sealing.ts)
import { native } from './binding.js';
import { StrongroomError } from './errors.js';
import { nativeOf, resolveAllocation, type Backend, type Region } from './region.js';
import { SEAL_OVERHEAD } from './sealing.js';
import { checkBytes, checkInteger, checkOptions, invalid } from './validate.js';

export const DEFAULT_REKEY_INTERVAL = 500;
/** The longest interval configureCoffer() accepts: one day. */
export const MAX_REKEY_INTERVAL = 86_400_000;

export interface CofferOptions {
  /** Milliseconds between rekeys; 0 stops automatic rekeying. */
  rekeyInterval?: number;
}

export interface CofferStats {
  /** Rekeys since the process started (automatic and rekeyCoffer()). */
  rekeys: number;
  purges: number;
  rekeyInterval: number;
  backend: Backend;
  /** Whether the halves are locked in RAM (false only under mlock 'best-effort'). */
  locked: boolean;
}

let ready = false;

/**
 * The addon with the coffer created: by the first call in the process (any thread),
 * with configure()'s backend and mlock policy then in force.
 */
function coffer() {
  const addon = native();
  if (!ready) {
    const { backendCode, mlockCode } = resolveAllocation({});
    addon.cofferInit(backendCode, mlockCode);
    ready = true;
  }
  return addon;
}

/** Seals `length` bytes (default: all) of a region or of ordinary bytes under the coffer key. */
export function cofferSeal(source: Region | Uint8Array, length?: number): Uint8Array {
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

/** The plaintext size of sealed bytes; ERR_AUTH when they are too short to be sealed bytes. */
export function sealedSize(sealed: Uint8Array): number {
  checkBytes(sealed, 'sealed');
  if (sealed.length <= SEAL_OVERHEAD) {
    throw new StrongroomError(
      'ERR_AUTH',
      `sealed bytes are at least ${SEAL_OVERHEAD + 1} bytes long (nonce, MAC, one byte); these ${sealed.length} were truncated or are not sealed bytes`,
    );
  }
  return sealed.length - SEAL_OVERHEAD;
}

/**
 * Opens bytes sealed under the coffer key into `target` (exactly sealedSize(sealed)
 * bytes). ERR_AUTH, with the target wiped, when they were altered or truncated, come from
 * another process or were sealed before a purge.
 */
export function cofferOpen(sealed: Uint8Array, target: Region): void {
  const size = sealedSize(sealed);
  const handle = nativeOf(target, 'target');
  if (target.size !== size) throw invalid(`the target must be ${size} bytes for these sealed bytes, got ${target.size}`);
  coffer().cofferOpen(sealed, handle);
}

/**
 * Reads the next staging.size bytes (fewer at the end) of an open file descriptor into
 * the guarded `staging` region, seals them and wipes the region: the plaintext never
 * enters ordinary memory. Returns null at end of file.
 */
export function cofferSealFromFd(fd: number, staging: Region): Uint8Array | null {
  checkInteger(fd, 'fd', 0, 0x7fffffff);
  return coffer().cofferSealFromFd(fd, nativeOf(staging, 'staging'));
}

/** Re-randomises the halves now; the key does not change. */
export function rekeyCoffer(): void {
  coffer().cofferRekey();
}

/** Replaces both halves: the key changes and nothing sealed before opens again. */
export function purgeCoffer(): void {
  coffer().cofferPurge();
}

/** Sets the rekey interval for the whole process (all threads). */
export function configureCoffer(options: CofferOptions): CofferStats {
  const given = checkOptions(options, 'configureCoffer() options', ['rekeyInterval']);
  if (given.rekeyInterval !== undefined) {
    coffer().cofferSetInterval(checkInteger(given.rekeyInterval, 'rekeyInterval', 0, MAX_REKEY_INTERVAL));
  }
  return cofferStats();
}

export function cofferStats(): CofferStats {
  const figures = coffer().cofferFigures();
  return {
    rekeys: figures.rekeys,
    purges: figures.purges,
    rekeyInterval: figures.intervalMs,
    backend: figures.backend === 1 ? 'secretmem' : 'mmap',
    locked: figures.locked,
  };
}
