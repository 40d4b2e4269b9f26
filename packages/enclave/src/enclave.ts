// Enclave: one secret sealed (XSalsa20-Poly1305) under the process's coffer key.
// The ciphertext lives in ordinary memory: it is useless without the key, so holding
// many enclaves costs no locked memory. Only open() puts plaintext anywhere, into a
// new frozen SecretBuffer in guarded memory.
//
//   Enclave.seal(buf)      seals a SecretBuffer and destroys it
//   Enclave.from(bytes)    seals ordinary bytes and wipes them
//   Enclave.random(size)   a fresh random secret, sealed
//   enclave.open()         -> frozen SecretBuffer; ERR_AUTH if tampered or purged
//   enclave.use(fn)        fn(SecretBuffer) with the secret opened for that call only
//   enclave.hmac(alg, msg) -> tag, the key opened only inside the call (hmacVerify too)
//   enclave.toBytes()      nonce(24) || mac(16) || ciphertext, for another thread
//   Enclave.fromBytes(b)   the other way; open() authenticates
import { inspect } from 'node:util';

import { SecretBuffer } from '@strongroom/buffer';
import { SEAL_OVERHEAD, sealedSize, StrongroomError, type HmacAlgorithm } from '@strongroom/core-native';
import {
  checkArgs,
  checkFunction,
  checkBytes,
  checkMessage,
  checkOneOf,
  checkSecretBytes,
  HMAC_ALGORITHMS,
  invalid,
} from '@strongroom/core-native/validate';

import { sealer } from './backend.js';
import type { EnclaveBackend } from './sealer.js';

const TOKEN = Symbol('strongroom.enclave');

const uncloneable = {
  get(): never {
    throw new StrongroomError(
      'ERR_INVALID_ARG',
      'an Enclave cannot be cloned or posted as it is; post enclave.toBytes() and rebuild it with Enclave.fromBytes()',
    );
  },
  enumerable: true,
};

export class Enclave {
  readonly #sealed: Uint8Array;

  /** @internal Use Enclave.seal/from/random/fromBytes. */
  constructor(token: symbol, sealed: Uint8Array) {
    if (token !== TOKEN) throw invalid('Enclave cannot be constructed directly; use Enclave.seal(buffer) or Enclave.from(bytes)');
    this.#sealed = sealed;
    // structuredClone and postMessage would give an empty object (private fields are not
    // cloned): they read own enumerable properties, and this one throws with what to do.
    Object.defineProperty(this, 'uncloneable', uncloneable);
  }

  /** Seals the buffer's bytes and destroys the buffer. ERR_BUSY while one of its scopes is open. */
  static seal(buffer: SecretBuffer): Enclave {
    checkArgs(arguments.length, 1, 'Enclave.seal()');
    if (!(buffer instanceof SecretBuffer)) throw invalid('Enclave.seal() takes a SecretBuffer; for bytes use Enclave.from()');
    const sealed = sealer().sealBuffer(buffer);
    buffer.destroy();
    return new Enclave(TOKEN, sealed);
  }

  /** Seals ordinary bytes, then overwrites them with zeros (left as they were if sealing fails). */
  static from(bytes: Uint8Array): Enclave {
    checkArgs(arguments.length, 1, 'Enclave.from()');
    checkSecretBytes(bytes, 'the bytes of Enclave.from()');
    const sealed = sealer().sealBytes(bytes);
    bytes.fill(0);
    return new Enclave(TOKEN, sealed);
  }

  /** `size` random bytes, generated in guarded memory and sealed. */
  static random(size: number): Enclave {
    checkArgs(arguments.length, 1, 'Enclave.random()');
    return Enclave.seal(SecretBuffer.random(size, sealer().bufferOptions));
  }

