// JSON text read byte by byte, so that a string value can become a SecretBuffer without
// ever being a JS string: the tokens of RFC 8259 (validated as JSON.parse would), a string
// token's characters decoded through a Utf8Writer, and decodeSecret(), which runs such a
// decoder twice (to count, then into a write scope). @strongroom/express builds its JSON
// body parser on these; jsonStringField() reads one field of a JSON object (a secret stored
// as {"username": ..., "password": ...}) for @strongroom/kms-loaders.
import { invalid } from '@strongroom/core-native/validate';

import { SecretBuffer } from './secret-buffer.js';
import { CountingSink, hexValue, Utf8Writer, ViewSink } from './utf8.js';

/** Bad JSON at byte `position` of the text (the end of the text when position === its length). Holds no byte of it. */
export class JsonSyntaxError extends Error {
  readonly position: number;
  constructor(position: number, why = 'not valid JSON') {
    super(`${why} at byte ${position}`);
    this.name = 'JsonSyntaxError';
    this.position = position;
  }
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;

/** The position of the first byte at or after pos that is not JSON whitespace. */
export function skipSpace(raw: Uint8Array, pos: number): number {
  while (pos < raw.length) {
    const b = raw[pos] as number;
    if (b !== 0x20 && b !== 0x09 && b !== 0x0a && b !== 0x0d) break;
    pos++;
  }
  return pos;
}

/** The position after the string token that starts at pos (a '"'); throws JsonSyntaxError on a bad token. */
export function scanString(raw: Uint8Array, pos: number): number {
  let i = pos + 1;
  for (;;) {
    const b = raw[i];
    if (b === undefined) throw new JsonSyntaxError(i);
    if (b === QUOTE) return i + 1;
    if (b < 0x20) throw new JsonSyntaxError(i);
    if (b !== BACKSLASH) {
      i++;
      continue;
    }
    const e = raw[i + 1];
    if (e === undefined) throw new JsonSyntaxError(i + 1);
    if (e === 0x75 /* u */) {
      for (let k = 2; k < 6; k++) if (hexValue(raw[i + k]) === -1) throw new JsonSyntaxError(i + k);
      i += 6;
    } else if (e === QUOTE || e === BACKSLASH || e === 0x2f || e === 0x62 || e === 0x66 || e === 0x6e || e === 0x72 || e === 0x74) {
      i += 2;
    } else {
      throw new JsonSyntaxError(i + 1);
    }
  }
}

/** The characters of a string token (between its quotes, already validated by scanString) into writer. */
export function decodeString(raw: Uint8Array, from: number, to: number, writer: Utf8Writer): void {
  for (let i = from; i < to; i++) {
    const b = raw[i] as number;
    if (b !== BACKSLASH) {
      writer.byte(b);
      continue;
    }
    const e = raw[++i] as number;
    switch (e) {
      case 0x62: writer.unit(0x08); break; // \b
      case 0x66: writer.unit(0x0c); break; // \f
      case 0x6e: writer.unit(0x0a); break; // \n
      case 0x72: writer.unit(0x0d); break; // \r
      case 0x74: writer.unit(0x09); break; // \t
      case 0x75: // \uXXXX
        writer.unit(
          (hexValue(raw[i + 1]) << 12) | (hexValue(raw[i + 2]) << 8) | (hexValue(raw[i + 3]) << 4) | hexValue(raw[i + 4]),
        );
        i += 4;
        break;
      default: writer.unit(e); // \" \\ \/
    }
  }
}

function scanLiteral(raw: Uint8Array, pos: number, literal: string): number {
  for (let k = 0; k < literal.length; k++) {
    if (raw[pos + k] !== literal.charCodeAt(k)) throw new JsonSyntaxError(pos + k);
  }
  return pos + literal.length;
}

function isDigit(b: number | undefined): boolean {
  return b !== undefined && b >= 0x30 && b <= 0x39;
}

/** The position after the number, true, false or null at pos; throws JsonSyntaxError on anything else. */
export function scanScalar(raw: Uint8Array, pos: number): number {
  const c = raw[pos];
  if (c === 0x74) return scanLiteral(raw, pos, 'true');
  if (c === 0x66) return scanLiteral(raw, pos, 'false');
  if (c === 0x6e) return scanLiteral(raw, pos, 'null');
  let i = pos;
  if (raw[i] === 0x2d) i++; // -
  if (raw[i] === 0x30) {
    i++;
  } else if (isDigit(raw[i])) {
    while (isDigit(raw[i])) i++;
  } else {
    throw new JsonSyntaxError(i);
  }
  if (raw[i] === 0x2e) { // .
    i++;
    if (!isDigit(raw[i])) throw new JsonSyntaxError(i);
    while (isDigit(raw[i])) i++;
  }
  if (raw[i] === 0x65 || raw[i] === 0x45) { // e E
    i++;
    if (raw[i] === 0x2b || raw[i] === 0x2d) i++;
    if (!isDigit(raw[i])) throw new JsonSyntaxError(i);
    while (isDigit(raw[i])) i++;
  }
  return i;
}

/**
 * The position after the JSON value at pos (whitespace before it skipped), nested objects
 * and arrays included, validated without decoding anything; throws JsonSyntaxError.
 */
export function skipValue(raw: Uint8Array, pos: number): number {
  const closers: number[] = []; // ']' or '}' of each open array or object
  pos = skipSpace(raw, pos);
  for (;;) {
    // A value at pos.
    const c = raw[pos];
    if (c === undefined) throw new JsonSyntaxError(pos);
    if (c === 0x7b || c === 0x5b) { // { [
      const close = c === 0x7b ? 0x7d : 0x5d;
      pos = skipSpace(raw, pos + 1);
      if (raw[pos] === close) {
        pos++;
      } else {
        closers.push(close);
        if (close === 0x7d) pos = afterKey(raw, pos);
        continue;
      }
    } else if (c === QUOTE) {
      pos = scanString(raw, pos);
    } else {
      pos = scanScalar(raw, pos);
    }
    // After a value: a comma (the next value, after a key in an object) or closers.
    for (;;) {
      const close = closers[closers.length - 1];
      if (close === undefined) return pos;
      pos = skipSpace(raw, pos);
      if (raw[pos] === 0x2c) { // ,
        pos = skipSpace(raw, pos + 1);
        if (close === 0x7d) pos = afterKey(raw, pos);
        break;
      }
      if (raw[pos] !== close) throw new JsonSyntaxError(pos);
      closers.pop();
      pos++;
    }
  }
}

// The position of the value after `"key":` at pos.
function afterKey(raw: Uint8Array, pos: number): number {
  if (raw[pos] !== QUOTE) throw new JsonSyntaxError(pos);
  pos = skipSpace(raw, scanString(raw, pos));
  if (raw[pos] !== 0x3a) throw new JsonSyntaxError(pos); // :
  return skipSpace(raw, pos + 1);
}

/**
 * A new frozen SecretBuffer holding what `decode` writes (run twice: to count, then to
 * fill a write scope's view), or undefined when that is nothing at all.
 */
export function decodeSecret(decode: (writer: Utf8Writer) => void): SecretBuffer | undefined {
  const counter = new CountingSink();
  const counting = new Utf8Writer(counter);
  decode(counting);
  counting.end();
  if (counter.length === 0) return undefined;
  const secret = SecretBuffer.alloc(counter.length);
  try {
    secret.write((view) => {
      const sink = new ViewSink(view);
      const writer = new Utf8Writer(sink);
      decode(writer);
      writer.end();
      if (sink.length !== view.length) throw new Error('strongroom: a secret decoded to two different sizes');
    });
    secret.freeze();
  } catch (error) {
    secret.destroy();
    throw error;
  }
  return secret;
}

/** The [start, end) bytes of one JSON value in a text. */
export interface JsonToken {
  readonly start: number;
  readonly end: number;
}

const keyDecoder = new TextDecoder();

/**
 * Validates `raw` as one JSON text (UTF-8) and gives, for each path of object keys, the
 * token of the value there, or undefined where there is none; of duplicate keys the last
 * wins, as with JSON.parse. Keys on the way to a path are read as JS strings (a key is a
 * name, never a secret); no value is.
 */
export function findJsonValues(raw: Uint8Array, paths: readonly (readonly string[])[]): (JsonToken | undefined)[] {
  const found: (JsonToken | undefined)[] = paths.map(() => undefined);
  // Descends only into objects on the way to a wanted path (as deep as the longest path);
  // everything else is validated by skipValue, which keeps no stack.
  const walk = (pos: number, wanted: readonly number[], depth: number): number => {
    const start = pos;
    const deeper = wanted.filter((i) => (paths[i] as readonly string[]).length > depth);
    let end: number;
    if (raw[pos] === 0x7b && deeper.length > 0) {
      pos = skipSpace(raw, pos + 1);
      if (raw[pos] === 0x7d) {
        end = pos + 1;
      } else {
        for (;;) {
          if (raw[pos] !== QUOTE) throw new JsonSyntaxError(pos);
          const keyEnd = scanString(raw, pos);
          const key = JSON.parse(keyDecoder.decode(raw.subarray(pos, keyEnd))) as string; // a key, never a value
          pos = skipSpace(raw, keyEnd);
          if (raw[pos] !== 0x3a) throw new JsonSyntaxError(pos); // :
          const inner = deeper.filter((i) => (paths[i] as readonly string[])[depth] === key);
          for (const i of inner) found[i] = undefined; // a later duplicate key replaces what an earlier one held
          pos = skipSpace(raw, walk(skipSpace(raw, pos + 1), inner, depth + 1));
          if (raw[pos] === 0x2c) { // ,
            pos = skipSpace(raw, pos + 1);
            continue;
          }
          if (raw[pos] !== 0x7d) throw new JsonSyntaxError(pos);
          end = pos + 1;
          break;
        }
      }
    } else {
      end = skipValue(raw, pos);
    }
    for (const i of wanted) if ((paths[i] as readonly string[]).length === depth) found[i] = { start, end };
    return end;
  };
  const end = skipSpace(raw, walk(skipSpace(raw, 0), paths.map((_, i) => i), 0));
  if (end !== raw.length) throw new JsonSyntaxError(end);
  return found;
}

/** Whether the token is a string. */
export function isJsonString(raw: Uint8Array, token: JsonToken): boolean {
  return raw[token.start] === QUOTE;
}

/** A token that is not secret (a number, a boolean, an id) as JSON.parse reads it. */
export function jsonPlain(raw: Uint8Array, token: JsonToken): unknown {
  return JSON.parse(keyDecoder.decode(raw.subarray(token.start, token.end)));
}

/** A string token's text (UTF-8) in a new frozen SecretBuffer; undefined for "". */
export function jsonStringSecret(raw: Uint8Array, token: JsonToken): SecretBuffer | undefined {
  if (!isJsonString(raw, token)) throw new JsonSyntaxError(token.start, 'not a JSON string');
  return decodeSecret((writer) => decodeString(raw, token.start + 1, token.end - 1, writer));
}

// libsodium's branch-free base64 character mapping (sodium/codecs.c): 0..63, or 0xff.
const eq = (x: number, y: number): number => (((0 - (x ^ y)) >>> 8) & 0xff) ^ 0xff;
const gt = (x: number, y: number): number => ((y - x) >>> 8) & 0xff;
const ge = (x: number, y: number): number => gt(y, x) ^ 0xff;
const le = (x: number, y: number): number => ge(y, x);
function base64Value(c: number): number {
  const x =
    (ge(c, 0x41) & le(c, 0x5a) & (c - 0x41)) |
    (ge(c, 0x61) & le(c, 0x7a) & (c - (0x61 - 26))) |
    (ge(c, 0x30) & le(c, 0x39) & (c - (0x30 - 52))) |
    (eq(c, 0x2b) & 62) |
    (eq(c, 0x2f) & 63);
  return x | (eq(x, 0) & (eq(c, 0x41) ^ 0xff));
}

/**
 * Standard base64 (padded or not) in raw[start, end) decoded into a new frozen SecretBuffer
 * with a branch-free character mapping; with `escapes`, `\/` (JSON's escaped '/') counts as
 * one '/' and any other backslash is refused. Returns the SecretBuffer, or the offset of what
 * is wrong: not canonical base64 (a character outside the alphabet, padding in the wrong
 * place, leftover bits not zero) or nothing to decode. The checks of the characters' values
 * run over the whole span without branching on them.
 */
function decodeBase64(raw: Uint8Array, start: number, end: number, escapes: boolean): SecretBuffer | { readonly at: number; readonly why: string } {
  let chars = 0;
  let padding = 0;
  for (let i = start; i < end; i++) {
    if (raw[i] === BACKSLASH) {
      if (!escapes || raw[i + 1] !== 0x2f) return { at: i, why: 'not base64' };
      i++;
    }
    if (raw[i] === 0x3d) padding++;
    else if (padding > 0) return { at: i, why: 'not base64' };
    chars++;
  }
  const data = chars - padding;
  if (padding > 2 || (padding > 0 && chars % 4 !== 0) || data % 4 === 1) return { at: -1, why: 'not base64' };
  const size = Math.floor((data * 6) / 8);
  if (size === 0) return { at: -1, why: 'empty base64' };
  let bad = 0;
  const secret = SecretBuffer.alloc(size);
  try {
    secret.write((view) => {
      let acc = 0;
      let bits = 0;
      let n = 0;
      let seen = 0;
      for (let i = start; i < end && seen < data; i++) {
        if (raw[i] === BACKSLASH) i++;
        const v = base64Value(raw[i] as number);
        bad |= v & 0x80; // 0xff marks a character outside the alphabet
        acc = ((acc << 6) | (v & 0x3f)) & 0xffffff;
        bits += 6;
        seen++;
        if (bits >= 8) {
          bits -= 8;
          view[n++] = (acc >> bits) & 0xff;
        }
      }
      bad |= acc & ((1 << bits) - 1); // leftover bits must be zero (canonical base64)
      acc = 0;
    });
  } catch (error) {
    secret.destroy();
    throw error;
  }
  if (bad !== 0) {
    secret.destroy();
    return { at: -1, why: 'not base64' };
  }
  return secret.freeze();
}

/**
 * A string token of standard base64 (padded or not; `\/` accepted for '/') decoded into a
 * new frozen SecretBuffer, with a branch-free character mapping. JsonSyntaxError (naming no
 * byte) when it is not canonical base64 or decodes to nothing.
 */
export function base64Secret(raw: Uint8Array, token: JsonToken): SecretBuffer {
  if (!isJsonString(raw, token)) throw new JsonSyntaxError(token.start, 'not a JSON string');
  const decoded = decodeBase64(raw, token.start + 1, token.end - 1, true);
  if (decoded instanceof SecretBuffer) return decoded;
  throw new JsonSyntaxError(decoded.at === -1 ? token.start : decoded.at, decoded.why);
}

/**
 * Bytes that hold standard base64 (padded or not; a view of guarded memory, say) decoded
 * into a new frozen SecretBuffer, as base64Secret() decodes a JSON string: canonical
 * base64 only, branch-free over the characters. ERR_INVALID_ARG (naming no byte) otherwise.
 */
export function base64ToSecret(chars: Uint8Array): SecretBuffer {
  const decoded = decodeBase64(chars, 0, chars.length, false);
  if (decoded instanceof SecretBuffer) return decoded;
  throw invalid(`the bytes are not canonical base64${decoded.why === 'empty base64' ? ' (nothing to decode)' : decoded.at === -1 ? '' : ` (at offset ${decoded.at})`}`);
}

/** What jsonStringField() found: the field's string (undefined when empty), no such field, or a field that is not a string. */
export type JsonField =
  | { readonly found: 'string'; readonly secret: SecretBuffer | undefined }
  | { readonly found: 'missing' }
  | { readonly found: 'not-string' };

/**
 * The string value of `field` in the JSON object `raw` (UTF-8, the whole text), decoded
 * straight into a frozen SecretBuffer, as JSON.parse(text)[field] would read (the last of
 * duplicate keys wins). The whole text is validated first; throws JsonSyntaxError when it
 * is not JSON or not an object. Keys are read as JS strings; values never are.
 */
export function jsonStringField(raw: Uint8Array, field: string): JsonField {
  if (raw[skipSpace(raw, 0)] !== 0x7b) throw new JsonSyntaxError(skipSpace(raw, 0));
  const [token] = findJsonValues(raw, [[field]]);
  if (token === undefined) return { found: 'missing' };
  if (!isJsonString(raw, token)) return { found: 'not-string' };
  return { found: 'string', secret: jsonStringSecret(raw, token) };
}
