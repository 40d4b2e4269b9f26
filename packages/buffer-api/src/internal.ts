// For strongroom's own packages (the enclave seals and opens SecretBuffers natively),
// not a stable API: these reach past a SecretBuffer's scopes, so that native code can
// read or fill its region without a JS view ever existing.
import type { Region } from '@strongroom/core-native';

import { internals, type SecretBuffer } from './secret-buffer.js';

/**
 * The region of a buffer that is live and has no scope open, for one native call.
 * ERR_DESTROYED after destroy(), ERR_BUSY while a scope is open.
 */
export function idleRegionOf(buffer: SecretBuffer): Region {
  return internals.idleRegionOf(buffer);
}

/**
 * A SecretBuffer that takes ownership of `region` (made 'noaccess'; freed on failure,
 * so no region is ever left without an owner), frozen if asked.
 */
export function adoptRegion(region: Region, options: { frozen: boolean }): SecretBuffer {
  return internals.adopt(region, options.frozen);
}
