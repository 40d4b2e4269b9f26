// Native operations on regions. No secret byte passes through the JS heap: these
// take regions, run in native code, and raise a region's protection only for the
// length of the call (a 'noaccess' region stays 'noaccess' for JS throughout).
import { native } from './binding.js';
import { nativeOf, type Region } from './region.js';
import { checkBytes, checkInteger, checkOptions, invalid } from './validate.js';

/** Fills the whole region from the system CSPRNG. */
export function randomFill(target: Region): void {
  native().randomFill(nativeOf(target, 'target'));
}

/** Overwrites the whole region with zeros (a wipe the compiler cannot drop). */
export function zero(target: Region): void {
  native().zero(nativeOf(target, 'target'));
}

export interface RangeOptions {
  targetOffset?: number;
  sourceOffset?: number;
  /** Default: everything from sourceOffset to the end of the source. */
  length?: number;
}

function ranges(target: Region, source: Region, options: RangeOptions | undefined) {
  const given = checkOptions(options, 'range options', ['targetOffset', 'sourceOffset', 'length']);
  const targetOffset = given.targetOffset === undefined ? 0 : checkInteger(given.targetOffset, 'targetOffset', 0, target.size);
  const sourceOffset = given.sourceOffset === undefined ? 0 : checkInteger(given.sourceOffset, 'sourceOffset', 0, source.size);
  const length =
    given.length === undefined ? source.size - sourceOffset : checkInteger(given.length, 'length', 0, source.size - sourceOffset);
  if (length > target.size - targetOffset) {
    throw invalid(
      `${length} bytes do not fit in the target (size ${target.size}) at offset ${targetOffset}; pass a smaller length`,
    );
  }
  return { targetOffset, sourceOffset, length };
}

function copyOrXor(target: Region, source: Region, options: RangeOptions | undefined, xor: boolean): void {
  const t = nativeOf(target, 'target');
  const s = nativeOf(source, 'source');
  const { targetOffset, sourceOffset, length } = ranges(target, source, options);
  native().copyOrXor(t, targetOffset, s, sourceOffset, length, xor);
}

/** Copies bytes from source into target (overlap within one region is handled). */
export function copy(target: Region, source: Region, options?: RangeOptions): void {
  copyOrXor(target, source, options, false);
}

/** target[i] ^= source[i] over the range. */
export function xor(target: Region, source: Region, options?: RangeOptions): void {
  copyOrXor(target, source, options, true);
}

/**
 * Constant-time equality of a region with another region or with bytes. Different
 * lengths give false (the length is not secret); equal lengths are compared in full,
 * with no branch or early exit on the content.
 */
export function equals(a: Region, b: Region | Uint8Array): boolean {
  const left = nativeOf(a, 'a');
  if (b instanceof Uint8Array) return native().equal(left, b);
  return native().equal(left, nativeOf(b, 'b'));
}


function checkBytesRange(region: Region, bytes: Uint8Array, offset: number | undefined): number {
  checkBytes(bytes, 'bytes');
  const at = offset === undefined ? 0 : checkInteger(offset, 'offset', 0, region.size);
  if (bytes.length > region.size - at) {
    throw invalid(`${bytes.length} bytes do not fit in the region (size ${region.size}) at offset ${at}`);
  }
  return at;
}

/**
 * Copies ordinary bytes into a region at `offset`. For runtimes where view() is
 * refused; the caller still owns (and should wipe) the source bytes.
 */
export function copyIn(target: Region, source: Uint8Array, offset?: number): void {
  const handle = nativeOf(target, 'target');
  native().copyBytes(handle, source, checkBytesRange(target, source, offset), true);
}

/**
 * Copies bytes of a region, from `offset`, into ordinary memory: a deliberate copy
 * into the heap, for runtimes where view() is refused. Wipe `target` when done.
 */
export function copyOut(target: Uint8Array, source: Region, offset?: number): void {
  const handle = nativeOf(source, 'source');
  native().copyBytes(handle, target, checkBytesRange(source, target, offset), false);
}
