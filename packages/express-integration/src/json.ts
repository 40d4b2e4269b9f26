// JSON bodies with secret fields. One pass over the raw bytes validates the text as
// JSON.parse would (RFC 8259, through the token readers of '@strongroom/buffer/text') and
// finds the values at the listed paths. Each listed string
// is decoded (escapes, \uXXXX with surrogate pairs, UTF-8 repaired as a JS string would
// be) straight into a SecretBuffer, and its token in the raw bytes is overwritten by `0`
// and spaces. JSON.parse then reads the overwritten text, which holds no secret byte, and
// the SecretBuffers take the place of those zeros.
//
// Paths descend objects only: arrays are left as they are. A key seen twice in one object
// keeps its last value, as with JSON.parse; the secrets under the earlier value are
// destroyed at once. A listed field whose (last) value is not a string is a 400, once the
// whole body has been found to be JSON.
import type { SecretBuffer } from '@strongroom/buffer';
import { decodeSecret, decodeString, JsonSyntaxError, scanScalar, scanString, skipSpace } from '@strongroom/buffer/text';

import type { FieldTrie } from './fields.js';
import { httpError, type HttpError } from './http-error.js';
import { destroyAll } from './secrets.js';

/**
 * What the scan found at a listed path: an object on the way to a field, the field's
 * secret, or a field that is not a string (an error, unless a later duplicate replaces it).
 */
type Entry = ObjectEntry | SecretEntry | InvalidEntry;
interface ObjectEntry {
  readonly kind: 'object';
  readonly entries: Map<string, Entry>;
}
interface SecretEntry {
  readonly kind: 'secret';
  /** undefined for an empty string: a SecretBuffer holds at least one byte. */
  readonly secret: SecretBuffer | undefined;
}
interface InvalidEntry {
  readonly kind: 'invalid';
  readonly field: string;
}

interface Frame {
  readonly array: boolean;
  /** The paths inside this object; undefined when no listed field is in it. */
  readonly trie: FieldTrie | undefined;
  readonly node: ObjectEntry | undefined;
}

export interface ParsedBody {
  value: unknown;
  /** The SecretBuffers now in value. */
  secrets: SecretBuffer[];
}

const QUOTE = 0x22;

function syntaxError(raw: Buffer, pos: number, start: number): HttpError {
  const message = pos >= raw.length ? 'Unexpected end of JSON input' : `Unexpected token in JSON at position ${pos - start}`;
  return httpError(400, 'entity.parse.failed', message);
}

function fieldError(field: string): HttpError {
  return httpError(400, 'entity.field.invalid', `the field '${field}' must be a string`);
}

function destroyEntry(entry: Entry, created: Set<SecretBuffer>): void {
  if (entry.kind === 'object') {
    for (const child of entry.entries.values()) destroyEntry(child, created);
  } else if (entry.kind === 'secret' && entry.secret !== undefined) {
    created.delete(entry.secret);
    entry.secret.destroy();
  }
}

/** The first listed field that holds something other than a string, if any. */
function invalidField(entry: ObjectEntry): string | undefined {
  for (const child of entry.entries.values()) {
    const field = child.kind === 'object' ? invalidField(child) : child.kind === 'invalid' ? child.field : undefined;
    if (field !== undefined) return field;
  }
  return undefined;
}

/** Puts the secrets in the parsed value, where the scan found them (and JSON.parse put zeros). */
function place(target: unknown, entry: ObjectEntry): void {
  if (typeof target !== 'object' || target === null || Array.isArray(target)) {
    throw new Error('strongroom: JSON.parse disagreed with the scan of the body about an object');
  }
  const object = target as Record<string, unknown>;
  for (const [key, child] of entry.entries) {
    if (!Object.hasOwn(object, key)) throw new Error('strongroom: JSON.parse disagreed with the scan of the body about a key');
    if (child.kind === 'object') place(object[key], child);
    else if (child.kind === 'invalid') throw new Error('strongroom: a field that is not a string was about to be placed');
    else if (child.secret === undefined) delete object[key];
    else Object.defineProperty(object, key, { value: child.secret, writable: true, enumerable: true, configurable: true });
  }
}

const VALUE = 0;
const KEY = 1;
const AFTER = 2;

/**
 * Parses raw[start..] (UTF-8, any BOM already skipped) as express.json() would, with the
 * listed fields as SecretBuffers. Overwrites the secret tokens in raw; the caller wipes raw.
 * Throws an HttpError (400) for bad JSON or a listed field that is not a string, having
 * destroyed every secret it made.
 */
