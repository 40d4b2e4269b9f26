// @strongroom/enclave: secrets sealed under a split, rotating key (the Coffer), the
// emergency purge, safe exit and signal handling, and streams for large secrets.
// See README.md for the guarantees and what is not protected.
import { MAX_REKEY_INTERVAL, type CofferOptions, type CofferStats } from '@strongroom/core-native';
import { checkArgs, checkInteger, checkOptions } from '@strongroom/core-native/validate';

import { sealer } from './backend.js';

export { Enclave } from './enclave.js';
export {
  EnclaveStream,
  DEFAULT_CHUNK_SIZE,
  DEFAULT_FILE_MAX_SIZE,
  MAX_CHUNK_SIZE,
  type EnclaveStreamOptions,
  type FromFileOptions,
} from './stream.js';
export { purge, type PurgeResult } from './purge.js';
export {
  hashPassword,
  verifyPassword,
  needsRehash,
  DEFAULT_PASSWORD_OPTIONS,
  type PasswordHashOptions,
} from './password.js';
export { safeExit, safePanic, catchSignals, describeSafely, type CatchSignalsOptions } from './exit.js';
export { DEFAULT_REKEY_INTERVAL } from './backend.js';
export type { EnclaveBackend } from './sealer.js';
export {
  StrongroomError,
  isStrongroomError,
  type CofferOptions,
  type CofferStats,
  type HmacAlgorithm,
  type StrongroomErrorCode,
} from '@strongroom/core-native';
export { SecretBuffer } from '@strongroom/buffer';

/**
 * Sets the coffer's rekey interval (process-wide for the native backend, per thread for
 * the portable one) and returns its stats: the same function and shape as core-native's.
 */
export function configureCoffer(options: CofferOptions): CofferStats {
  checkArgs(arguments.length, 1, 'configureCoffer()');
  const given = checkOptions(options, 'configureCoffer()', ['rekeyInterval']);
  if (given.rekeyInterval !== undefined) {
    sealer().setRekeyInterval(checkInteger(given.rekeyInterval, 'rekeyInterval', 0, MAX_REKEY_INTERVAL));
  }
  return sealer().stats();
}

/** Re-randomises the key halves now, without changing the key. */
export function rekeyCoffer(): void {
  checkArgs(arguments.length, 0, 'rekeyCoffer()');
  sealer().rekey();
}

/** The coffer's backend ('heap' for the portable one), lock, rekey interval, rekey and purge counts. */
export function cofferStats(): CofferStats {
  checkArgs(arguments.length, 0, 'cofferStats()');
  return sealer().stats();
}
