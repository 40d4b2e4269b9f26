// Loads the native addon, lazily and once: a prebuilt binary for this platform when
// the package ships one (prebuilds/<platform>-<arch>/strongroom.node), else the local
// build (build/Release/strongroom.node). A missing or broken addon becomes
// ERR_NATIVE_UNAVAILABLE with what to do, and isNativeAvailable() lets a caller
// (the enclave's portable fallback) ask without catching.
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';

import { LOCAL_ADDON, PREBUILT_ADDON } from '../scripts/addon-path.mjs';
import { StrongroomError } from './errors.js';
import type { AddonConstants, CofferStats, HardenResult, NativeRegion, Stats } from './types.js';

/** stats() as the addon reports it; stats.ts adds the JS-side defaults. */
export type NativeStats = Omit<Stats, 'backend' | 'mlockPolicy'>;

/**
 * The addon's functions, one per native entry point (the export tables of native/*.cc).
 * Numbers that cross the boundary (backend and protection codes, state bits, algorithm
 * ids) are the addon's own, read from `constants` (constants.ts), never restated here.
 */
export interface NativeBinding {
  constants: AddonConstants;
  setErrorClass(errorClass: typeof StrongroomError): void;
  /** placement: a code of constants.placements */
  regionNew(size: number, backend: number, mlockPolicy: number, placement: number): NativeRegion;
  regionProtect(region: NativeRegion, protection: number): void;
  regionView(region: NativeRegion): Uint8Array;
  regionFree(region: NativeRegion): void;
  /** protection | freed | locked | backend << backendShift (constants.state) */
  regionState(region: NativeRegion): number;
  /** usable bytes */
  regionSize(region: NativeRegion): number;
  stats(): NativeStats;
  /** how many spare regions were unmapped */
  releaseSpareRegions(): number;
  secretmemAvailable(): boolean;
  /** Whether secretmemAvailable()'s answer is final (a transient failure of its probe is not). */
  secretmemAnswerKnown(): boolean;
  randomFill(target: NativeRegion): void;
  zero(target: NativeRegion): void;
  copyOrXor(
    target: NativeRegion,
    targetOffset: number,
    source: NativeRegion,
    sourceOffset: number,
    length: number,
    xor: boolean,
  ): void;
  equal(a: NativeRegion, b: NativeRegion | Uint8Array): boolean;
  copyBytes(region: NativeRegion, bytes: Uint8Array, offset: number, toRegion: boolean): void;
  seal(key: NativeRegion, plaintext: NativeRegion): Uint8Array;
  /** target undefined only for sealed bytes of exactly the overhead (authenticated, then ERR_EMPTY). */
  open(key: NativeRegion, sealed: Uint8Array, target: NativeRegion | undefined): void;
  blake2b(target: NativeRegion, source: NativeRegion, key: NativeRegion | undefined): void;
  hmac(algorithm: number, key: NativeRegion, message: Uint8Array): Uint8Array;
  hmacVerify(algorithm: number, key: NativeRegion, message: Uint8Array, tag: Uint8Array): boolean;
  harden(hardLimit: boolean): HardenResult;
  /** owner and maxMode: -1 for not checked. */
  readFile(path: string, maxSize: number, backend: number, mlockPolicy: number, owner: number, maxMode: number): NativeRegion;
  /** until: a byte, or -1 for none */
  readFd(fd: number, maxSize: number, until: number, backend: number, mlockPolicy: number): NativeRegion;
  readEnv(name: string, remove: boolean, backend: number, mlockPolicy: number): NativeRegion;
  promptSecret(message: string, maxSize: number, backend: number, mlockPolicy: number): Promise<NativeRegion>;
  /** memoryCost in KiB; resolves with the encoded hash. */
  hashPassword(password: NativeRegion, timeCost: number, memoryCost: number): Promise<string>;
  /** Throws (before any work) for an encoded hash it cannot verify. */
  verifyPassword(password: NativeRegion, encoded: string): Promise<boolean>;
  needsRehash(encoded: string, timeCost: number, memoryCost: number): boolean;
  /** source: a path or an fd; kind: a code of constants.ageKeyKinds; maxWorkFactor: log2 N. */
  ageDecrypt(
    source: string | number,
    kind: number,
    key: NativeRegion,
    maxSize: number,
    maxWorkFactor: number,
    backend: number,
    mlockPolicy: number,
  ): NativeRegion;
  /** recipients: age1… strings; the age file, binary or armored. */
  ageEncrypt(plaintext: NativeRegion, recipients: string[], armor: boolean): Uint8Array;
  /** slot -1: the token labelled tokenLabel. iv only (and always) for aes-gcm; aad only for aes-gcm. */
  pkcs11Decrypt(
    module: string,
    slot: number,
    tokenLabel: string | undefined,
    pin: NativeRegion,
    keyLabel: string | undefined,
    keyId: Uint8Array | undefined,
    mechanism: number,
    oaepHash: number,
    ciphertext: Uint8Array,
    iv: Uint8Array | undefined,
    aad: Uint8Array | undefined,
    backend: number,
    mlockPolicy: number,
  ): Promise<NativeRegion>;
  cofferInit(backend: number, mlockPolicy: number, intervalMs: number): void;
  cofferSeal(source: NativeRegion | Uint8Array, length: number): Uint8Array;
  /** target undefined only for sealed bytes of exactly the overhead. */
  cofferOpen(sealed: Uint8Array, target: NativeRegion | undefined): void;
  /** null at end of file */
  cofferSealFromFd(fd: number, staging: NativeRegion, header: Uint8Array): Uint8Array | null;
  cofferHmac(sealed: Uint8Array, algorithm: number, message: Uint8Array, backend: number, mlock: number): Uint8Array;
  cofferHmacVerify(
    sealed: Uint8Array,
    algorithm: number,
    message: Uint8Array,
    tag: Uint8Array,
    backend: number,
    mlock: number,
  ): boolean;
  cofferRekey(): void;
  cofferPurge(): void;
  cofferSetInterval(intervalMs: number): void;
  /** backend: a code of constants.backends */
  cofferStats(): Omit<CofferStats, 'backend'> & { backend: number };
  /** Only with STRONGROOM_TEST_HOOKS=1 at load: where the halves start (an address, not their bytes). */
  cofferHalvesAddress?(): number;
}

