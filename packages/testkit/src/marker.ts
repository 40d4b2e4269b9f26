// Markers are the recognisable stand-in secrets of residue tests: random bytes behind a fixed
// 'SRMK' prefix, so a hit in a memory scan or a core file is unmistakable and never all zero.
// maskMarker splits a marker into two random-looking halves (marker = masked XOR mask), so a
// child can receive it as text without the marker bytes ever sitting in its JS heap: it puts
// each half in its own guarded region and XORs them natively.

import { randomBytes } from 'node:crypto';

export interface MaskedMarker {
  /** Hex of marker XOR mask. */
  masked: string;
  /** Hex of the random mask; no mask byte is 0, so masked differs from the marker in every byte. */
  mask: string;
}

const PREFIX = Buffer.from('SRMK', 'latin1');
const MIN_LENGTH = 8;
const MAX_LENGTH = 4096;

/** A new marker: 'SRMK' followed by length - 4 random bytes (length 8..4096, default 32). */
export function makeMarker(length = 32): Uint8Array {
  if (!Number.isSafeInteger(length) || length < MIN_LENGTH || length > MAX_LENGTH) {
    throw new RangeError(`makeMarker: length must be an integer in ${MIN_LENGTH}..${MAX_LENGTH}, got ${length}`);
  }
  const marker = new Uint8Array(length);
  marker.set(PREFIX, 0);
  marker.set(randomBytes(length - PREFIX.length), PREFIX.length);
  return marker;
}

/** Splits marker into a random mask and marker XOR mask, both as hex. */
export function maskMarker(marker: Uint8Array): MaskedMarker {
  if (!(marker instanceof Uint8Array) || marker.length === 0) {
    throw new TypeError('maskMarker: marker must be a non-empty Uint8Array');
  }
  const mask = randomBytes(marker.length);
  for (let i = 0; i < mask.length; i += 1) {
    while (mask[i] === 0) mask[i] = randomBytes(1)[0] ?? 0;
  }
  const masked = Buffer.alloc(marker.length);
  for (let i = 0; i < marker.length; i += 1) masked[i] = (marker[i] ?? 0) ^ (mask[i] ?? 0);
  return { masked: masked.toString('hex'), mask: mask.toString('hex') };
}

export interface TextMarker {
  /** The marker's hex: printable, for places that hold text (an environment variable). */
  text: string;
  /** The text's bytes (ASCII): what a scan looks for. */
  bytes: Uint8Array;
}

/** A printable form of marker: its hex, and the bytes of that hex to scan for. */
export function textMarker(marker: Uint8Array): TextMarker {
  if (!(marker instanceof Uint8Array) || marker.length === 0) {
    throw new TypeError('textMarker: marker must be a non-empty Uint8Array');
  }
  const text = Buffer.from(marker).toString('hex');
  return { text, bytes: new Uint8Array(Buffer.from(text, 'latin1')) };
}

const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

/**
 * Child code that declares `const name`, an ordinary heap Buffer holding marker, built in place
 * from its masked halves: the marker's bytes appear nowhere else in the child, not even in its
 * source text. It is the planted secret of a positive control, or the heap source a test hands
 * to the code under test.
 */
export function heapMarkerCode(name: string, marker: Uint8Array): string {
  if (!IDENTIFIER.test(name)) throw new TypeError(`heapMarkerCode: ${JSON.stringify(name)} is not an identifier`);
  const { masked, mask } = maskMarker(marker);
  return `
const ${name} = Buffer.from('${masked}', 'hex');
{ const m = Buffer.from('${mask}', 'hex'); for (let i = 0; i < m.length; i++) ${name}[i] ^= m[i]; }`;
}
