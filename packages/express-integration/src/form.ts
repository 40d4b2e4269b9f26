// urlencoded bodies with secret fields, parsed as express.urlencoded({ extended: false })
// would: `a=1&b=2` gives { a: '1', b: '2' }, a repeated name gives an array, '+' is a space,
// %XX a byte, and the text is UTF-8 with invalid sequences replaced. A listed parameter's
// value is decoded byte by byte from the raw body straight into a SecretBuffer (the body's
// UTF-8 repaired first, then the percent-decoded bytes, as the JS string route does), and
// overwritten in the raw bytes by '&' (empty pairs, which every parser skips). The rest is
// read by URLSearchParams.
import type { SecretBuffer } from '@strongroom/buffer';
import { decodeSecret, hexValue, Utf8Writer, type ByteSink } from '@strongroom/buffer/text';

import { httpError } from './http-error.js';
import { destroyAll } from './secrets.js';

/** body-parser's parameterLimit: more parameters than this is 413 'parameters.too.many'. */
export const PARAMETER_LIMIT = 1000;

const AMPERSAND = 0x26;
const EQUALS = 0x3d;

/**
 * One name or value, raw[from..to), into out: the raw text's UTF-8 is repaired first (as
 * decoding the body to a string does), then '+' and %XX become bytes, which out repairs again
 * (as URLSearchParams and querystring do).
 */
function decodeComponent(raw: Buffer, from: number, to: number, out: Utf8Writer): void {
  const text = new Utf8Writer({ push: (byte) => out.byte(byte) });
  for (let i = from; i < to; i++) {
    const b = raw[i] as number;
    const high = b === 0x25 && i + 2 < to ? hexValue(raw[i + 1]) : -1;
    const low = high === -1 ? -1 : hexValue(raw[i + 2]);
    if (low !== -1) {
      text.end();
      out.byte((high << 4) | low);
      i += 2;
    } else if (b === 0x2b) { // '+'
      text.end();
      out.byte(0x20);
    } else {
      text.byte(b);
    }
  }
  text.end();
}

/** A parameter's name as a string (names are not secret). */
function nameOf(raw: Buffer, from: number, to: number): string {
  const bytes: number[] = [];
  const sink: ByteSink = { push: (byte) => bytes.push(byte) };
  const writer = new Utf8Writer(sink);
  decodeComponent(raw, from, to, writer);
  writer.end();
  return Buffer.from(bytes).toString('utf8');
}

export interface ParsedForm {
  value: Record<string, unknown>;
  secrets: SecretBuffer[];
}

/**
 * Parses raw[start..] with the listed parameters as SecretBuffers; the value is an object
 * with a null prototype, as querystring makes. Overwrites the secret values in raw; the
 * caller wipes raw. A listed parameter sent twice is 400 'entity.field.invalid' (express
 * would make it an array, not a string); an empty one is left out.
 */
export function parseForm(raw: Buffer, start: number, fields: ReadonlySet<string>): ParsedForm {
  const value = Object.create(null) as Record<string, unknown>;
  if (start === raw.length) return { value, secrets: [] };
  let count = 1;
  for (let i = raw.indexOf(AMPERSAND, start); i !== -1; i = raw.indexOf(AMPERSAND, i + 1)) {
    if (++count > PARAMETER_LIMIT) throw httpError(413, 'parameters.too.many', 'too many parameters');
  }

  const found = new Map<string, SecretBuffer | undefined>();
  try {
    for (let from = start; from <= raw.length; ) {
      const amp = raw.indexOf(AMPERSAND, from);
      const to = amp === -1 ? raw.length : amp;
      if (to > from) {
        const eq = raw.indexOf(EQUALS, from);
        const nameEnd = eq === -1 || eq > to ? to : eq;
        const name = nameOf(raw, from, nameEnd);
        if (fields.has(name)) {
          if (found.has(name)) throw httpError(400, 'entity.field.invalid', `the field '${name}' was sent more than once`);
          const secret = nameEnd < to ? decodeSecret((writer) => decodeComponent(raw, nameEnd + 1, to, writer)) : undefined;
          found.set(name, secret);
          raw.fill(AMPERSAND, nameEnd + 1, to); // the value only: `name=` keeps its place
        }
      }
      from = to + 1;
    }
    // The leading '&' keeps URLSearchParams from dropping a '?' the body starts with.
    for (const [name, text] of new URLSearchParams(`&${raw.toString('utf8', start)}`)) {
      const earlier = value[name];
      if (earlier === undefined) value[name] = text;
      else if (Array.isArray(earlier)) earlier.push(text);
      else value[name] = [earlier, text];
    }
    const secrets: SecretBuffer[] = [];
    for (const [name, secret] of found) {
      if (secret === undefined) {
        delete value[name];
      } else {
        value[name] = secret;
        secrets.push(secret);
      }
    }
    return { value, secrets };
  } catch (error) {
    destroyAll([...found.values()].filter((secret): secret is SecretBuffer => secret !== undefined));
    throw error;
  }
}
