// JSON text read byte by byte, so that a string value can become a SecretBuffer without
// ever being a JS string: the tokens of RFC 8259 (validated as JSON.parse would), a string
// token's characters decoded through a Utf8Writer, and decodeSecret(), which runs such a
// decoder twice (to count, then into a write scope). @strongroom/express builds its JSON
// body parser on these; jsonStringField() reads one field of a JSON object (a secret stored
// as {"username": ..., "password": ...}) for @strongroom/kms-loaders.
import { SecretBuffer } from './secret-buffer.js';
import { CountingSink, hexValue, Utf8Writer, ViewSink } from './utf8.js';

/** Bad JSON at byte `position` of the text (the end of the text when position === its length). Holds no byte of it. */
export class JsonSyntaxError extends Error {
  readonly position: number;
  constructor(position: number) {
    super(`not valid JSON at byte ${position}`);
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
  let pos = skipSpace(raw, 0);
  if (raw[pos] !== 0x7b) throw new JsonSyntaxError(pos);
  let value: { from: number; to: number } | 'not-string' | undefined;
  pos = skipSpace(raw, pos + 1);
  if (raw[pos] === 0x7d) {
    pos++;
  } else {
    for (;;) {
      if (raw[pos] !== QUOTE) throw new JsonSyntaxError(pos);
      const keyEnd = scanString(raw, pos);
      const key = JSON.parse(new TextDecoder().decode(raw.subarray(pos, keyEnd))) as string; // a key, never a value
      pos = skipSpace(raw, keyEnd);
      if (raw[pos] !== 0x3a) throw new JsonSyntaxError(pos); // :
      pos = skipSpace(raw, pos + 1);
      const start = pos;
      pos = skipValue(raw, pos);
      if (key === field) value = raw[start] === QUOTE ? { from: start + 1, to: pos - 1 } : 'not-string';
      pos = skipSpace(raw, pos);
      if (raw[pos] === 0x2c) { // ,
        pos = skipSpace(raw, pos + 1);
        continue;
      }
      if (raw[pos] !== 0x7d) throw new JsonSyntaxError(pos);
      pos++;
      break;
    }
  }
  pos = skipSpace(raw, pos);
  if (pos !== raw.length) throw new JsonSyntaxError(pos);
  if (value === undefined) return { found: 'missing' };
  if (value === 'not-string') return { found: 'not-string' };
  const { from, to } = value;
  return { found: 'string', secret: decodeSecret((writer) => decodeString(raw, from, to, writer)) };
}
