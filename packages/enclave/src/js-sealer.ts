// The portable backend, for where the native addon cannot load: the same split key and
// the same sealed format, in JavaScript memory, with tweetnacl's XSalsa20-Poly1305.
//
//   key = BLAKE2b-256(left) XOR right        (@noble/hashes; the native formula exactly)
//
// What it does NOT give (the one-time warning says so): no guard pages, no mlock, no
// protection against heap residue (the halves, the momentary key and every opened secret
// are ordinary, movable, swappable JS memory; tweetnacl's temporaries are not wiped),
// and the coffer is per thread, so sealed bytes do not open in another worker.
// Opened secrets are SecretBuffers on core-native's 'heap' backend.
import { randomBytes } from 'node:crypto';
import { readSync } from 'node:fs';

import { SecretBuffer, type AllocateOptions } from '@strongroom/buffer';
import {
  KEY_BYTES as KEY,
  NONCE_BYTES as NONCE,
  sealedSize,
  StrongroomError,
  type CofferStats,
  type HmacAlgorithm,
} from '@strongroom/core-native';
import { blake2b } from '@noble/hashes/blake2.js';
import nacl from 'tweetnacl';

import type { FileSealer, Sealer } from './sealer.js';

// NaCl's padding: crypto_secretbox takes 32 zero bytes before the message, and gives 16
// zero bytes before the box (mac || ciphertext).
const ZERO_BYTES = 32;
const BOX_ZERO_BYTES = 16;

// tweetnacl's low-level functions exist at run time but are not in its type declarations.
interface NaclLowLevel {
  crypto_secretbox(c: Uint8Array, m: Uint8Array, length: number, nonce: Uint8Array, key: Uint8Array): number;
}
const lowlevel = (nacl as unknown as { lowlevel: NaclLowLevel }).lowlevel;

function hash(half: Uint8Array): Uint8Array {
  return blake2b(half, { dkLen: KEY });
}

// Reads until `into` is full or the file ends; returns the count.
function readFully(fd: number, into: Buffer): number {
  let filled = 0;
  while (filled < into.length) {
    const n = readSync(fd, into, filled, into.length - filled, null);
    if (n === 0) break;
    filled += n;
  }
  return filled;
}

export class JsSealer implements Sealer {
  readonly backend = 'js' as const;
  readonly bufferOptions: AllocateOptions = { backend: 'heap' };
  #left: Uint8Array;
  #right: Uint8Array;
  #interval = 0;
  #timer: NodeJS.Timeout | undefined;
  #rekeys = 0;
  #purges = 0;

  /** Fresh random halves; `halves` only for the cross-backend test (a copy is kept). */
  constructor(rekeyInterval: number, halves?: { left: Uint8Array; right: Uint8Array }) {
    this.#left = halves === undefined ? randomBytes(KEY) : Uint8Array.from(halves.left);
    this.#right = halves === undefined ? randomBytes(KEY) : Uint8Array.from(halves.right);
    this.setRekeyInterval(rekeyInterval);
  }

  // Runs use(key) with the whole key, then wipes it.
  #withKey<T>(use: (key: Uint8Array) => T): T {
    const key = hash(this.#left);
    for (let i = 0; i < KEY; i++) key[i]! ^= this.#right[i]!;
    try {
      return use(key);
    } finally {
      key.fill(0);
    }
  }

  sealBuffer(buffer: SecretBuffer, length?: number): Uint8Array {
    return buffer.read((view) => this.sealBytes(view, length));
  }

  fileSealer(fd: number, size: number): FileSealer {
    const staging = Buffer.alloc(size);
    return {
      next: (header) => {
        const filled = readFully(fd, staging.subarray(header.length));
        if (filled === 0) return null;
        const length = header.length + filled;
        try {
          staging.set(header, 0);
          return this.sealBytes(staging, length);
        } finally {
          staging.fill(0, 0, length);
        }
      },
      close: () => {
        staging.fill(0);
      },
    };
  }

  // NaCl's padded form, in buffers this sealer owns: m = 32 zero bytes || plaintext, and
  // c = 16 zero bytes || mac || ciphertext. nacl.secretbox() would make its own padded
  // plaintext copy and leave it to the garbage collector; m is wiped here on every path.
  sealBytes(bytes: Uint8Array, length = bytes.length): Uint8Array {
    const nonce = randomBytes(NONCE);
    const m = new Uint8Array(ZERO_BYTES + length);
    const c = new Uint8Array(m.length);
    try {
      m.set(bytes.subarray(0, length), ZERO_BYTES);
      this.#withKey((key) => lowlevel.crypto_secretbox(c, m, m.length, nonce, key));
    } finally {
      m.fill(0);
    }
    const sealed = new Uint8Array(NONCE + c.length - BOX_ZERO_BYTES);
    sealed.set(nonce);
    sealed.set(c.subarray(BOX_ZERO_BYTES), NONCE);
    return sealed;
  }

  open(sealed: Uint8Array): SecretBuffer {
    const size = sealedSize(sealed); // ERR_AUTH when too short
    const plain = this.#withKey((key) => nacl.secretbox.open(sealed.subarray(NONCE), sealed.subarray(0, NONCE), key));
    if (plain === null) {
      throw new StrongroomError(
        'ERR_AUTH',
        'the sealed bytes failed authentication: they were altered or truncated, come from another thread or ' +
          'process, or were sealed before a purge()',
      );
    }
    if (size === 0) {
      throw new StrongroomError(
        'ERR_EMPTY',
        'the sealed bytes are authentic but hold an empty message: there is nothing to open, since a ' +
          'SecretBuffer holds at least one byte',
      );
    }
    try {
      const buffer = SecretBuffer.alloc(size, this.bufferOptions);
      buffer.write((view) => view.set(plain));
      return buffer.freeze();
    } finally {
      plain.fill(0);
    }
  }

  // The secret opened into a 'heap' SecretBuffer for the call, keyed through core-native's
  // heap path (node:crypto), then wiped by destroy(). No residue guarantee here (see the top).
  hmac(sealed: Uint8Array, algorithm: HmacAlgorithm, message: Uint8Array): Uint8Array {
    const key = this.open(sealed);
    try {
      return key.hmac(algorithm, message);
    } finally {
      key.destroy();
    }
  }

  hmacVerify(sealed: Uint8Array, algorithm: HmacAlgorithm, message: Uint8Array, tag: Uint8Array): boolean {
    const key = this.open(sealed);
    try {
      return key.hmacVerify(algorithm, message, tag);
    } finally {
      key.destroy();
    }
  }

  // right ^= H(next) ^ H(left); left = next: the key is unchanged.
  rekey(): void {
    const next = randomBytes(KEY);
    for (const half of [next, this.#left]) {
      const digest = hash(half);
      for (let i = 0; i < KEY; i++) this.#right[i]! ^= digest[i]!;
      digest.fill(0);
    }
    this.#left.fill(0);
    this.#left = next;
    this.#rekeys++;
  }

  purge(): void {
    this.#left.fill(0);
    this.#right.fill(0);
    this.#left = randomBytes(KEY);
    this.#right = randomBytes(KEY);
    this.#purges++;
  }

  setRekeyInterval(ms: number): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    this.#interval = ms;
    if (ms > 0) this.#timer = setInterval(() => this.rekey(), ms).unref();
  }

  /** The same shape as the native coffer's: the halves are in the JS heap, never locked. */
  stats(): CofferStats {
    return { backend: 'heap', locked: false, rekeyInterval: this.#interval, rekeys: this.#rekeys, purges: this.#purges };
  }
}
