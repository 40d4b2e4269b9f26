// Region: one guarded native allocation (guard page, canary, data flush against the
// trailing guard page), the JS face of core-native. The native handle sits in a
// private field; only this package's own modules reach it (nativeOf), never users.
//
//   allocate(size, { backend, mlock }) -> Region    size in [1, MAX_REGION_SIZE]
//   region.protect('noaccess' | 'readonly' | 'readwrite')
//   region.view()  -> Uint8Array over the region's own pages (detached on noaccess/free)
//   region.free()  -> verify canary (abort on mismatch), wipe, unlock, unmap; idempotent
import { inspect } from 'node:util';

import { native, type NativeBinding, type NativeRegion } from './binding.js';
import { StrongroomError } from './errors.js';
import { ALLOCATE_KEYS, checkInteger, checkOneOf, checkOptions, invalid } from './validate.js';

export type Backend = 'secretmem' | 'mmap';
export type BackendChoice = Backend | 'auto';
export type Protection = 'noaccess' | 'readonly' | 'readwrite';
export type MlockPolicy = 'require' | 'best-effort';

export interface AllocateOptions {
  /** 'auto' (default): secretmem where the kernel offers memfd_secret, else mmap. */
  backend?: BackendChoice;
  /** Default from configure(): 'require' unless changed. */
  mlock?: MlockPolicy;
}

/** The largest region: 1 GiB. */
export const MAX_REGION_SIZE = 1 << 30;

const PROTECTIONS: readonly Protection[] = ['noaccess', 'readonly', 'readwrite'];
// Bits of the native regionState().
const FREED = 4;
const LOCKED = 8;
const BACKENDS: readonly Backend[] = ['mmap', 'secretmem'];
const BACKEND_CHOICES: readonly BackendChoice[] = ['auto', 'mmap', 'secretmem'];
const MLOCK_POLICIES: readonly MlockPolicy[] = ['require', 'best-effort'];

export interface Defaults {
  backend: BackendChoice;
  mlock: MlockPolicy;
}

const defaults: Defaults = { backend: 'auto', mlock: 'require' };
let warnedUnlocked = false;

/**
 * Sets the process-wide defaults that allocate() uses when an option is left out
 * (higher packages allocate through them), and returns the defaults now in force.
 */
export function configure(options?: Partial<Defaults>): Readonly<Defaults> {
  const given = checkOptions(options, 'configure() options', ALLOCATE_KEYS);
  if (given.backend !== undefined) {
    const backend = checkOneOf(given.backend, 'backend', BACKEND_CHOICES);
    if (backend === 'secretmem' && !native().secretmemAvailable()) {
      throw new StrongroomError(
        'ERR_BACKEND_UNAVAILABLE',
        "this kernel does not offer memfd_secret, so 'secretmem' cannot be the default; use 'auto' or 'mmap'",
      );
    }
    defaults.backend = backend;
  }
  if (given.mlock !== undefined) defaults.mlock = checkOneOf(given.mlock, 'mlock', MLOCK_POLICIES);
  return { ...defaults };
}

/** The backend that 'auto' stands for on this machine. */
export function resolveBackend(choice: BackendChoice): Backend {
  if (choice !== 'auto') return choice;
  autoBackend ??= native().secretmemAvailable() ? 'secretmem' : 'mmap';
  return autoBackend;
}
let autoBackend: Backend | undefined;

const TOKEN = Symbol('strongroom.region');
// Set by wrapHandle(): a Region never exists before the addon has loaded.
let addon: NativeBinding;
let nativeOfRegion: (region: Region) => NativeRegion;

export class Region {
  readonly #native: NativeRegion;
  readonly #size: number;
  readonly #backend: Backend;

  /** @internal Use allocate(). */
  constructor(token: symbol, handle: NativeRegion, size: number, backend: Backend) {
    if (token !== TOKEN) throw invalid('Region cannot be constructed directly; use allocate(size)');
    this.#native = handle;
    this.#size = size;
    this.#backend = backend;
  }

  static {
    nativeOfRegion = (region) => region.#native;
  }

  /** Usable bytes (exactly what was asked for). */
  get size(): number {
    return this.#size;
  }

  get backend(): Backend {
    return this.#backend;
  }

