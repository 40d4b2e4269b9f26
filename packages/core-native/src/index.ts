// @strongroom/core-native: guarded native memory for secrets, libsodium sealing and
// hashing over it, and process hardening. See README.md for the guarantees and limits.
// The check vocabulary every strongroom package shares is '@strongroom/core-native/validate'.
export { StrongroomError, isStrongroomError, type StrongroomErrorCode } from './errors.js';
export { isNativeAvailable, nativeLoadError } from './binding.js';
export type {
  Backend,
  BackendChoice,
  CofferOptions,
  CofferStats,
  HardenResult,
  HmacAlgorithm,
  Limit,
  MlockPolicy,
  OaepHash,
  Pkcs11Mechanism,
  Protection,
  Stats,
} from './types.js';
export { Region, allocate, configure, MAX_REGION_SIZE, type AllocateOptions, type RegionOptions, type Defaults } from './region.js';
export { randomFill, zero, copy, xor, equals, copyIn, copyOut, type RangeOptions } from './ops.js';
export { seal, open, openInto, sealedSize, KEY_BYTES, NONCE_BYTES, MAC_BYTES, SEAL_OVERHEAD } from './sealing.js';
export {
  cofferSeal,
  cofferOpen,
  cofferOpenInto,
  cofferSealFromFd,
  cofferHmac,
  cofferHmacVerify,
  rekeyCoffer,
  purgeCoffer,
  configureCoffer,
  cofferStats,
  DEFAULT_REKEY_INTERVAL,
  MAX_REKEY_INTERVAL,
} from './coffer.js';
export { blake2b, hmac, hmacVerify, HMAC_MIN_TAG_BYTES } from './hashing.js';
export {
  hashPassword,
  verifyPassword,
  needsRehash,
  DEFAULT_PASSWORD_OPTIONS,
  type PasswordHashOptions,
} from './password.js';
export {
  readFile,
  readFd,
  readEnv,
  promptSecret,
  DEFAULT_MAX_SIZE,
  type ReadOptions,
  type ReadFileOptions,
  type ReadFdOptions,
  type ReadEnvOptions,
} from './io.js';
export { ageDecrypt, ageEncrypt, type AgeDecryptOptions, type AgeEncryptOptions } from './age.js';
export { pkcs11Decrypt, type Pkcs11DecryptOptions, type Pkcs11Key } from './pkcs11.js';
export { harden, type HardenOptions } from './hardening.js';
export { stats, releaseSpareRegions } from './stats.js';
