// JSON read byte by byte, so that a secret string in an HTTP answer (Vault's
// data.data.password, a Transit plaintext in base64, a client token) goes from the answer's
// bytes straight into a SecretBuffer and is never a JS string.
//
// findJsonValues() validates the whole text as JSON.parse would (RFC 8259, nesting up to 64)
// and gives the [start, end) token of the value at each path of object keys (the last of
// duplicate keys wins). Keys on the way to a wanted path are decoded as JS strings (a key is
// a name, never a secret); no value is. Then:
//   jsonStringSecret()   a string token decoded (escapes, \uXXXX with surrogate pairs, a
//                        lone surrogate as U+FFFD) into a new frozen SecretBuffer;
//   base64Secret()       a string token of standard base64 decoded into a new frozen
//                        SecretBuffer, with libsodium's branch-free character mapping;
//   jsonPlain()          JSON.parse of one small token that is not a secret (a version
//                        number, a lease id).
//
// This module is kms-loaders' own until '@strongroom/buffer' has a byte-level JSON reader
// (another branch moves @strongroom/express's decoder there); then this one should go.
import { SecretBuffer } from '@strongroom/buffer';

/** Bad JSON at byte `position`. Holds no byte of the text. */
export class JsonBytesError extends Error {
  readonly position: number;
  constructor(position: number, why = 'not valid JSON') {
    super(`${why} at byte ${position}`);
    this.name = 'JsonBytesError';
    this.position = position;
  }
}

