// @strongroom/core-native: guarded native memory for secrets, libsodium sealing and
// hashing over it, and process hardening. See README.md for the guarantees and limits.
export { StrongroomError, isStrongroomError, type StrongroomErrorCode } from './errors.js';
export { isNativeAvailable, nativeLoadError } from './binding.js';
export {
  Region,
  allocate,
  configure,
  MAX_REGION_SIZE,
  type AllocateOptions,
  type Backend,
  type BackendChoice,
  type Defaults,
  type MlockPolicy,
  type Protection,
} from './region.js';
export { randomFill, zero, copy, xor, equals, copyIn, copyOut, type RangeOptions } from './ops.js';
export { seal, open, openInto, KEY_BYTES, NONCE_BYTES, MAC_BYTES, SEAL_OVERHEAD } from './sealing.js';
export {
  cofferSeal,
  cofferOpen,
  cofferSealFromFd,
  sealedSize,
  rekeyCoffer,
  purgeCoffer,
  configureCoffer,
  cofferStats,
  DEFAULT_REKEY_INTERVAL,
  MAX_REKEY_INTERVAL,
  type CofferOptions,
  type CofferStats,
} from './coffer.js';
export { blake2b, hmac, hmacVerify, type HmacAlgorithm } from './hashing.js';
export {
  readFile,
  readFd,
  readEnv,
  promptSecret,
  DEFAULT_MAX_SIZE,
  type ReadOptions,
  type ReadFdOptions,
  type ReadEnvOptions,
} from './io.js';
export { harden, stats, releaseSpareRegions, type HardenOptions, type HardenResult, type Limit, type Stats } from './hardening.js';
