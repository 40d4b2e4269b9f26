// What guarded memory is in use, process-wide (every worker thread's regions together),
// the spare pool of freed small regions (native/guarded_memory.cc), and the memory
// mappings strongroom holds against its budget (native/mappings.h).
import { native } from './binding.js';
import { configure, resolveBackend } from './region.js';
import type { Stats } from './types.js';
import { checkArgs } from './validate.js';

export type { Stats } from './types.js';

/** Process-wide stats of guarded memory, with the defaults configure() has in force. */
export function stats(): Stats {
  checkArgs(arguments.length, 0, 'stats()');
  const counts = native().stats();
  const defaults = configure();
  return { ...counts, backend: resolveBackend(defaults.backend), mlockPolicy: defaults.mlock };
}

/**
 * Unmaps the spare regions: freed small regions that strongroom keeps wiped, 'noaccess'
 * and locked, so that the next allocation of their shape costs one mprotect instead of
 * mmap, madvise and mlock. They hold only zeros; this gives their locked memory back
 * (an allocation that hits RLIMIT_MEMLOCK does the same by itself). Returns how many.
 */
export function releaseSpareRegions(): number {
  checkArgs(arguments.length, 0, 'releaseSpareRegions()');
  return native().releaseSpareRegions();
}