  get freed(): boolean {
    return (addon.regionState(this.#native) & FREED) !== 0;
  }

  /** Whether the data pages are locked in RAM (false only under mlock 'best-effort'). */
  get locked(): boolean {
    return (addon.regionState(this.#native) & LOCKED) !== 0;
  }

  /** The current protection; ERR_FREED after free(). */
  get protection(): Protection {
    const state = addon.regionState(this.#native);
    if (state & FREED) throw new StrongroomError('ERR_FREED', 'the region was freed; allocate a new one');
    return PROTECTIONS[state & 3] as Protection;
  }

  /** Changes page protection; 'noaccess' detaches every view. */
  protect(protection: Protection): void {
    const code = PROTECTIONS.indexOf(protection);
    if (code < 0) checkOneOf(protection, 'protection', PROTECTIONS);
    addon.regionProtect(this.#native, code);
  }

  /**
   * A Uint8Array over the region's own memory (not a copy). It becomes empty
   * (length 0) when the region is made 'noaccess' or freed. Do not post or
   * structuredClone it: Node copies external memory into the ordinary heap.
   */
  view(): Uint8Array {
    return addon.regionView(this.#native);
  }

  /** Verifies the canary, wipes, unlocks and unmaps. Idempotent. */
  free(): void {
    addon.regionFree(this.#native);
  }

  [Symbol.dispose](): void {
    this.free();
  }

  toString(): string {
    return `Region(${this.#size} bytes, ${this.#backend})`;
  }

  toJSON(): { type: 'Region'; size: number; backend: Backend } {
    return { type: 'Region', size: this.#size, backend: this.#backend };
  }

  [inspect.custom](): string {
    const state = addon.regionState(this.#native);
    return `Region(${this.#size} bytes, ${this.#backend}, ${state & FREED ? 'freed' : PROTECTIONS[state & 3]})`;
  }
}

/** @internal The native handle of a Region (for this package's modules only). */
export function nativeOf(region: unknown, what: string): NativeRegion {
  if (!(region instanceof Region)) throw invalid(`${what} must be a Region from allocate()`);
  return nativeOfRegion(region);
}

/** @internal The backend and mlock policy of an allocation (options given, else configure()'s), with their native codes. */
export interface Allocation {
  backend: Backend;
  mlock: MlockPolicy;
  backendCode: number;
  mlockCode: number;
}

/** @internal Resolves the allocation options of allocate() and of the readers in io.ts. */
export function resolveAllocation(given: Record<string, unknown>): Allocation {
  const backend = resolveBackend(
    given.backend === undefined ? defaults.backend : checkOneOf(given.backend, 'backend', BACKEND_CHOICES),
  );
  const mlock = given.mlock === undefined ? defaults.mlock : checkOneOf(given.mlock, 'mlock', MLOCK_POLICIES);
  return { backend, mlock, backendCode: BACKENDS.indexOf(backend), mlockCode: MLOCK_POLICIES.indexOf(mlock) };
}

/**
 * @internal The Region of a fresh native handle (from regionNew or a reader in io.ts):
 * the one way a Region is made. Under the 'best-effort' policy (the only one that can
 * leave a region unlocked) it warns once when a region could not be locked.
 */
export function wrapHandle(
  handle: NativeRegion,
  size: number,
  { backend, mlock }: Pick<Allocation, 'backend' | 'mlock'>,
): Region {
  const binding = native();
  addon = binding;
  if (mlock === 'best-effort' && !warnedUnlocked && (binding.regionState(handle) & LOCKED) === 0) {
    warnedUnlocked = true;
    const { memlockLimit } = binding.stats();
    process.emitWarning(
      `strongroom could not lock secret memory into RAM (RLIMIT_MEMLOCK soft ${memlockLimit.soft}, hard ` +
        `${memlockLimit.hard} bytes) and continues with swappable pages under the 'best-effort' mlock policy. ` +
        'Raise the limit (ulimit -l) to keep secrets out of swap.',
      { code: 'STRONGROOM_MLOCK_BEST_EFFORT' },
    );
  }
  return new Region(TOKEN, handle, size, backend);
}

/**
 * A new region of exactly `size` bytes, 'readwrite' and zero-filled.
 * Throws ERR_INVALID_ARG, ERR_MLOCK_LIMIT, ERR_NO_MEMORY or ERR_BACKEND_UNAVAILABLE;
 * on any failure nothing stays mapped.
 */
export function allocate(size: number, options?: AllocateOptions): Region {
  checkInteger(size, 'size', 1, MAX_REGION_SIZE);
  const allocation = resolveAllocation(checkOptions(options, 'allocate() options', ALLOCATE_KEYS));
  return wrapHandle(native().regionNew(size, allocation.backendCode, allocation.mlockCode), size, allocation);
}