export interface JsonToken {
  readonly start: number;
  readonly end: number;
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const MAX_DEPTH = 64;

function hexValue(b: number | undefined): number {
  if (b === undefined) return -1;
  if (b >= 0x30 && b <= 0x39) return b - 0x30;
  if (b >= 0x41 && b <= 0x46) return b - 0x37;
  if (b >= 0x61 && b <= 0x66) return b - 0x57;
  return -1;
}

function skipSpace(raw: Uint8Array, pos: number): number {
  while (pos < raw.length) {
    const b = raw[pos] as number;
    if (b !== 0x20 && b !== 0x09 && b !== 0x0a && b !== 0x0d) break;
    pos++;
  }
  return pos;
}

/** The position after the string token at pos (a '"'). */
function scanString(raw: Uint8Array, pos: number): number {
  let i = pos + 1;
  for (;;) {
    const b = raw[i];
    if (b === undefined) throw new JsonBytesError(i, 'unexpected end of JSON');
    if (b === QUOTE) return i + 1;
    if (b < 0x20) throw new JsonBytesError(i);
    if (b !== BACKSLASH) {
      i++;
      continue;
    }
    const e = raw[i + 1];
    if (e === 0x75 /* u */) {
      for (let k = 2; k < 6; k++) if (hexValue(raw[i + k]) === -1) throw new JsonBytesError(i + k);
      i += 6;
    } else if (e === QUOTE || e === BACKSLASH || e === 0x2f || e === 0x62 || e === 0x66 || e === 0x6e || e === 0x72 || e === 0x74) {
      i += 2;
    } else {
      throw new JsonBytesError(i + 1);
    }
  }
}

function isDigit(b: number | undefined): boolean {
  return b !== undefined && b >= 0x30 && b <= 0x39;
}

function scanLiteral(raw: Uint8Array, pos: number, literal: string): number {
  for (let k = 0; k < literal.length; k++) if (raw[pos + k] !== literal.charCodeAt(k)) throw new JsonBytesError(pos + k);
  return pos + literal.length;
}

function scanScalar(raw: Uint8Array, pos: number): number {
  const c = raw[pos];
  if (c === undefined) throw new JsonBytesError(pos, 'unexpected end of JSON');
  if (c === 0x74) return scanLiteral(raw, pos, 'true');
  if (c === 0x66) return scanLiteral(raw, pos, 'false');
  if (c === 0x6e) return scanLiteral(raw, pos, 'null');
  let i = pos;
  if (raw[i] === 0x2d) i++;
  if (raw[i] === 0x30) i++;
  else if (isDigit(raw[i])) while (isDigit(raw[i])) i++;
  else throw new JsonBytesError(i);
  if (raw[i] === 0x2e) {
    i++;
    if (!isDigit(raw[i])) throw new JsonBytesError(i);
    while (isDigit(raw[i])) i++;
  }
  if (raw[i] === 0x65 || raw[i] === 0x45) {
    i++;
    if (raw[i] === 0x2b || raw[i] === 0x2d) i++;
    if (!isDigit(raw[i])) throw new JsonBytesError(i);
    while (isDigit(raw[i])) i++;
  }
  return i;
}

/**
 * Validates `raw` as one JSON text and returns, for each path of object keys, the token of
 * the value there (undefined where there is none).
 */
export function findJsonValues(raw: Uint8Array, paths: readonly (readonly string[])[]): (JsonToken | undefined)[] {
  const found: (JsonToken | undefined)[] = paths.map(() => undefined);
  // `wanted`: indexes of the paths that go through the current value; `depth`: keys so far.
  const value = (pos: number, wanted: number[], depth: number): number => {
    if (depth > MAX_DEPTH) throw new JsonBytesError(pos, `JSON nested deeper than ${MAX_DEPTH}`);
    const start = pos;
    const c = raw[pos];
    let end: number;
    if (c === 0x7b) {
      pos = skipSpace(raw, pos + 1);
      if (raw[pos] === 0x7d) end = pos + 1;
      else {
        for (;;) {
          if (raw[pos] !== QUOTE) throw new JsonBytesError(pos);
          const keyEnd = scanString(raw, pos);
          let inner: number[] = [];
          const deeper = wanted.filter((i) => (paths[i] as readonly string[]).length > depth);
          if (deeper.length > 0) {
            const key = JSON.parse(Buffer.from(raw.buffer, raw.byteOffset + pos, keyEnd - pos).toString('utf8')) as string; // a key, not a value
            inner = deeper.filter((i) => (paths[i] as readonly string[])[depth] === key);
          }
          pos = skipSpace(raw, keyEnd);
          if (raw[pos] !== 0x3a) throw new JsonBytesError(pos);
          pos = skipSpace(raw, value(skipSpace(raw, pos + 1), inner, depth + 1));
          if (raw[pos] === 0x2c) {
            pos = skipSpace(raw, pos + 1);
            continue;
          }
          if (raw[pos] !== 0x7d) throw new JsonBytesError(pos, raw[pos] === undefined ? 'unexpected end of JSON' : 'not valid JSON');
          end = pos + 1;
          break;
        }
      }
    } else if (c === 0x5b) {
      pos = skipSpace(raw, pos + 1);
      if (raw[pos] === 0x5d) end = pos + 1;
      else {
        for (;;) {
          pos = skipSpace(raw, value(pos, [], depth + 1));
          if (raw[pos] === 0x2c) {
            pos = skipSpace(raw, pos + 1);
            continue;
          }
          if (raw[pos] !== 0x5d) throw new JsonBytesError(pos, raw[pos] === undefined ? 'unexpected end of JSON' : 'not valid JSON');
          end = pos + 1;
          break;
        }
      }
    } else if (c === QUOTE) {
      end = scanString(raw, pos);
    } else {
      end = scanScalar(raw, pos);
    }
    for (const i of wanted) if ((paths[i] as readonly string[]).length === depth) found[i] = { start, end };
    return end;
  };
  const end = skipSpace(raw, value(skipSpace(raw, 0), paths.map((_, i) => i), 0));
  if (end !== raw.length) throw new JsonBytesError(end);
  return found;
}

/** Whether the token is a string. */
export function isJsonString(raw: Uint8Array, token: JsonToken): boolean {
  return raw[token.start] === QUOTE;
}

/** A token that is not secret (a number, a boolean, a lease id) as JSON.parse reads it. */
export function jsonPlain(raw: Uint8Array, token: JsonToken): unknown {
  return JSON.parse(Buffer.from(raw.buffer, raw.byteOffset + token.start, token.end - token.start).toString('utf8'));
}

// Writes one UTF-16 code unit sequence's UTF-8 into `put`, pairing surrogates as a JS
// string's UTF-8 encoding would (a lone surrogate is U+FFFD).
function decodeInto(raw: Uint8Array, token: JsonToken, put: (b: number) => void): void {
  let high = -1; // a pending high surrogate
  const code = (cp: number): void => {
    if (cp < 0x80) put(cp);
    else if (cp < 0x800) {
      put(0xc0 | (cp >> 6));
      put(0x80 | (cp & 0x3f));
    } else if (cp < 0x10000) {
      put(0xe0 | (cp >> 12));
      put(0x80 | ((cp >> 6) & 0x3f));
      put(0x80 | (cp & 0x3f));
    } else {
      put(0xf0 | (cp >> 18));
      put(0x80 | ((cp >> 12) & 0x3f));
      put(0x80 | ((cp >> 6) & 0x3f));
      put(0x80 | (cp & 0x3f));
    }
  };
  const flush = (): void => {
    if (high !== -1) code(0xfffd);
    high = -1;
  };
  const unit = (u: number): void => {
    if (u >= 0xdc00 && u <= 0xdfff && high !== -1) {
      code(0x10000 + ((high - 0xd800) << 10) + (u - 0xdc00));
      high = -1;
      return;
    }
    flush();
    if (u >= 0xd800 && u <= 0xdbff) high = u;
    else if (u >= 0xdc00 && u <= 0xdfff) code(0xfffd);
    else code(u);
  };
  for (let i = token.start + 1; i < token.end - 1; i++) {
    const b = raw[i] as number;
    if (b !== BACKSLASH) {
      flush();
      put(b); // UTF-8 as it came
      continue;
    }
    const e = raw[++i] as number;
    switch (e) {
      case 0x62: unit(0x08); break;
      case 0x66: unit(0x0c); break;
      case 0x6e: unit(0x0a); break;
      case 0x72: unit(0x0d); break;
      case 0x74: unit(0x09); break;
      case 0x75:
        unit((hexValue(raw[i + 1]) << 12) | (hexValue(raw[i + 2]) << 8) | (hexValue(raw[i + 3]) << 4) | hexValue(raw[i + 4]));
        i += 4;
        break;
      default: unit(e);
    }
  }
  flush();
}

// A frozen SecretBuffer of `size` bytes written by `fill` (which must write exactly that many).
function secretOf(size: number, fill: (view: Uint8Array) => number): SecretBuffer {
  const secret = SecretBuffer.alloc(size);
  try {
    secret.write((view) => {
      if (fill(view) !== view.length) throw new Error('strongroom: a secret decoded to two different sizes');
    });
    return secret.freeze();
  } catch (error) {
    secret.destroy();
    throw error;
  }
}

/** The string token's text (UTF-8) in a new frozen SecretBuffer; undefined for "". */
export function jsonStringSecret(raw: Uint8Array, token: JsonToken): SecretBuffer | undefined {
  let size = 0;
  decodeInto(raw, token, () => size++);
  if (size === 0) return undefined;
  return secretOf(size, (view) => {
    let n = 0;
    decodeInto(raw, token, (b) => {
      view[n++] = b;
    });
    return n;
  });
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
 * A string token of standard base64 (padded or not; `\/` accepted for '/') decoded into a
 * new frozen SecretBuffer. Throws JsonBytesError (naming no byte) when it is not base64 or
 * decodes to nothing.
 */
export function base64Secret(raw: Uint8Array, token: JsonToken): SecretBuffer {
  // The characters: raw bytes, where `\/` is one '/'. Any other escape is not base64.
  let chars = 0;
  let padding = 0;
  for (let i = token.start + 1; i < token.end - 1; i++) {
    if (raw[i] === BACKSLASH) {
      if (raw[i + 1] !== 0x2f) throw new JsonBytesError(i, 'not base64');
      i++;
    }
    if (raw[i] === 0x3d) padding++;
    else if (padding > 0) throw new JsonBytesError(i, 'not base64');
    chars++;
  }
  const data = chars - padding;
  if (padding > 2 || (padding > 0 && chars % 4 !== 0) || data % 4 === 1) throw new JsonBytesError(token.start, 'not base64');
  const size = Math.floor((data * 6) / 8);
  if (size === 0) throw new JsonBytesError(token.start, 'empty base64');
  let bad = 0;
  const secret = secretOf(size, (view) => {
    let acc = 0;
    let bits = 0;
    let n = 0;
    let seen = 0;
    for (let i = token.start + 1; i < token.end - 1 && seen < data; i++) {
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
    return n;
  });
  if (bad !== 0) {
    secret.destroy();
    throw new JsonBytesError(token.start, 'not base64');
  }
  return secret;
}
