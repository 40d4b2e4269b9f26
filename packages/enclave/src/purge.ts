// purge(): the emergency stop. Destroys every live SecretBuffer of this thread (wiped
// and unmapped) and replaces the coffer key, on purpose making every existing enclave
// unopenable (ERR_AUTH). The library stays usable: new buffers and enclaves work.
//
// The native coffer is process-wide, so a purge on any thread disables every thread's
// enclaves; SecretBuffers are per thread, so each worker destroys its own (call purge()
// in each, or let safeExit end the process).
import { SecretBuffer } from '@strongroom/buffer';
import { purgeCoffer } from '@strongroom/core-native';
import { checkArgs } from '@strongroom/core-native/validate';

import { chosenSealer, usesNativeCoffer } from './backend.js';
import { wipeQueuedWritesOfEveryStream } from './stream.js';

export interface PurgeResult {
  /** SecretBuffers destroyed. */
  buffers: number;
}

export function purge(): PurgeResult {
  checkArgs(arguments.length, 0, 'purge()');
  const buffers = SecretBuffer.destroyAll();
  wipeQueuedWritesOfEveryStream(); // plaintext written to a stream but not yet staged
  const current = chosenSealer();
  if (current !== undefined) current.purge();
  // A thread that never sealed still purges the process-wide key (another thread's).
  else if (usesNativeCoffer()) purgeCoffer();
  return { buffers };
}
