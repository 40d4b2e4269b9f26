// Process-wide hardening, on request only: importing strongroom changes nothing about
// the process. harden() lowers the core-dump soft limit to 0 (and the hard limit when
// asked) and sets PR_SET_DUMPABLE 0, which also keeps other processes of the same user
// out of /proc/PID/mem and ptrace.
import { native } from './binding.js';
import type { HardenResult } from './types.js';
import { checkArgs, checkBoolean, checkOptions } from './validate.js';

export type { HardenResult, Limit } from './types.js';

export interface HardenOptions {
  /** Also lower the hard core-dump limit to 0 (irreversible for this process). */
  hardLimit?: boolean;
}

/** Core-dump soft limit 0 (and hard, when asked) and PR_SET_DUMPABLE 0. */
export function harden(options?: HardenOptions): HardenResult {
  checkArgs(arguments.length, 1, 'harden()');
  const given = checkOptions(options, 'harden()', ['hardLimit']);
  return native().harden(given.hardLimit === undefined ? false : checkBoolean(given.hardLimit, 'hardLimit'));
}
