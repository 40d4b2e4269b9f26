// The 'heap' backend: a region's bytes in an ordinary ArrayBuffer, for where the native
// addon cannot load (the enclave's portable fallback). Nothing here touches the addon.
// It keeps Region's contract, not its guarantees: no guard pages, no canary, no mlock,
// no MADV_DONTDUMP, and the bytes are readable like any heap memory. Protection is
// emulated: 'noaccess' and free() detach every view by moving the bytes to a new
// ArrayBuffer (structuredClone with a transfer list moves the backing store without a
// copy), so a stale view has length 0 as over native memory; 'readonly' is a label only,
// JS cannot make a Uint8Array read-only. The operations below mirror the native ones in
// ops.cc and work whatever the emulated protection, as native operations raise it.
import { createHmac, randomFillSync } from 'node:crypto';

import { StrongroomError } from './errors.js';
import type { HmacAlgorithm, Protection } from './types.js';

function freedError(what: string): StrongroomError {
  return new StrongroomError('ERR_FREED', `${what} was freed; allocate a new region`);
}

/** The storage of one 'heap' region. Region holds it in a private field; only core-native's modules reach it. */
function movedError(): StrongroomError {
  return new StrongroomError(
    'ERR_VIEW_ESCAPED',
    "a view of this 'heap' region left its scope: transfer(), a byte stream's enqueue() or a BYOB read moved its " +
      'bytes into an ArrayBuffer strongroom cannot reach, so they could be neither kept nor wiped; the region now ' +
      'holds zeros. Copy bytes out of a view instead of moving it',
  );
}

export class HeapMemory {
  #buffer: ArrayBuffer;
  readonly #size: number;
  #protection: Protection = 'readwrite';
  #freed = false;

  /** `size` zero bytes ('readwrite'); ERR_NO_MEMORY when the JS heap cannot hold them. */
  constructor(size: number) {
    this.#size = size;
    try {
      this.#buffer = new ArrayBuffer(size);
    } catch (cause) {
      throw new StrongroomError(
        'ERR_NO_MEMORY',
        `the JS heap could not hold a ${size}-byte 'heap' region; free regions you no longer need or ask for less`,
        { cause },
      );
    }
  }

  /** The emulated protection, or 'freed'. */
  get state(): Protection | 'freed' {
    return this.#freed ? 'freed' : this.#protection;
  }

  protect(protection: Protection): void {
    if (this.#freed) throw freedError('region');
    const moved = this.#replaceIfMoved();
    if (protection === 'noaccess') this.#detachViews();
    this.#protection = protection;
    if (moved) throw movedError();
  }

  /** A Uint8Array over the bytes themselves (not a copy), as native regionView. */
  view(): Uint8Array {
    if (this.#freed) throw freedError('region');
    if (this.#protection === 'noaccess') {
      throw new StrongroomError(
        'ERR_NOACCESS',
        "the region is 'noaccess'; call protect('readonly') or protect('readwrite') first",
      );
    }
    return new Uint8Array(this.#buffer);
  }

  /** Zero-fills, then detaches every view; the zeroed store goes to the garbage collector. Idempotent. */
  free(): void {
    if (this.#freed) return;
    this.#replaceIfMoved();
    new Uint8Array(this.#buffer).fill(0);
    this.#detachViews();
    this.#buffer = new ArrayBuffer(0);
    this.#freed = true;
  }

  /**
   * The bytes for one operation of this package, whatever the emulated protection (never
   * handed to users). ERR_FREED, naming the argument, after free().
   */
  bytes(what: string): Uint8Array {
    if (this.#freed) throw freedError(what);
    if (this.#replaceIfMoved()) throw movedError();
    return new Uint8Array(this.#buffer);
  }

  // A view's ArrayBuffer detached by someone else (never empty otherwise: a region holds at
  // least one byte) took the bytes with it: the region starts again from zeros.
  #replaceIfMoved(): boolean {
    if (this.#buffer.byteLength === this.#size) return false;
    this.#buffer = new ArrayBuffer(this.#size);
    return true;
  }

  #detachViews(): void {
    // Moves the backing store to a new ArrayBuffer and detaches the old one, with every
    // Uint8Array over it. (Node 20 has no ArrayBuffer.prototype.transfer.)
    this.#buffer = structuredClone(this.#buffer, { transfer: [this.#buffer] });
  }
}

// The operations of ops.ts on heap regions; the callers have checked types and ranges.

export function randomFill(target: HeapMemory): void {
  randomFillSync(target.bytes('target'));
}

export function zero(target: HeapMemory): void {
  target.bytes('target').fill(0);
}

/** As native copyOrXor: a copy handles overlap (memmove); XOR runs forwards, byte by byte. */
export function copyOrXor(
  target: HeapMemory,
  targetOffset: number,
  source: HeapMemory,
  sourceOffset: number,
  length: number,
  xor: boolean,
): void {
  const from = source.bytes('source').subarray(sourceOffset, sourceOffset + length);
  const to = target.bytes('target').subarray(targetOffset, targetOffset + length);
  if (!xor) {
    to.set(from); // TypedArray.prototype.set copies as if through a buffer when both share one
    return;
  }
  for (let i = 0; i < length; i++) to[i] = (to[i] as number) ^ (from[i] as number);
}

/**
 * Constant-time equality: different lengths are false (a length is not secret); equal
 * lengths are compared in full, OR-accumulating the XOR of every byte, with no branch or
 * early exit on the content.
 */
export function equal(a: HeapMemory, b: HeapMemory | Uint8Array): boolean {
  const left = a.bytes('a');
  const right = b instanceof HeapMemory ? b.bytes('b') : b;
  if (left.length !== right.length) return false;
  let difference = 0;
  for (let i = 0; i < left.length; i++) difference |= (left[i] as number) ^ (right[i] as number);
  return difference === 0;
}

/** As native copyBytes: between a heap region (from `offset`) and ordinary bytes. */
export function copyBytes(region: HeapMemory, bytes: Uint8Array, offset: number, toRegion: boolean): void {
  const inRegion = region.bytes(toRegion ? 'target' : 'source');
  if (toRegion) inRegion.set(bytes, offset);
  else bytes.set(inRegion.subarray(offset, offset + bytes.length));
}

/** The full HMAC tag of message under the region's bytes (node:crypto; OpenSSL copies the key for the call). */
export function hmac(algorithm: HmacAlgorithm, key: HeapMemory, message: Uint8Array): Uint8Array {
  const digest = createHmac(algorithm, key.bytes('key')).update(message).digest();
  return new Uint8Array(digest.buffer, digest.byteOffset, digest.byteLength);
}
