// Region: one guarded native allocation (guard page, canary, data flush against the
// trailing guard page), the JS face of core-native. The native handle sits in a
// private field; only this package's own modules reach it (nativeOf), never users.
// A 'heap' region (heap.ts) holds a HeapMemory there instead: same contract, bytes in
// the JS heap, for where the addon cannot load; it never loads the addon.
//
//   allocate(size, { backend, mlock }) -> Region    size in [1, MAX_REGION_SIZE]
//   region.protect('noaccess' | 'readonly' | 'readwrite')
//   region.view()  -> Uint8Array over the region's own pages (detached on noaccess/free)
//   region.free()  -> verify canary (abort on mismatch), wipe, unlock, unmap; idempotent
import { inspect } from 'node:util';

import { native } from './binding.js';
import { constants, decodeState } from './constants.js';
import { StrongroomError } from './errors.js';
import { HeapMemory } from './heap.js';
import type { Backend, BackendChoice, MlockPolicy, NativeBackend, NativeRegion, Protection } from './types.js';
import { ALLOCATE_KEYS, REGION_KEYS, checkArgs, checkBoolean, checkInteger, checkOneOf, checkOptions, invalid, type Options } from './validate.js';

export type { Backend, BackendChoice, MlockPolicy, NativeBackend, Protection } from './types.js';

export interface AllocateOptions {
  /**
   * 'auto' (default): secretmem where the kernel offers memfd_secret, else mmap; never heap.
   * 'heap': an ordinary ArrayBuffer, without the addon and without its protections (README).
   */
  backend?: BackendChoice;
  /** Default from configure(): 'require' unless changed. A 'heap' region has nothing to lock: ignored. */
  mlock?: MlockPolicy;
}

export interface RegionOptions extends AllocateOptions {
  /**
   * false (default, unless configure() changed it): a region of at most 256 bytes (the largest of constants().slabClasses)
   * takes a slot of a shared slab: while it is open, the other slots on its page are as
   * accessible as it is (README, "Small secrets"). true: pages of its own, as every larger
   * region has. Ignored for 'heap'.
   */
  isolated?: boolean;
}

/** The largest region: 1 GiB. */
export const MAX_REGION_SIZE = 1 << 30;

const PROTECTIONS: readonly Protection[] = ['noaccess', 'readonly', 'readwrite'];
const BACKEND_CHOICES: readonly BackendChoice[] = ['auto', 'mmap', 'secretmem', 'heap'];
const MLOCK_POLICIES: readonly MlockPolicy[] = ['require', 'best-effort'];

export interface Defaults {
  backend: BackendChoice;
  mlock: MlockPolicy;
  /** allocate()'s `isolated` when left out: false (small regions share slabs) unless changed. */
  isolated: boolean;
}

// STRONGROOM_ISOLATED=1 in the environment at load starts the process with isolated: true
// (every region on pages of its own), as configure({ isolated: true }) would; children
// inherit it, so a whole test suite can run on isolated regions.
const defaults: Defaults = { backend: 'auto', mlock: 'require', isolated: process.env.STRONGROOM_ISOLATED === '1' };
let warnedUnlocked = false;

/**
 * Sets the process-wide defaults that allocate() uses when an option is left out
 * (higher packages allocate through them), and returns the defaults now in force.
 * A 'heap' default applies to allocate() only: the readers of io.ts, the coffer, open() and
 * cofferOpen() always use native memory, and take 'auto' then.
 */
export function configure(options?: Partial<Defaults>): Readonly<Defaults> {
  checkArgs(arguments.length, 1, 'configure()');
  const given = checkOptions(options, 'configure()', REGION_KEYS);
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
  if (given.isolated !== undefined) defaults.isolated = checkBoolean(given.isolated, 'isolated');
  return { ...defaults };
}

/** The backend that 'auto' stands for on this machine ('heap' never loads the addon). */
export function resolveBackend(choice: BackendChoice): Backend {
  return choice === 'auto' ? autoBackend() : choice;
}

// Kept once the addon's answer is final: a probe that failed for a passing reason (no
// descriptor or address space left at that moment) must not put every later 'auto' secret on
// plain mmap pages for the rest of the process.
function autoBackend(): NativeBackend {
  if (autoChoice !== undefined) return autoChoice;
  const binding = native();
  const choice = binding.secretmemAvailable() ? 'secretmem' : 'mmap';
  if (choice === 'secretmem' || binding.secretmemAnswerKnown()) autoChoice = choice;
  return choice;
}
let autoChoice: NativeBackend | undefined;