export function parseJson(raw: Buffer, start: number, fields: FieldTrie, strict: boolean): ParsedBody {
  if (start === raw.length) return { value: {}, secrets: [] }; // body-parser's special case
  let pos = skipSpace(raw, start);
  if (strict && raw[pos] !== 0x7b && raw[pos] !== 0x5b) throw syntaxError(raw, pos, start);

  const created = new Set<SecretBuffer>();
  const stack: Frame[] = [];
  let root: ObjectEntry | undefined;
  // Where the next value goes: its paths (undefined: none listed) and its parent's entry.
  let slot: FieldTrie | undefined = fields;
  let parent: ObjectEntry | undefined;
  let key = '';
  try {
    for (let state = VALUE; ; ) {
      if (state === VALUE) {
        pos = skipSpace(raw, pos);
        const c = raw[pos];
        if (c === undefined) throw syntaxError(raw, pos, start);
        const field = slot?.field;
        if (field !== undefined && parent !== undefined && c !== QUOTE) {
          // Not a string: an error once the whole body is known to be JSON, unless the key
          // comes again with a string. The value itself is scanned as any other.
          parent.entries.set(key, { kind: 'invalid', field });
          slot = undefined;
        }
        if (c === 0x7b || c === 0x5b) { // { [
          const array = c === 0x5b;
          let node: ObjectEntry | undefined;
          if (!array && slot !== undefined) {
            node = { kind: 'object', entries: new Map() };
            if (parent === undefined) root = node;
            else parent.entries.set(key, node);
          }
          stack.push({ array, trie: array ? undefined : slot, node });
          pos = skipSpace(raw, pos + 1);
          if (raw[pos] === (array ? 0x5d : 0x7d)) {
            pos++;
            stack.pop();
            state = AFTER;
          } else if (array) {
            slot = undefined;
            state = VALUE;
          } else {
            state = KEY;
          }
        } else if (c === QUOTE) {
          const close = scanString(raw, pos);
          if (slot?.field !== undefined && parent !== undefined) {
            const secret = decodeSecret((writer) => decodeString(raw, pos + 1, close - 1, writer));
            if (secret !== undefined) created.add(secret);
            parent.entries.set(key, { kind: 'secret', secret });
            raw[pos] = 0x30; // '0', then spaces over the rest of the token
            raw.fill(0x20, pos + 1, close);
          }
          pos = close;
          state = AFTER;
        } else {
          pos = scanScalar(raw, pos);
          state = AFTER;
        }
      } else if (state === KEY) {
        const frame = stack[stack.length - 1] as Frame;
        pos = skipSpace(raw, pos);
        if (raw[pos] !== QUOTE) throw syntaxError(raw, pos, start);
        const close = scanString(raw, pos);
        slot = undefined;
        if (frame.trie !== undefined && frame.node !== undefined) {
          key = JSON.parse(raw.toString('utf8', pos, close)) as string; // a key, never a listed value
          slot = frame.trie.children.get(key);
          parent = frame.node;
          const earlier = slot === undefined ? undefined : parent.entries.get(key);
          if (earlier !== undefined) {
            // The key again: JSON.parse keeps the last value, so what came with the first goes.
            parent.entries.delete(key);
            destroyEntry(earlier, created);
          }
        }
        pos = skipSpace(raw, close);
        if (raw[pos] !== 0x3a) throw syntaxError(raw, pos, start); // :
        pos++;
        state = VALUE;
      } else {
        const frame = stack[stack.length - 1];
        pos = skipSpace(raw, pos);
        if (frame === undefined) {
          if (pos !== raw.length) throw syntaxError(raw, pos, start);
          break;
        }
        const c = raw[pos];
        if (c === 0x2c) { // ,
          pos++;
          slot = undefined;
          state = frame.array ? VALUE : KEY;
        } else if (c === (frame.array ? 0x5d : 0x7d)) {
          pos++;
          stack.pop();
          state = AFTER;
        } else {
          throw syntaxError(raw, pos, start);
        }
      }
    }
    const invalid = root === undefined ? undefined : invalidField(root);
    if (invalid !== undefined) throw fieldError(invalid);
    let value: unknown;
    try {
      value = JSON.parse(raw.toString('utf8', start));
    } catch {
      throw httpError(400, 'entity.parse.failed', 'the request body is not valid JSON'); // never the parser's message: it quotes the body
    }
    if (root !== undefined) place(value, root);
    return { value, secrets: [...created] };
  } catch (error) {
    destroyAll(created);
    if (error instanceof JsonSyntaxError) throw syntaxError(raw, error.position, start);
    throw error;
  }
}
