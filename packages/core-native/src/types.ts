// The shared vocabulary of core-native's modules: types only, imported by every module
// and importing none, so that the import graph of this package has no circle.

/** The backends of the addon (allocate() with one of them loads it). */
export type NativeBackend = 'secretmem' | 'mmap';
/** Where a region's bytes live: guarded native pages, or the JS heap ('heap', see heap.ts). */
export type Backend = NativeBackend | 'heap';
export type BackendChoice = Backend | 'auto';
export type Protection = 'noaccess' | 'readonly' | 'readwrite';
export type MlockPolicy = 'require' | 'best-effort';
export type HmacAlgorithm = 'sha256' | 'sha512';

/** An opaque, type-tagged native handle of one region. Never handed to users: Region wraps it. */
export interface NativeRegion {
  readonly __brand: 'strongroom.region';
}

/** A resource limit in bytes (or a count); Infinity means unlimited. */
export interface Limit {
  soft: number;
  hard: number;
}

export interface HardenResult {
  /** RLIMIT_CORE after the call (Infinity means unlimited). */
  coreLimit: Limit;
  /** PR_GET_DUMPABLE after the call: false, so no core dump and no same-user ptrace. */
  dumpable: boolean;
}

/** Process-wide stats of guarded memory (every worker thread's regions together). */
export interface Stats {
  /** Live regions, and by backend. */
  regions: number;
  mmapRegions: number;
  secretmemRegions: number;
  /** Bytes of data pages locked in RAM (memfd_secret pages count: they never swap). */
  bytesLocked: number;
  /** Bytes of data pages left swappable under the 'best-effort' mlock policy. */
  bytesUnlocked: number;
  /** Allocations whose mlock failed under 'best-effort'. */
  mlockFailures: number;
  /**
   * Freed small regions kept (wiped, 'noaccess', still locked) for reuse, and their bytes
   * of data pages (not counted in bytesLocked). releaseSpareRegions() gives them back.
   */
  spareRegions: number;
  spareBytes: number;
  /**
   * Wiped regions kept mapped (never reused) because a view was moved out of its scope into
   * an ArrayBuffer strongroom cannot detach; each goes when that ArrayBuffer is collected.
   */
  orphanedRegions: number;
  /** Slabs: the shared pages of small regions (allocate()'s default up to 256 bytes). */
  slabs: SlabStats;
  /**
   * Memory mappings (VMAs) strongroom's guarded pages hold: up to 3 per isolated region and 10
   * per slab, spares, empty slabs in reserve and orphans included (guard pages of neighbouring regions may merge, so /proc/self/maps can
   * show fewer: this is an upper bound).
   */
  mappings: number;
  /**
   * How many mappings strongroom may hold: vm.max_map_count less the mappings it leaves to
   * V8, libc and the rest of the process (max(min(4096, limit / 2), limit / 8)). A new region
   * past it, or one that would leave the whole process fewer than those free, is
   * ERR_MAPPING_LIMIT.
   */
  mappingBudget: number;
  /** The backend allocate() uses by default here. */
  backend: Backend;
  mlockPolicy: MlockPolicy;
  secretmemAvailable: boolean;
  /** RLIMIT_MEMLOCK in bytes (Infinity means unlimited). */
  memlockLimit: Limit;
  coreLimit: Limit;
  dumpable: boolean;
  pageSize: number;
}

/** Slabs of small regions (see allocate()'s `isolated` and the README's "Small secrets"). */
export interface SlabStats {
  /** Slabs mapped, empty ones kept in reserve included. */
  count: number;
  /** Empty slabs kept in reserve (wiped, 'noaccess'; their bytes are counted in spareBytes). */
  empty: number;
  /** Bytes of data pages of every slab (busy ones are counted in bytesLocked or bytesUnlocked). */
  bytes: number;
  /** One entry per size class, smallest first. */
  classes: SlabClassStats[];
}

export interface SlabClassStats {
  /** Usable bytes per slot: regions up to this size (and above the class before) take one. */
  size: number;
  slabs: number;
  slots: number;
  slotsInUse: number;
  /**
   * Slots never handed out again because a view moved out of its scope points into their
   * page (that page's other secrets were moved off it). Fragmentation is
   * 1 - slotsInUse / (slots - deadSlots).
   */
  deadSlots: number;
}

export interface CofferOptions {
  /** Milliseconds between rekeys (default 500); 0 stops automatic rekeying. */
  rekeyInterval?: number;
}

