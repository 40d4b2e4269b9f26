// Residue scanning: find every copy of a marker in a process's memory through /proc/PID/mem.
// Each mapping is read in chunks that overlap by marker.length - 1 bytes, so a copy that
// straddles a chunk border is still found. Mappings with nothing resident or swapped out are
// skipped by default (Node reserves GiBs it never touches), but PROT_NONE mappings are NOT
// skipped: /proc/PID/mem reads them, and a sealed secret region is PROT_NONE at rest.

import fs from 'node:fs';
import { errnoCode, procId, readProcText, type ProcTarget } from './proc.js';

export interface Mapping {
  start: bigint;
  end: bigint;
  /** Four characters as in /proc/PID/maps, e.g. 'rw-p' or '---p'. */
  perms: string;
  offset: bigint;
  /** File path, '[heap]', '[stack]', ... or '' for an anonymous mapping. */
  path: string;
}

export interface MemoryMatch {
  mapping: Mapping;
  address: bigint;
}

export interface ScanResult {
  matches: MemoryMatch[];
  /** Mappings read from start to end. */
  scannedMappings: number;
  scannedBytes: number;
  /** Mappings whose read failed part-way or at once ([vvar], [vsyscall], memfd_secret, ...). */
  unreadable: Mapping[];
}

export interface ScanOptions {
  /** Also read mappings that have no resident and no swapped page (slow on Node: GiBs of reservations). */
  includeUnresident?: boolean;
  /** Bytes per read; default 1 MiB. Small values exist for tests of the chunk-border logic. */
  chunkSize?: number;
}

/** Reads up to buffer.length bytes at position into buffer; returns the count, 0 at the end. */
export type ChunkReader = (buffer: Uint8Array, position: bigint) => number | Promise<number>;

export interface SearchChunksOptions {
  /** Position of the first byte to read; default 0. */
  start?: bigint;
  /** Position after the last byte to read; default: until read returns 0. */
  end?: bigint;
  chunkSize?: number;
  /** Called with the position of every occurrence, in order; return true to stop searching. */
  onMatch: (position: bigint) => boolean | void;
}

export const MAX_MARKER_LENGTH = 4096;
const DEFAULT_CHUNK_SIZE = 1 << 20;

export function validateMarker(marker: Uint8Array, caller: string): void {
  if (!(marker instanceof Uint8Array)) throw new TypeError(`${caller}: marker must be a Uint8Array`);
  if (marker.length < 1 || marker.length > MAX_MARKER_LENGTH) {
    throw new RangeError(`${caller}: marker length must be 1..${MAX_MARKER_LENGTH}, got ${marker.length}`);
  }
}

function validateChunkSize(chunkSize: number, caller: string): void {
  if (!Number.isSafeInteger(chunkSize) || chunkSize < 1) {
    throw new RangeError(`${caller}: chunkSize must be a positive integer, got ${chunkSize}`);
  }
}

/**
 * Streams a source through a window of chunkSize + marker.length - 1 bytes and reports every
 * occurrence of marker, including occurrences that overlap each other or a chunk border.
 * Returns the number of bytes read. Errors thrown by read propagate.
 */
export async function searchChunks(read: ChunkReader, marker: Uint8Array, options: SearchChunksOptions): Promise<bigint> {
  validateMarker(marker, 'searchChunks');
  const chunkSize = options.chunkSize ?? DEFAULT_CHUNK_SIZE;
  validateChunkSize(chunkSize, 'searchChunks');
  const needle = Buffer.from(marker.buffer, marker.byteOffset, marker.byteLength);
  const overlap = marker.length - 1;
  const window = Buffer.allocUnsafeSlow(chunkSize + overlap);
  const end = options.end;
  let position = options.start ?? 0n;
  let carried = 0; // bytes at the start of window that came from the previous chunk
  let total = 0n;
  while (end === undefined || position < end) {
    const want = end === undefined || end - position >= BigInt(chunkSize) ? chunkSize : Number(end - position);
    const count = await read(window.subarray(carried, carried + want), position);
    if (!Number.isSafeInteger(count) || count < 0 || count > want) {
      throw new RangeError(`searchChunks: read returned ${count} for a request of ${want} bytes`);
    }
    if (count === 0) break;
    const filled = carried + count;
    const base = position - BigInt(carried);
    const view = window.subarray(0, filled);
    total += BigInt(count);
    // A match starting in the carried bytes ends in the new ones: the carry is shorter than the
    // marker, so no match is reported twice.
    for (let index = view.indexOf(needle); index !== -1; index = view.indexOf(needle, index + 1)) {
      if (options.onMatch(base + BigInt(index)) === true) return total;
    }
    position += BigInt(count);
    carried = Math.min(overlap, filled);
    window.copyWithin(0, filled - carried, filled);
  }
  return total;
}