/** Where the addon is looked for, in order (scripts/addon-path.mjs names them). */
export function addonCandidates(): string[] {
  return [PREBUILT_ADDON, LOCAL_ADDON];
}

const HOW_TO_FIX =
  'Reinstall @strongroom/core-native on Linux x64/arm64 with a C++ toolchain (g++, make, python3) so its ' +
  'install script can build the addon, or in the strongroom repository run `bash scripts/setup.sh`.';

/** Loads the first candidate that exists; exported for tests. */
export function loadBinding(candidates: readonly string[]): NativeBinding {
  if (process.platform !== 'linux') {
    throw new StrongroomError(
      'ERR_NATIVE_UNAVAILABLE',
      `@strongroom/core-native supports Linux only (this is ${process.platform}).`,
    );
  }
  const file = candidates.find((candidate) => existsSync(candidate));
  if (file === undefined) {
    throw new StrongroomError(
      'ERR_NATIVE_UNAVAILABLE',
      `the strongroom native addon was not found (looked in ${candidates.join(', ')}). ${HOW_TO_FIX}`,
    );
  }
  try {
    const binding = createRequire(import.meta.url)(file) as NativeBinding;
    binding.setErrorClass(StrongroomError);
    return binding;
  } catch (cause) {
    const reason = cause instanceof Error ? cause.message.split('\n')[0] : String(cause);
    throw new StrongroomError(
      'ERR_NATIVE_UNAVAILABLE',
      `the strongroom native addon at ${file} could not be loaded (${reason}). ${HOW_TO_FIX}`,
      { cause },
    );
  }
}

let loaded: NativeBinding | undefined;
let loadError: StrongroomError | undefined;

/** The addon; throws ERR_NATIVE_UNAVAILABLE (the same error every time) when it cannot load. */
export function native(): NativeBinding {
  if (loaded) return loaded;
  if (loadError) throw loadError;
  try {
    loaded = loadBinding(addonCandidates());
    return loaded;
  } catch (error) {
    loadError = error as StrongroomError;
    throw error;
  }
}

/** Whether the native addon loads here (no exception; see nativeLoadError()). */
export function isNativeAvailable(): boolean {
  try {
    native();
    return true;
  } catch {
    return false;
  }
}

/** Why the addon did not load, or undefined when it did (or was not tried yet). */
export function nativeLoadError(): StrongroomError | undefined {
  return loadError;
}