/** The coffer's state: the same shape for the native coffer and the enclave's portable one. */
export interface CofferStats {
  /** Where the halves live: 'mmap' or 'secretmem' (native), 'heap' (the portable fallback). */
  backend: Backend;
  /** Whether the halves are locked in RAM (false under mlock 'best-effort' when it failed, and for 'heap'). */
  locked: boolean;
  /** Milliseconds between rekeys (0: no automatic rekeying). */
  rekeyInterval: number;
  /** Rekeys since the process started (automatic and rekeyCoffer()). */
  rekeys: number;
  purges: number;
}

/** The addon's own numbers (native/addon.cc exports them; constants.ts maps them to names). */
export interface AddonConstants {
  backends: Readonly<Record<NativeBackend, number>>;
  protections: Readonly<Record<Protection, number>>;
  mlockPolicies: Readonly<Record<MlockPolicy, number>>;
  placements: Readonly<Record<'isolated' | 'shared', number>>;
  /** The slab size classes, smallest first: allocate() puts a region of at most the last one in a slab slot. */
  slabClasses: readonly number[];
  slabDataPages: number;
  /** regionState() = protection | freed | locked | backend << backendShift */
  state: Readonly<{ protectionMask: number; freed: number; locked: number; backendShift: number }>;
  hmacAlgorithms: Readonly<Record<HmacAlgorithm, number>>;
  /** The shortest truncated tag hmacVerify accepts (HMAC_MIN_TAG_BYTES in hashing.ts; a test checks they agree). */
  hmacMinTagBytes: number;
  maxFd: number;
  maxRegionSize: number;
  maxRekeyInterval: number;
  canaryBytes: number;
  /** The mapping budget (native/mappings.h): mappings per region (an upper bound: guard, data, guard), vm.max_map_count as read when the addon loaded, the mappings left to the rest of the process, and strongroom's budget (stats().mappingBudget). */
  mappingsPerRegion: number;
  maxMapCount: number;
  mappingHeadroom: number;
  mappingBudget: number;
  keyBytes: number;
  nonceBytes: number;
  macBytes: number;
  sealOverhead: number;
  blake2bMinBytes: number;
  blake2bMaxBytes: number;
  blake2bMinKeyBytes: number;
  blake2bMaxKeyBytes: number;
  /** Argon2id (password.ts): timeCost in passes, memoryCost in KiB, libsodium's bounds. */
  argon2idMinTimeCost: number;
  argon2idMaxTimeCost: number;
  argon2idMinMemoryCost: number;
  argon2idMaxMemoryCost: number;
  /** The only parallelism libsodium 1.0.18 computes (1). */
  argon2idParallelism: number;
  /** The salt and hash lengths hashPassword() writes. */
  argon2idSaltBytes: number;
  argon2idHashBytes: number;
  /** The longest encoded hash accepted, in characters. */
  argon2idMaxEncodedLength: number;
  /** age (age.ts): the key kinds of ageDecrypt, and the scrypt work factors (log2 N). */
  ageKeyKinds: Readonly<{ identity: number; passphrase: number }>;
  /** The ceiling of maxWorkFactor (22: 4 GiB of scrypt memory). */
  ageMaxWorkFactor: number;
  /** maxWorkFactor's default (18, what `age -p` writes: 256 MiB). */
  ageDefaultWorkFactor: number;
  /** The most AGE-SECRET-KEY-1 lines one identity may hold. */
  ageMaxIdentities: number;
  /** pkcs11Decrypt (pkcs11.ts): mechanism and OAEP hash codes, AES-GCM sizes, bounds. */
  pkcs11Mechanisms: Readonly<Record<Pkcs11Mechanism, number>>;
  oaepHashes: Readonly<Record<OaepHash, number>>;
  /** The AES-GCM tag after the ciphertext: 16 bytes (128 bits), the only length asked for. */
  gcmTagBytes: number;
  /** The IV length of the combined form iv || ciphertext || tag: 12 bytes. */
  gcmIvBytes: number;
  /** The longest IV PKCS#11 v2.40 allows: 256 bytes. */
  gcmMaxIvBytes: number;
  /** A token label's field in CK_TOKEN_INFO: 32 bytes. */
  tokenLabelBytes: number;
  /** The longest ciphertext, AAD or key id accepted. */
  pkcs11MaxCiphertext: number;
}

/** The mechanisms pkcs11Decrypt asks a token for: CKM_AES_GCM, CKM_RSA_PKCS_OAEP. */
export type Pkcs11Mechanism = 'aes-gcm' | 'rsa-oaep';
/** The hash of RSA-OAEP (and of its MGF1). */
export type OaepHash = 'sha256' | 'sha1';