const MAPS_LINE = /^([0-9a-f]+)-([0-9a-f]+)\s+(\S{4})\s+([0-9a-f]+)\s+\S+\s+\d+\s*(.*)$/;

/** The mappings of a process as listed in /proc/PID/maps. */
export function readMappings(pid: ProcTarget): Mapping[] {
  const file = `/proc/${procId(pid, 'readMappings')}/maps`;
  const mappings: Mapping[] = [];
  for (const line of readProcText(file, 'readMappings').split('\n')) {
    if (line === '') continue;
    const fields = MAPS_LINE.exec(line);
    if (fields === null) throw new Error(`readMappings: unexpected line in ${file}: ${line}`);
    const [, start = '', end = '', perms = '', offset = '', path = ''] = fields;
    mappings.push({ start: BigInt(`0x${start}`), end: BigInt(`0x${end}`), perms, offset: BigInt(`0x${offset}`), path });
  }
  return mappings;
}

const SMAPS_HEADER = /^([0-9a-f]+)-[0-9a-f]+ /;
const SMAPS_SIZE = /^(Rss|Swap):\s+(\d+) kB/;

/** Start address -> whether the mapping has any resident or swapped page; undefined if smaps is unreadable. */
function readResidency(pid: number): Map<bigint, boolean> | undefined {
  let text: string;
  try {
    text = fs.readFileSync(`/proc/${pid}/smaps`, 'utf8');
  } catch {
    return undefined;
  }
  const residency = new Map<bigint, boolean>();
  let current: bigint | undefined;
  for (const line of text.split('\n')) {
    const header = SMAPS_HEADER.exec(line);
    if (header !== null) {
      current = BigInt(`0x${header[1] ?? ''}`);
      residency.set(current, false);
      continue;
    }
    const size = SMAPS_SIZE.exec(line);
    if (size !== null && current !== undefined && Number(size[2]) > 0) residency.set(current, true);
  }
  return residency;
}

function openMemory(pid: number): number {
  const file = `/proc/${pid}/mem`;
  try {
    return fs.openSync(file, 'r');
  } catch (error) {
    const code = errnoCode(error);
    if (code === 'EACCES' || code === 'EPERM') {
      throw new Error(
        `scanMemory: cannot open ${file} (${code}): reading another process's memory needs ptrace ` +
          'permission. Run as root, or as the same user with ptrace allowed (kernel.yama.ptrace_scope ' +
          '0, or 1 when the target is a descendant) and the target still dumpable (no PR_SET_DUMPABLE 0).',
        { cause: error },
      );
    }
    if (code === 'ENOENT' || code === 'ESRCH') {
      throw new Error(`scanMemory: no process with pid ${pid} (${file} does not exist)`, { cause: error });
    }
    throw new Error(`scanMemory: cannot open ${file}: ${(error as Error).message}`, { cause: error });
  }
}

/**
 * Finds every occurrence of marker in the memory of process pid. Mappings that cannot be read
 * are listed in `unreadable`; only a failure to open /proc/PID/mem (or to list the maps) throws.
 */
export async function scanMemory(pid: number, marker: Uint8Array, options: ScanOptions = {}): Promise<ScanResult> {
  procId(pid, 'scanMemory');
  validateMarker(marker, 'scanMemory');
  if (options.chunkSize !== undefined) validateChunkSize(options.chunkSize, 'scanMemory');
  const fd = openMemory(pid);
  const result: ScanResult = { matches: [], scannedMappings: 0, scannedBytes: 0, unreadable: [] };
  try {
    const mappings = readMappings(pid);
    const residency = options.includeUnresident === true ? undefined : readResidency(pid);
    for (const mapping of mappings) {
      // A mapping missing from smaps (it appeared in between) is scanned rather than trusted away.
      if (residency?.get(mapping.start) === false) continue;
      let bytes = 0;
      const read: ChunkReader = (buffer, position) => {
        const count = fs.readSync(fd, buffer, 0, buffer.length, position);
        bytes += count;
        return count;
      };
      let complete = false;
      try {
        const total = await searchChunks(read, marker, {
          start: mapping.start,
          end: mapping.end,
          ...(options.chunkSize === undefined ? {} : { chunkSize: options.chunkSize }),
          onMatch: (address) => {
            result.matches.push({ mapping, address });
          },
        });
        complete = total === mapping.end - mapping.start;
      } catch {
        // EIO ([vvar], memfd_secret, a file mapping past EOF) or an address above 2^63 ([vsyscall]).
      }
      result.scannedBytes += bytes;
      if (complete) result.scannedMappings += 1;
      else result.unreadable.push(mapping);
    }
  } finally {
    fs.closeSync(fd);
  }
  return result;
}