  /**
   * An enclave from toBytes() of an enclave of this process (another thread's, too).
   * Only the shape is checked here: ERR_AUTH if too short to be sealed bytes, ERR_EMPTY for
   * exactly the overhead (an enclave never holds an empty secret); open() authenticates.
   * The bytes are copied.
   */
  static fromBytes(bytes: Uint8Array): Enclave {
    checkArgs(arguments.length, 1, 'Enclave.fromBytes()');
    if (sealedSize(bytes) === 0) {
      throw new StrongroomError(
        'ERR_EMPTY',
        `these ${SEAL_OVERHEAD} bytes are only a nonce and a MAC, with no message: an Enclave never holds an empty secret, so they are not from toBytes()`,
      );
    }
    return new Enclave(TOKEN, new Uint8Array(bytes)); // a copy (Buffer#slice would share memory)
  }

  /** 'native' (the addon's coffer) or 'js' (the portable fallback) for this thread. */
  static get backend(): EnclaveBackend {
    return sealer().backend;
  }

  /** The plaintext size in bytes. */
  get size(): number {
    return this.#sealed.length - SEAL_OVERHEAD;
  }

  /**
   * The plaintext in a new frozen SecretBuffer (destroy it when done). ERR_AUTH when
   * the sealed bytes were altered, or sealed before a purge(); nothing is left allocated.
   */
  open(): SecretBuffer {
    checkArgs(arguments.length, 0, 'open()');
    return sealer().open(this.#sealed);
  }

  /**
   * fn(secret) with the plaintext opened into a frozen SecretBuffer for this one call: the
   * buffer is destroyed when fn returns or throws, or when the promise it returns settles.
   * Returns what fn returns. ERR_AUTH as open().
   */
  use<T>(fn: (secret: SecretBuffer) => T): T {
    checkArgs(arguments.length, 1, 'use()');
    checkFunction(fn, 'the function given to use()');
    const buffer = this.open();
    let result: T;
    try {
      result = fn(buffer);
    } catch (error) {
      buffer.destroy();
      throw error;
    }
    if (result instanceof Promise) return result.finally(() => buffer.destroy()) as T;
    buffer.destroy();
    return result;
  }

  /**
   * The HMAC tag (32 bytes for 'sha256', 64 for 'sha512') of a message (bytes, or a string
   * as UTF-8) keyed by the sealed secret. The secret is opened inside the call and wiped
   * before it returns: on the native backend into a temporary guarded region, in one native
   * call (README). ERR_AUTH when the sealed bytes were altered or sealed before a purge().
   */
  hmac(algorithm: HmacAlgorithm, message: Uint8Array | string): Uint8Array {
    checkArgs(arguments.length, 2, 'hmac()');
    const a = checkOneOf(algorithm, 'algorithm', HMAC_ALGORITHMS);
    return sealer().hmac(this.#sealed, a, checkMessage(message, 'message'));
  }

  /**
   * Whether `tag` is the HMAC of the message under the sealed secret, compared in constant
   * time. A truncated tag (16 bytes up to the full length) is checked against the start of
   * the computed tag; a tag of any other length is false, never an error. ERR_AUTH as hmac().
   */
  hmacVerify(algorithm: HmacAlgorithm, message: Uint8Array | string, tag: Uint8Array): boolean {
    checkArgs(arguments.length, 3, 'hmacVerify()');
    const a = checkOneOf(algorithm, 'algorithm', HMAC_ALGORITHMS);
    return sealer().hmacVerify(this.#sealed, a, checkMessage(message, 'message'), checkBytes(tag, 'tag'));
  }

  /** A copy of the sealed bytes: nonce(24) || mac(16) || ciphertext. */
  toBytes(): Uint8Array {
    checkArgs(arguments.length, 0, 'toBytes()');
    return new Uint8Array(this.#sealed); // a copy, also when #sealed is a Buffer
  }

  toString(): string {
    return `Enclave(${this.size} bytes, sealed)`;
  }

  /** The same kind of value as Region's and SecretBuffer's toJSON: the type and size. */
  toJSON(): { type: 'Enclave'; size: number } {
    return { type: 'Enclave', size: this.size };
  }

  [inspect.custom](): string {
    return this.toString();
  }
}
