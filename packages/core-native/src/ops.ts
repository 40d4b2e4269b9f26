// Native operations on regions. No secret byte passes through the JS heap: these
// take regions, run in native code, and raise a region's protection only for the
// length of the call (a 'noaccess' region stays 'noaccess' for JS throughout).
// 'heap' regions (heap.ts) get the same operations in JS, on bytes already in the heap;
// a heap region pairs only with a heap region (a mix is ERR_INVALID_ARG: the bytes would
// cross between guarded memory and the heap without anyone asking for it).
import { native } from './binding.js';
import type { StrongroomError } from './errors.js';
import * as heap from './heap.js';
import { memoryOf, type Region } from './region.js';
import { checkArgs, checkBytes, checkInteger, checkOptions, invalid } from './validate.js';

/** Fills the whole region from the system CSPRNG. */
export function randomFill(target: Region): void {
  checkArgs(arguments.length, 1, 'randomFill()');
  const t = memoryOf(target, 'target');
  if (t instanceof heap.HeapMemory) heap.randomFill(t);
  else native().randomFill(t);
}

/** Overwrites the whole region with zeros (a wipe the compiler cannot drop). */
export function zero(target: Region): void {
  checkArgs(arguments.length, 1, 'zero()');
  const t = memoryOf(target, 'target');
  if (t instanceof heap.HeapMemory) heap.zero(t);
  else native().zero(t);
}

function mixed(operation: string): StrongroomError {
  return invalid(
    `${operation} between a 'heap' region and a native region is not supported: the bytes would cross between ` +
      'guarded memory and the JS heap. Allocate both with the same backend, or copy on purpose with copyIn/copyOut',
  );
}

export interface RangeOptions {
  targetOffset?: number;
  sourceOffset?: number;
  /** Default: everything from sourceOffset to the end of the source. */
  length?: number;
}

function ranges(target: Region, source: Region, options: RangeOptions | undefined, fn: string) {
  const given = checkOptions(options, fn, ['targetOffset', 'sourceOffset', 'length']);
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
  const t = memoryOf(target, 'target');
  const s = memoryOf(source, 'source');
  const { targetOffset, sourceOffset, length } = ranges(target, source, options, xor ? 'xor()' : 'copy()');
  if (t instanceof heap.HeapMemory && s instanceof heap.HeapMemory) {
    heap.copyOrXor(t, targetOffset, s, sourceOffset, length, xor);
  } else if (!(t instanceof heap.HeapMemory) && !(s instanceof heap.HeapMemory)) {
    native().copyOrXor(t, targetOffset, s, sourceOffset, length, xor);
  } else {
    throw mixed(xor ? 'xor()' : 'copy()');
  }
}

/** Copies bytes from source into target (overlap within one region is handled). */
export function copy(target: Region, source: Region, options?: RangeOptions): void {
  checkArgs(arguments.length, 3, 'copy()');
  copyOrXor(target, source, options, false);
}

/** target[i] ^= source[i] over the range. */
export function xor(target: Region, source: Region, options?: RangeOptions): void {
  checkArgs(arguments.length, 3, 'xor()');
  copyOrXor(target, source, options, true);
}

/**
 * Constant-time equality of a region with another region or with bytes. Different
 * lengths give false (the length is not secret); equal lengths are compared in full,
 * with no branch or early exit on the content.
 */
export function equals(a: Region, b: Region | Uint8Array): boolean {
  checkArgs(arguments.length, 2, 'equals()');
  const left = memoryOf(a, 'a');
  const right = b instanceof Uint8Array ? b : memoryOf(b, 'b');
  if (left instanceof heap.HeapMemory) {
    if (right instanceof Uint8Array || right instanceof heap.HeapMemory) return heap.equal(left, right);
  } else if (!(right instanceof heap.HeapMemory)) {
    return native().equal(left, right);
  }
  throw mixed('equals()');
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
  checkArgs(arguments.length, 3, 'copyIn()');
  const t = memoryOf(target, 'target');
  const at = checkBytesRange(target, source, offset);
  if (t instanceof heap.HeapMemory) heap.copyBytes(t, source, at, true);
  else native().copyBytes(t, source, at, true);
}

/**
 * Copies bytes of a region, from `offset`, into ordinary memory: a deliberate copy
 * into the heap, for runtimes where view() is refused. Wipe `target` when done.
 */
export function copyOut(target: Uint8Array, source: Region, offset?: number): void {
  checkArgs(arguments.length, 3, 'copyOut()');
  const s = memoryOf(source, 'source');
  const at = checkBytesRange(source, target, offset);
  if (s instanceof heap.HeapMemory) heap.copyBytes(s, target, at, false);
  else native().copyBytes(s, target, at, false);
}