const NO_OPTIONS: Options = Object.freeze(Object.create(null) as Record<string, unknown>);
const TOKEN = Symbol('strongroom.region');
let memoryOfRegion: (region: Region) => NativeRegion | HeapMemory;

export class Region {
  /** The native handle, or the storage of a 'heap' region. */
  readonly #memory: NativeRegion | HeapMemory;
  readonly #size: number;
  readonly #backend: Backend;

  /** @internal Use allocate(). */
  constructor(token: symbol, memory: NativeRegion | HeapMemory, size: number, backend: Backend) {
    if (token !== TOKEN) throw invalid('Region cannot be constructed directly; use allocate(size)');
    this.#memory = memory;
    this.#size = size;
    this.#backend = backend;
  }

  static {
    memoryOfRegion = (region) => region.#memory;
  }

  #state(): Protection | 'freed' {
    const memory = this.#memory;
    if (memory instanceof HeapMemory) return memory.state;
    const state = decodeState(native().regionState(memory));
    return state.freed ? 'freed' : state.protection;
  }

  /** Usable bytes (exactly what was asked for). */
  get size(): number {
    return this.#size;
  }

  get backend(): Backend {
    return this.#backend;
  }

  get freed(): boolean {
    return this.#state() === 'freed';
  }

  /** Whether the data pages are locked in RAM (false only under mlock 'best-effort', and always for 'heap'). */
  get locked(): boolean {
    const memory = this.#memory;
    return !(memory instanceof HeapMemory) && decodeState(native().regionState(memory)).locked;
  }

  /** The current protection; ERR_FREED after free(). */
  get protection(): Protection {
    const state = this.#state();
    if (state === 'freed') throw new StrongroomError('ERR_FREED', 'the region was freed; allocate a new one');
    return state;
  }

  /**
   * Changes page protection; 'noaccess' detaches every view. On a 'heap' region the
   * protection is emulated: 'readonly' is not enforced there (a view stays writable).
   */
  protect(protection: Protection): void {
    checkArgs(arguments.length, 1, 'protect()');
    checkOneOf(protection, 'protection', PROTECTIONS);
    const memory = this.#memory;
    if (memory instanceof HeapMemory) memory.protect(protection);
    else native().regionProtect(memory, constants().protections[protection]);
  }

  /**
   * A Uint8Array over the region's own memory (not a copy). It becomes empty
   * (length 0) when the region is made 'noaccess' or freed. Do not post or
   * structuredClone it: Node copies external memory into the ordinary heap.
   */
  view(): Uint8Array {
    checkArgs(arguments.length, 0, 'view()');
    const memory = this.#memory;
    return memory instanceof HeapMemory ? memory.view() : native().regionView(memory);
  }

  /** Verifies the canary, wipes, unlocks and unmaps ('heap': wipes and detaches). Idempotent. */
  free(): void {
    checkArgs(arguments.length, 0, 'free()');
    const memory = this.#memory;
    if (memory instanceof HeapMemory) memory.free();
    else native().regionFree(memory);
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
    return `Region(${this.#size} bytes, ${this.#backend}, ${this.#state()})`;
  }
}

/** @internal What a Region holds: a native handle, or a HeapMemory (for ops.ts, which serves both). */
export function memoryOf(region: unknown, what: string): NativeRegion | HeapMemory {
  if (!(region instanceof Region)) throw invalid(`${what} must be a Region from allocate()`);
  return memoryOfRegion(region);
}

/**
 * @internal The native handle of a Region (for this package's modules only). A 'heap'
 * region has none: every function that runs in native code refuses it here.
 */
export function nativeOf(region: unknown, what: string): NativeRegion {
  const memory = memoryOf(region, what);
  if (memory instanceof HeapMemory) {
    throw invalid(
      `${what} is a 'heap' region, which is not accepted here: this function works on native guarded memory ` +
        "only. Allocate it with backend 'auto', 'mmap' or 'secretmem' (a 'heap' region serves view() and " +
        'randomFill, zero, copy, xor, equals, copyIn, copyOut, hmac, hmacVerify)',
    );
  }
  return memory;
}

/** @internal The backend and mlock policy of an allocation (options given, else configure()'s), with their native codes. */
export interface Allocation {
  backend: NativeBackend;
  mlock: MlockPolicy;
  backendCode: number;
  mlockCode: number;
}

