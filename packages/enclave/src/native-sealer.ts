// The native backend: the process-wide coffer of @strongroom/core-native. The whole key
// exists only inside the native call that seals or opens; plaintext moves between
// guarded regions and the cipher (or HMAC) without ever entering the JS heap.
import { cofferOpenBuffer, cofferSealBuffer, type SecretBuffer } from '@strongroom/buffer';
import {
  allocate,
  configure,
  cofferHmac,
  cofferHmacVerify,
  cofferSeal,
  cofferSealFromFd,
  cofferStats,
  configureCoffer,
  purgeCoffer,
  rekeyCoffer,
  type AllocateOptions,
  type CofferStats,
  type HmacAlgorithm,
} from '@strongroom/core-native';

import type { FileSealer, Sealer } from './sealer.js';

export class NativeSealer implements Sealer {
  readonly backend = 'native' as const;
  // configure()'s defaults, but native memory where they made 'heap' the default: the
  // coffer seals and opens only guarded regions.
  get bufferOptions(): AllocateOptions | undefined {
    return configure().backend === 'heap' ? { backend: 'auto' } : undefined;
  }

  sealBuffer(buffer: SecretBuffer, length?: number): Uint8Array {
    return cofferSealBuffer(buffer, length);
  }

  // read(2) into a guarded staging region, sealed there: the plaintext never reaches the heap.
  fileSealer(fd: number, size: number): FileSealer {
    const staging = allocate(size, this.bufferOptions);
    return {
      next: (header) => cofferSealFromFd(fd, staging, header),
      close: () => staging.free(),
    };
  }

  sealBytes(bytes: Uint8Array, length?: number): Uint8Array {
    return cofferSeal(bytes, length);
  }

  open(sealed: Uint8Array): SecretBuffer {
    return cofferOpenBuffer(sealed);
  }

  // One native call each: the key is opened into a temporary guarded region, used and wiped
  // there (a 'heap' default stands for 'auto', as for bufferOptions).
  hmac(sealed: Uint8Array, algorithm: HmacAlgorithm, message: Uint8Array): Uint8Array {
    return cofferHmac(sealed, algorithm, message);
  }

  hmacVerify(sealed: Uint8Array, algorithm: HmacAlgorithm, message: Uint8Array, tag: Uint8Array): boolean {
    return cofferHmacVerify(sealed, algorithm, message, tag);
  }

  rekey(): void {
    rekeyCoffer();
  }

  purge(): void {
    purgeCoffer();
  }

  setRekeyInterval(ms: number): void {
    configureCoffer({ rekeyInterval: ms });
  }

  stats(): CofferStats {
    return cofferStats();
  }
}
