// What the Enclave needs from a backend: seal and open under the process's coffer key,
// rekey, purge. Two implementations: native (native-sealer.ts, the coffer of
// @strongroom/core-native) and js (js-sealer.ts, tweetnacl in JavaScript memory).
// Both produce core-native's one sealed format (SEAL_OVERHEAD, sealedSize there):
//
//   sealed = nonce(24) || mac(16) || ciphertext
import type { AllocateOptions, SecretBuffer } from '@strongroom/buffer';
import type { CofferStats, HmacAlgorithm } from '@strongroom/core-native';

export type EnclaveBackend = 'native' | 'js';

export interface Sealer {
  readonly backend: EnclaveBackend;
  /** How SecretBuffers of this backend are allocated (the js backend: core-native's 'heap'). */
  readonly bufferOptions: AllocateOptions | undefined;
  /** Seals `length` bytes (default all) of a live SecretBuffer with no open scope; the buffer is left as it was. */
  sealBuffer(buffer: SecretBuffer, length?: number): Uint8Array;
  /** Reads an open file chunk by chunk into a staging area of `size` bytes, each chunk sealed as it is read (see FileSealer). */
  fileSealer(fd: number, size: number): FileSealer;
  /** Seals `length` ordinary bytes (default all); the caller wipes them. */
  sealBytes(bytes: Uint8Array, length?: number): Uint8Array;
  /** Opens sealed bytes into a new frozen SecretBuffer; ERR_AUTH (ERR_EMPTY for 40 bytes) leaves nothing allocated. */
  open(sealed: Uint8Array): SecretBuffer;
  /** The full HMAC tag under the sealed secret, which is opened for this call only; ERR_AUTH as open(). */
  hmac(sealed: Uint8Array, algorithm: HmacAlgorithm, message: Uint8Array): Uint8Array;
  /** Whether tag (16 bytes up to the full length) matches, in constant time; ERR_AUTH as open(). */
  hmacVerify(sealed: Uint8Array, algorithm: HmacAlgorithm, message: Uint8Array, tag: Uint8Array): boolean;
  rekey(): void;
  purge(): void;
  setRekeyInterval(ms: number): void;
  stats(): CofferStats;
}

/** Seals the next chunk of a file per call; `close()` wipes and frees the staging memory (not the fd). */
export interface FileSealer {
  /**
   * seal(header || the next size - header.length bytes of the file), or null at end of
   * file; the header is public bytes shorter than the staging area.
   */
  next(header: Uint8Array): Uint8Array | null;
  close(): void;
}