/** The options as given and checked; backend undefined when left out. */
function allocationChoices(given: Options): { backend: BackendChoice | undefined; mlock: MlockPolicy } {
  return {
    backend: given.backend === undefined ? undefined : checkOneOf(given.backend, 'backend', BACKEND_CHOICES),
    mlock: given.mlock === undefined ? defaults.mlock : checkOneOf(given.mlock, 'mlock', MLOCK_POLICIES),
  };
}

function nativeAllocation(backendGiven: BackendChoice | undefined, mlock: MlockPolicy): Allocation {
  if (backendGiven === 'heap') {
    throw invalid(
      "backend 'heap' is not accepted here: this function puts the bytes straight into native guarded memory; " +
        "pass backend 'auto', 'mmap' or 'secretmem', or leave it out",
    );
  }
  // A 'heap' default stands for allocate() only; native allocators are never weaker than 'auto'.
  const choice = backendGiven ?? (defaults.backend === 'heap' ? 'auto' : defaults.backend);
  const backend = choice === 'auto' ? autoBackend() : choice;
  const codes = constants();
  return { backend, mlock, backendCode: codes.backends[backend], mlockCode: codes.mlockPolicies[mlock] };
}

/**
 * @internal Resolves the allocation options of the native allocators: the readers in
 * io.ts and the coffer. An explicit 'heap' is ERR_INVALID_ARG; a 'heap' default is 'auto'.
 */
export function resolveAllocation(given: Options = NO_OPTIONS): Allocation {
  const { backend, mlock } = allocationChoices(given);
  return nativeAllocation(backend, mlock);
}

/**
 * @internal The Region of a fresh native handle (from regionNew or a reader in io.ts):
 * the one way a native Region is made. Under the 'best-effort' policy (the only one that can
 * leave a region unlocked) it warns once when a region could not be locked.
 */
export function wrapHandle(handle: NativeRegion, size: number, { mlock }: Pick<Allocation, 'mlock'>): Region {
  const binding = native();
  // The backend the addon actually used: under 'best-effort' a secretmem allocation that
  // met a full RLIMIT_MEMLOCK falls back to (unlocked) mmap pages.
  const state = decodeState(binding.regionState(handle));
  if (mlock === 'best-effort' && !warnedUnlocked && !state.locked) {
    warnedUnlocked = true;
    const { memlockLimit } = binding.stats();
    process.emitWarning(
      `strongroom could not lock secret memory into RAM (RLIMIT_MEMLOCK soft ${memlockLimit.soft}, hard ` +
        `${memlockLimit.hard} bytes) and continues with swappable pages under the 'best-effort' mlock policy. ` +
        'Raise the limit (ulimit -l) to keep secrets out of swap.',
      { code: 'STRONGROOM_MLOCK_BEST_EFFORT' },
    );
  }
  return new Region(TOKEN, handle, size, state.backend);
}

/**
 * @internal allocate() for the functions that must put bytes in native memory (open,
 * cofferOpen): an explicit 'heap' is ERR_INVALID_ARG, and a 'heap' default stands for 'auto',
 * as for the readers.
 */
export function allocateNative(size: number, options: AllocateOptions | undefined, fn: string): Region {
  checkInteger(size, 'size', 1, MAX_REGION_SIZE);
  return newNativeRegion(size, resolveAllocation(checkOptions(options, fn, ALLOCATE_KEYS)), true);
}

function newNativeRegion(size: number, allocation: Allocation, isolated: boolean): Region {
  const placement = constants().placements[isolated ? 'isolated' : 'shared'];
  return wrapHandle(native().regionNew(size, allocation.backendCode, allocation.mlockCode, placement), size, allocation);
}

/**
 * A new region of exactly `size` bytes, 'readwrite' and zero-filled.
 * Throws ERR_INVALID_ARG, ERR_MLOCK_LIMIT, ERR_MAPPING_LIMIT, ERR_NO_MEMORY or ERR_BACKEND_UNAVAILABLE;
 * on any failure nothing stays mapped. A 'heap' region never loads the addon.
 */
export function allocate(size: number, options?: RegionOptions): Region {
  checkArgs(arguments.length, 2, 'allocate()');
  checkInteger(size, 'size', 1, MAX_REGION_SIZE);
  const given = checkOptions(options, 'allocate()', REGION_KEYS);
  const { backend, mlock } = allocationChoices(given);
  const isolated = given.isolated === undefined ? defaults.isolated : checkBoolean(given.isolated, 'isolated');
  if ((backend ?? defaults.backend) === 'heap') return new Region(TOKEN, new HeapMemory(size), size, 'heap');
  return newNativeRegion(size, nativeAllocation(backend, mlock), isolated);
}
