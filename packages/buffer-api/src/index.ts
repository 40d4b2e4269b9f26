// @strongroom/buffer: SecretBuffer, the everyday handle for one secret in guarded memory.
export { SecretBuffer, type CopyRange, type FromFdOptions, type FromOptions, type ScopedView } from './secret-buffer.js';
export { cofferOpenBuffer, cofferSealBuffer } from './coffer.js';
export {
  hashPassword,
  verifyPassword,
  needsRehash,
  DEFAULT_PASSWORD_OPTIONS,
  type PasswordHashOptions,
} from './password.js';
export { ageDecrypt, type AgeDecryptOptions } from './age.js';
export { pkcs11Decrypt, type OaepHash, type Pkcs11DecryptOptions, type Pkcs11Key, type Pkcs11Mechanism } from './pkcs11.js';
export type { LiveStats } from './live.js';
export type { ViewMode } from './scope.js';
export {
  StrongroomError,
  isStrongroomError,
  type StrongroomErrorCode,
  type AllocateOptions,
  type RegionOptions,
  type HmacAlgorithm,
  type ReadOptions,
  type ReadFileOptions,
  type ReadEnvOptions,
} from '@strongroom/core-native';
