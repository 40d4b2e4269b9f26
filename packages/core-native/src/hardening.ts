// Process-wide hardening, on request only (importing strongroom changes nothing about
// the process), and the figures of guarded memory in use.
import { native } from './binding.js';
import { configure, resolveBackend, type Backend, type MlockPolicy } from './region.js';
import { checkOptions } from './validate.js';

export interface HardenOptions {
  /** Also lower the hard core-dump limit to 0 (irreversible for this process). */
  hardLimit?: boolean;
}

/** A resource limit in bytes (or a count); Infinity means unlimited. */
export interface Limit {
  soft: number;
  hard: number;
}

export interface HardenResult {
  /** RLIMIT_CORE after the call (Infinity means unlimited). */
  coreLimit: Limit;
  /** PR_GET_DUMPABLE after the call: false, so no core dump and no same-user ptrace. */
  dumpable: boolean;
}

/** Core-dump soft limit 0 (and hard, when asked) and PR_SET_DUMPABLE 0. */
export function harden(options?: HardenOptions): HardenResult {
  const given = checkOptions(options, 'harden() options', ['hardLimit']);
  return native().harden(given.hardLimit === true);
}

export interface Stats {
  /** Live regions, and by backend. */
  regions: number;
  mmapRegions: number;
  secretmemRegions: number;
  /** Bytes of data pages locked in RAM (memfd_secret pages count: they never swap). */
  bytesLocked: number;
  /** Bytes of data pages left swappable under the 'best-effort' mlock policy. */
  bytesUnlocked: number;
  /** Allocations whose mlock failed under 'best-effort'. */
  mlockFailures: number;
  /**
   * Freed small regions kept (wiped, 'noaccess', still locked) for reuse, and their bytes
   * of data pages (not counted in bytesLocked). releaseSpareRegions() gives them back.
   */
  spareRegions: number;
  spareBytes: number;
  /** The backend allocate() uses by default here. */
  backend: Backend;
  mlockPolicy: MlockPolicy;
  secretmemAvailable: boolean;
  /** RLIMIT_MEMLOCK in bytes (Infinity means unlimited). */
  memlockLimit: Limit;
  coreLimit: Limit;
  dumpable: boolean;
  pageSize: number;
}

/**
 * Unmaps the spare regions: freed small regions that strongroom keeps wiped, 'noaccess'
 * and locked, so that the next allocation of their shape costs one mprotect instead of
 * mmap, madvise and mlock. They hold only zeros; this gives their locked memory back
 * (an allocation that hits RLIMIT_MEMLOCK does the same by itself). Returns how many.
 */
export function releaseSpareRegions(): number {
  return native().dropSpareRegions();
}

/** Process-wide figures (every worker thread's regions together). */
export function stats(): Stats {
  const figures = native().stats();
  const defaults = configure();
  return { ...figures, backend: resolveBackend(defaults.backend), mlockPolicy: defaults.mlock };
}
