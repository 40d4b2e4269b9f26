// urlencoded bodies with secret fields, parsed as express.urlencoded({ extended: false })
// would: `a=1&b=2` gives { a: '1', b: '2' }, a repeated name gives an array, '+' is a space,
// %XX a byte, and the text is UTF-8 with invalid sequences replaced. A listed parameter's
// value is decoded byte by byte from the raw body straight into a SecretBuffer (the body's
// UTF-8 repaired first, then the percent-decoded bytes, as the JS string route does). Every
// name and every other value is decoded by the same function into a string: no second
// decoder (URLSearchParams decodes a malformed %-sequence differently) can read a name as a
// listed field that this one did not take as one, and no string of the whole body is made.
import type { SecretBuffer } from '@strongroom/buffer';
import { decodeSecret, hexValue, Utf8Writer, ViewSink } from '@strongroom/buffer/text';

import { httpError } from './http-error.js';
import { destroyAll } from './secrets.js';

/** body-parser's parameterLimit: more parameters than this is 413 'parameters.too.many'. */
export const PARAMETER_LIMIT = 1000;

const AMPERSAND = 0x26;
const EQUALS = 0x3d;
const PERCENT = 0x25;
const PLUS = 0x2b;

/**
 * One name or value, raw[from..to), into out: the raw text's UTF-8 is repaired first (as
 * decoding the body to a string does), then '+' and %XX become bytes, which out repairs again
 * (as URLSearchParams and querystring do).
 */
function decodeComponent(raw: Buffer, from: number, to: number, out: Utf8Writer): void {
  const text = new Utf8Writer({ push: (byte) => out.byte(byte) });
  for (let i = from; i < to; i++) {
    const b = raw[i] as number;
    const high = b === PERCENT && i + 2 < to ? hexValue(raw[i + 1]) : -1;
    const low = high === -1 ? -1 : hexValue(raw[i + 2]);
    if (low !== -1) {
      text.end();
      out.byte((high << 4) | low);
      i += 2;
    } else if (b === PLUS) {
      text.end();
      out.byte(0x20);
    } else {
      text.byte(b);
    }
  }
  text.end();
}

/**
 * A name, or a value that is not listed, as a string (they are not secret), decoded as a
 * secret is: by decodeComponent, so that a name is a listed field by one rule only. Text
 * with no '%' or '+' is plain UTF-8, which Buffer#toString repairs by the same WHATWG rules.
 */
function textOf(raw: Buffer, from: number, to: number): string {
  let plain = true;
  for (let i = from; i < to && plain; i++) plain = raw[i] !== PERCENT && raw[i] !== PLUS;
  if (plain) return raw.toString('utf8', from, to);
  // Each byte in gives at most one U+FFFD (3 bytes) out; %XX gives at most that for 3 bytes in.
  const bytes = Buffer.allocUnsafe(3 * (to - from));
  const sink = new ViewSink(bytes);
  const writer = new Utf8Writer(sink);
  decodeComponent(raw, from, to, writer);
  writer.end();
  return bytes.toString('utf8', 0, sink.length);
}

/** The first '=' in raw[from..to), or to: the search stays inside its pair. */
function nameEnd(raw: Buffer, from: number, to: number): number {
  const at = raw.subarray(from, to).indexOf(EQUALS);
  return at === -1 ? to : from + at;
}

export interface ParsedForm {
  value: Record<string, unknown>;
  secrets: SecretBuffer[];
}

/**
 * Parses raw[start..] with the listed parameters as SecretBuffers; the value is an object
 * with a null prototype, as querystring makes. Every name and every other value is decoded
 * by the same decoder as the secrets (the URL Standard's rules), and a name is matched
 * against the list once, as the key it is stored under. The caller wipes raw. A listed
 * parameter sent twice is 400 'entity.field.invalid' (express would make it an array, not
 * a string); an empty one is left out.
 */
export function parseForm(raw: Buffer, start: number, fields: ReadonlySet<string>): ParsedForm {
  const value = Object.create(null) as Record<string, unknown>;
  if (start === raw.length) return { value, secrets: [] };
  let count = 1;
  for (let i = raw.indexOf(AMPERSAND, start); i !== -1; i = raw.indexOf(AMPERSAND, i + 1)) {
    if (++count > PARAMETER_LIMIT) throw httpError(413, 'parameters.too.many', 'too many parameters');
  }

  const found = new Set<string>();
  const secrets: SecretBuffer[] = [];
  try {
    for (let from = start; from <= raw.length; ) {
      const amp = raw.indexOf(AMPERSAND, from);
      const to = amp === -1 ? raw.length : amp;
      if (to > from) {
        const end = nameEnd(raw, from, to);
        const name = textOf(raw, from, end);
        if (fields.has(name)) {
          if (found.has(name)) throw httpError(400, 'entity.field.invalid', `the field '${name}' was sent more than once`);
          found.add(name);
          const secret = end < to ? decodeSecret((writer) => decodeComponent(raw, end + 1, to, writer)) : undefined;
          if (secret !== undefined) {
            secrets.push(secret);
            value[name] = secret;
          }
        } else {
          const text = end < to ? textOf(raw, end + 1, to) : '';
          const earlier = value[name];
          if (earlier === undefined) value[name] = text;
          else if (Array.isArray(earlier)) earlier.push(text);
          else value[name] = [earlier, text];
        }
      }
      from = to + 1;
    }
    return { value, secrets };
  } catch (error) {
    destroyAll(secrets);
    throw error;
  }
}
