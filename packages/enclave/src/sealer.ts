// What the Enclave needs from a backend: seal and open under the process's coffer key,
// rekey, purge. Two implementations: native (native-sealer.ts, the coffer of
// @strongroom/core-native) and js (js-sealer.ts, tweetnacl in JavaScript memory).
// Both produce NaCl secretbox bytes:
//
//   sealed = nonce(24) || mac(16) || ciphertext
import type { AllocateOptions, SecretBuffer } from '@strongroom/buffer';

export type EnclaveBackend = 'native' | 'js';

export interface SealerStats {
  backend: EnclaveBackend;
  /** Milliseconds between rekeys (0: no automatic rekeying). */
  rekeyInterval: number;
  rekeys: number;
  purges: number;
}

export interface Sealer {
  readonly backend: EnclaveBackend;
  /** How SecretBuffers of this backend are allocated (the js backend: core-native's 'heap'). */
  readonly bufferOptions: AllocateOptions | undefined;
  /** Seals `length` bytes (default all) of a live SecretBuffer with no open scope; the buffer is left as it was. */
  sealBuffer(buffer: SecretBuffer, length?: number): Uint8Array;
  /** Reads an open file chunk by chunk, each chunk sealed as it is read (see FileSealer). */
  fileSealer(fd: number, chunkSize: number): FileSealer;
  /** Seals `length` ordinary bytes (default all); the caller wipes them. */
  sealBytes(bytes: Uint8Array, length?: number): Uint8Array;
  /** Opens sealed bytes into a new frozen SecretBuffer; ERR_AUTH leaves nothing allocated. */
  open(sealed: Uint8Array): SecretBuffer;
  rekey(): void;
  purge(): void;
  setRekeyInterval(ms: number): void;
  stats(): SealerStats;
}

/** Seals the next chunk of a file per call; `close()` wipes and frees the staging memory (not the fd). */
export interface FileSealer {
  /** The next chunk sealed, or null at end of file. */
  next(): Uint8Array | null;
  close(): void;
}

/** Bytes added by sealing: nonce and MAC. */
export const SEAL_OVERHEAD = 40;
