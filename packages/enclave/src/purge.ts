// purge(): the emergency stop. Destroys every live SecretBuffer of this thread (wiped
// and unmapped) and replaces the coffer key, on purpose making every existing enclave
// unopenable (ERR_AUTH). The library stays usable: new buffers and enclaves work.
//
// The native coffer is process-wide, so a purge on any thread disables every thread's
// enclaves; SecretBuffers are per thread, so each worker destroys its own (call purge()
// in each, or let safeExit end the process).
import { SecretBuffer } from '@strongroom/buffer';
import { isNativeAvailable, purgeCoffer } from '@strongroom/core-native';

import { chosenSealer } from './backend.js';

export interface PurgeResult {
  /** SecretBuffers destroyed. */
  buffers: number;
}

export function purge(): PurgeResult {
  const buffers = SecretBuffer.destroyAll();
  const current = chosenSealer();
  if (current !== undefined) current.purge();
  // A thread that never sealed still purges the process-wide key (another thread's).
  else if (process.env.STRONGROOM_ENCLAVE_BACKEND !== 'js' && isNativeAvailable()) purgeCoffer();
  return { buffers };
}
