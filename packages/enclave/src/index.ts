// @strongroom/enclave: secrets sealed under a split, rotating key (the Coffer), the
// emergency purge, safe exit and signal handling, and streams for large secrets.
// See README.md for the guarantees and what is not protected.
import { sealer } from './backend.js';
import type { SealerStats } from './sealer.js';
import { checkInterval } from './settings.js';

export { Enclave } from './enclave.js';
export { EnclaveStream, DEFAULT_CHUNK_SIZE, MAX_CHUNK_SIZE, type EnclaveStreamOptions } from './stream.js';
export { purge, type PurgeResult } from './purge.js';
export { safeExit, safePanic, catchSignals, describeSafely, type CatchSignalsOptions } from './exit.js';
export { DEFAULT_REKEY_INTERVAL } from './backend.js';
export type { EnclaveBackend, SealerStats as CofferStats } from './sealer.js';
export { StrongroomError, isStrongroomError, type StrongroomErrorCode } from '@strongroom/core-native';
export { SecretBuffer } from '@strongroom/buffer';

export interface CofferOptions {
  /** Milliseconds between rekeys (default 500; 0 stops automatic rekeying). */
  rekeyInterval?: number;
}

/** Sets the coffer's rekey interval (process-wide for the native backend) and returns its figures. */
export function configureCoffer(options: CofferOptions): SealerStats {
  const interval = checkInterval(options);
  if (interval !== undefined) sealer().setRekeyInterval(interval);
  return sealer().stats();
}

/** Re-randomises the key halves now, without changing the key. */
export function rekey(): void {
  sealer().rekey();
}

/** The coffer's backend, rekey interval, rekey and purge counts. */
export function cofferStats(): SealerStats {
  return sealer().stats();
}
