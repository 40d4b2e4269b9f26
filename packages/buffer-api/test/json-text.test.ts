// '@strongroom/buffer/text': jsonStringField() reads one field of a JSON object straight
// into a SecretBuffer, as JSON.parse(text)[field] would (checked against JSON.parse for
// fixed and random texts), and refuses what JSON.parse refuses; skipValue() walks any
// value. (The decoders under them are also covered by @strongroom/express's body tests.)
import { randomInt } from 'node:crypto';

import { bytesOf, rejectionOf } from '@strongroom/testkit';
import { describe, expect, it } from 'vitest';

import { SecretBuffer } from '../src/index.js';
import { base64ToSecret, jsonStringField, JsonSyntaxError, skipValue } from '../src/text.js';

const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);

/** What jsonStringField found, as JSON.parse's terms: the string, 'missing' or 'not-string'. */
function read(text: string, field: string): string {
  const found = jsonStringField(bytes(text), field);
  if (found.found !== 'string') return found.found;
  if (found.secret === undefined) return '';
  const value = Buffer.from(bytesOf(found.secret)).toString('utf8');
  expect(found.secret.frozen).toBe(true);
  found.secret.destroy();
  return value;
}

/** JSON.parse's answer in the same terms (a string as its UTF-8 round trip, lone surrogates repaired). */
function expected(text: string, field: string): string {
  const value = (JSON.parse(text) as Record<string, unknown>)[field];
  if (!Object.hasOwn(JSON.parse(text) as object, field)) return 'missing';
  return typeof value === 'string' ? Buffer.from(value, 'utf8').toString('utf8') : 'not-string';
}

describe('jsonStringField()', () => {
  it('agrees with JSON.parse on fixed texts', () => {
    const texts = [
      '{"password":"plain"}',
      ' \n{ "a" : [1, {"password": 2}], "password" : "p\\u00e4\\"\\\\\\/\\b\\f\\n\\r\\t" } \t',
      '{"password":"\\ud83d\\udd11 and a lone \\ud800 high"}',
      '{"password":"first","password":"second"}',
      '{"password":"first","password":7}',
      '{"password":null}',
      '{"password":""}',
      '{"pass\\u0077ord":"escaped key"}',
      '{}',
      '{"nested":{"password":"deep"}}',
      '{"password":"\u00e9\u{1f511} raw UTF-8"}',
      '{"n":-0.5e+10,"t":true,"f":false,"z":null,"password":[]}',
    ];
    for (const text of texts) expect(read(text, 'password'), text).toBe(expected(text, 'password'));
  });

  it('invalid UTF-8 in a value is repaired as Buffer#toString would', () => {
    const raw = Uint8Array.from([...bytes('{"password":"a'), 0xff, 0xc3, ...bytes('b"}')]);
    const found = jsonStringField(raw, 'password');
    expect(found.found).toBe('string');
    if (found.found !== 'string' || found.secret === undefined) throw new Error('expected a secret');
    expect(Buffer.from(bytesOf(found.secret)).toString('utf8')).toBe(Buffer.from(raw.subarray(13, 17)).toString('utf8'));
    found.secret.destroy();
  });

  it('refuses what JSON.parse refuses, or what is not an object, with the position', () => {
    const bad = ['', ' ', '[]', '"s"', '1', '{', '{"a"}', '{"a":}', '{"a":1,}', '{"a":"\\x"}', '{"a":"\u0001"}', '{"a":01}', '{"a":1} x', '{"a":tru}', '{"a":[1,]}', '{"a":{"b":1}'];
    for (const text of bad) {
      let thrown: unknown;
      try {
        jsonStringField(bytes(text), 'a');
      } catch (error) {
        thrown = error;
      }
      expect(thrown, text).toBeInstanceOf(JsonSyntaxError);
      expect((thrown as JsonSyntaxError).message).toMatch(/^not valid JSON at byte \d+$/); // a position, never the text
    }
  });

  it('agrees with JSON.parse on random objects', () => {
    const pieces = ['a', 'é', '\u{1f511}', '"', '\\', '\n', '\u0000', '\ud800', 'x y', '/'];
    const randomString = (): string => Array.from({ length: randomInt(0, 6) }, () => pieces[randomInt(pieces.length)]).join('');
    const randomValue = (depth: number): unknown => {
      const kind = randomInt(depth > 2 ? 4 : 6);
      if (kind === 0) return randomString();
      if (kind === 1) return randomInt(-1000, 1000) / 8;
      if (kind === 2) return [true, false, null][randomInt(3)];
      if (kind === 3) return randomString();
      if (kind === 4) return Array.from({ length: randomInt(0, 3) }, () => randomValue(depth + 1));
      return Object.fromEntries(Array.from({ length: randomInt(0, 3) }, () => [randomString(), randomValue(depth + 1)]));
    };
    for (let i = 0; i < 500; i++) {
      const object = Object.fromEntries(Array.from({ length: randomInt(0, 5) }, () => [['password', 'user', 'k'][randomInt(3)]!, randomValue(0)]));
      const text = JSON.stringify(object, null, randomInt(2) === 0 ? undefined : 2);
      expect(read(text, 'password'), text).toBe(expected(text, 'password'));
    }
  });
});

describe('skipValue()', () => {
  it('returns the position after any value, nested or not', () => {
    for (const text of ['1', '"s"', '[]', '{}', '[1,[2,{"a":[3]}],"x"]', '{"a":{"b":{"c":null}},"d":[true]}']) {
      expect(skipValue(bytes(`${text} ,`), 0), text).toBe(text.length);
    }
    expect(() => skipValue(bytes('[1 2]'), 0)).toThrow(JsonSyntaxError);
  });
});

describe('base64ToSecret()', () => {
  const read = (secret: SecretBuffer): number[] => secret.read((view) => Array.from(view));

  it('decodes canonical base64, padded or not, into a frozen SecretBuffer, as Buffer does', () => {
    for (let length = 1; length <= 40; length++) {
      const bytes = Uint8Array.from({ length }, () => randomInt(256));
      const text = Buffer.from(bytes).toString('base64');
      for (const form of [text, text.replace(/=+$/, '')]) {
        const secret = base64ToSecret(new TextEncoder().encode(form));
        expect(read(secret)).toEqual(Array.from(bytes));
        expect(secret.frozen).toBe(true);
        secret.destroy();
      }
    }
  });

  it.each([
    ['a character outside the alphabet', 'ab-d'],
    ['a byte of 0x80 or more (read as "/" by libsodium 1.0.18)', 'ab\xffd'],
    ['padding in the middle', 'ab=d'],
    ['three padding characters', 'a==='],
    ['one character too many', 'abcde'],
    ['leftover bits that are not zero', 'ab'],
    ['nothing', ''],
    ['only padding', '=='],
  ])('refuses %s with ERR_INVALID_ARG, naming no byte', async (_, text) => {
    const bytes = Uint8Array.from(text, (c) => c.charCodeAt(0));
    const error = await rejectionOf(Promise.resolve().then(() => base64ToSecret(bytes)));
    expect(error.code).toBe('ERR_INVALID_ARG');
    expect(error.message).toMatch(/^the bytes are not canonical base64/);
    if (text.length > 2) expect(error.message).not.toContain(text);
  });
});
