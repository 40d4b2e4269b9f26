// findJsonValues, jsonStringSecret, jsonPlain and base64Secret of '@strongroom/buffer/text'
// (what kms-loaders' vault() reads Vault's answers with): they accept and refuse what
// JSON.parse does, find the value at a path (the last duplicate key wins), decode a string
// as JSON.parse and UTF-8 would, and decode base64 as Buffer does, refusing what is not
// canonical base64.
import { randomBytes } from 'node:crypto';

import { describe, expect, it } from 'vitest';

import { base64Secret, findJsonValues, JsonSyntaxError, jsonPlain, jsonStringSecret } from '../src/json-text.js';

const bytes = (text: string): Uint8Array => new Uint8Array(Buffer.from(text));

function textAt(json: string, path: string[]): string | undefined {
  const raw = bytes(json);
  const [token] = findJsonValues(raw, [path]);
  if (token === undefined) return undefined;
  const secret = jsonStringSecret(raw, token);
  if (secret === undefined) return '';
  try {
    return secret.read((view) => Buffer.from(view).toString());
  } finally {
    secret.destroy();
  }
}

describe('findJsonValues', () => {
  it('accepts and refuses the texts JSON.parse does', () => {
    const texts = [
      '{}', '[]', '{"a":1}', ' {"a" : [1, {"b": null}, "x"] } ', '{"a":-0.5e+10}', '"s"', '1', 'true',
      '{', '{"a":}', '{"a":1,}', '[1,]', '{"a" 1}', '{a:1}', '{"a":01}', '{"a":1.}', '{"a":"\u0001"}', '{"a":"\\x"}',
      '{"a":"\\u12"}', '{"a":1} x', '', '{"a":tru}', '{"a":[1 2]}', '{"a":"x"', '{"a":"\\ud800"}',
    ];
    for (const text of texts) {
      let parsed = true;
      try {
        JSON.parse(text);
      } catch {
        parsed = false;
      }
      let scanned = true;
      try {
        findJsonValues(bytes(text), [['a']]);
      } catch (error) {
        expect(error).toBeInstanceOf(JsonSyntaxError);
        scanned = false;
      }
      expect([text, scanned]).toEqual([text, parsed]);
    }
  });

  it('finds values at paths; the last duplicate wins; arrays are not descended', () => {
    const json = '{"data":{"data":{"password":"one","password":"two"},"metadata":{"version":7}},"list":[{"data":"no"}]}';
    const raw = bytes(json);
    const [password, version, missing, inArray] = findJsonValues(raw, [['data', 'data', 'password'], ['data', 'metadata', 'version'], ['data', 'nope'], ['list', 'data']]);
    expect(textAt(json, ['data', 'data', 'password'])).toBe('two');
    expect(password).toBeDefined();
    expect(jsonPlain(raw, version!)).toBe(7);
    expect([missing, inArray]).toEqual([undefined, undefined]);
  });

  it('validates deep nesting off the wanted paths without recursion, and still refuses it unbalanced', () => {
    expect(() => findJsonValues(bytes(`{"a":${'['.repeat(100_000)}${']'.repeat(100_000)}}`), [['a', 'b']])).not.toThrow();
    expect(() => findJsonValues(bytes(`{"a":${'['.repeat(100_000)}${']'.repeat(99_999)}}`), [['a', 'b']])).toThrow(JsonSyntaxError);
  });

  it('a later duplicate key replaces everything an earlier one held', () => {
    expect(textAt('{"d":{"p":"old"},"d":{"q":"x"}}', ['d', 'p'])).toBeUndefined();
    expect(textAt('{"d":{"q":"x"},"d":{"p":"new"}}', ['d', 'p'])).toBe('new');
  });
});

describe('jsonStringSecret', () => {
  it('decodes as JSON.parse then UTF-8 would, for escapes, surrogate pairs and lone surrogates', () => {
    const values = ['plain', 'a"b\\c/d\b\f\n\r\t', '\u00e9\u4e2d\u{1f600}', '\ud800x', 'x\udc00', '\ud83d\ude00\ud83d', '\u0000\u001f'];
    for (const value of values) {
      const json = `{"v":${JSON.stringify(value)}}`;
      expect(textAt(json, ['v'])).toBe(Buffer.from(value).toString());
      // each UTF-16 unit as \uXXXX
      const units = Array.from({ length: value.length }, (_, i) => `\\u${value.charCodeAt(i).toString(16).padStart(4, '0')}`).join('');
      expect(textAt(`{"v":"${units}"}`, ['v'])).toBe(Buffer.from(JSON.parse(`"${units}"`) as string).toString());
    }
    expect(textAt('{"v":""}', ['v'])).toBe('');
  });
});

describe('base64Secret', () => {
  function decode(text: string): Buffer {
    const raw = bytes(`{"p":"${text}"}`);
    const secret = base64Secret(raw, findJsonValues(raw, [['p']])[0]!);
    try {
      return secret.read((view) => Buffer.from(view));
    } finally {
      secret.destroy();
    }
  }

  it('decodes what Buffer encodes, of every length from 1 to 40, padded or not, and \\/ for /', () => {
    for (let n = 1; n <= 40; n++) {
      const data = randomBytes(n);
      const encoded = data.toString('base64');
      expect(decode(encoded).equals(data)).toBe(true);
      expect(decode(encoded.replace(/=+$/, '')).equals(data)).toBe(true);
      expect(decode(encoded.replaceAll('/', '\\/')).equals(data)).toBe(true);
    }
  });

  it('refuses characters outside the alphabet, bad padding, non-canonical ends, and nothing at all', () => {
    for (const bad of ['c2Vj*mV0', 'c2VjcmV0=', 'c2Vjc', 'c2VjcmV=0', 'c2VjcmV0===', 'QQ=', 'QR==', '', '====', 'c2Vj\\nmV0', 'c2-jcmV0']) {
      expect(() => decode(bad), bad).toThrow(JsonSyntaxError);
    }
  });
});
