// A property check over real HTTP, on Express 4 and 5: for random JSON texts (random
// escapes and whitespace, surrogates lone and paired, raw invalid UTF-8, repeated keys,
// the odd corrupted byte) sensitiveBody() answers what JSON.parse says, with the listed
// fields turned into SecretBuffers holding the UTF-8 bytes of the strings JSON.parse gives.
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { sensitiveBody } from '../src/index.js';
import { formValue, liveSecrets, MAJORS, postForm, postJson, request, reveal, secretOf, startApp, type ErrorReply, type RunningApp } from './helpers.js';

const FIELDS = ['password', 'card.number', 'a.b.c', 'x'];
const KEYS = ['password', 'card', 'number', 'a', 'b', 'c', 'x', 'y', '__proto__', 'pass\u00e9'];

/** A JSON value whose objects may repeat a key (JSON.parse keeps the last). */
type Json = null | boolean | number | string | Json[] | { entries: [string, Json][] };

const text = fc.string({
  unit: fc.oneof(
    fc.constantFrom('a', 'Z', ' ', '\u00e9', '\u4e2d', '\u{1F600}', '"', '\\', '/', '\n', '\t', '\u0000', '\u001f', '\u2028', '\ud800', '\udfff'),
    fc.integer({ min: 0, max: 0xffff }).map((unit) => String.fromCharCode(unit)),
    fc.integer({ min: 0x10000, max: 0x10ffff }).map((point) => String.fromCodePoint(point)),
  ),
  maxLength: 10,
});

const { value: jsonValue } = fc.letrec<{ value: Json; object: { entries: [string, Json][] } }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.constant(null),
    fc.boolean(),
    fc.oneof(fc.integer(), fc.double({ noNaN: true, noDefaultInfinity: true })),
    text,
    text,
    fc.array(tie('value'), { maxLength: 3 }),
    tie('object'),
    tie('object'),
  ),
  object: fc.record({ entries: fc.array(fc.tuple(fc.constantFrom(...KEYS), tie('value')), { maxLength: 5 }) }),
}));

/** A small deterministic generator, so one seed makes one text. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const SHORT: Record<string, string> = { '"': '\\"', '\\': '\\\\', '\b': '\\b', '\f': '\\f', '\n': '\\n', '\r': '\\r', '\t': '\\t', '/': '\\/' };

/** Serialises with random whitespace and escapes, and now and then raw invalid UTF-8 inside a string. */
function serialise(value: Json, next: () => number): Buffer {
  const parts: Buffer[] = [];
  const put = (s: string): void => void parts.push(Buffer.from(s));
  const space = (): void => put(['', '', ' ', '\n', '\t', '\r\n  '][Math.floor(next() * 6)] as string);
  const escape = (unit: number): string => {
    const hex = unit.toString(16).padStart(4, '0');
    return `\\u${next() < 0.5 ? hex : hex.toUpperCase()}`;
  };
  const string = (s: string): void => {
    put('"');
    for (const char of s) {
      if (next() < 0.03) parts.push(Buffer.from([0x80 + Math.floor(next() * 0x80)])); // a stray byte
      const point = char.codePointAt(0) as number;
      if (point > 0xffff && next() < 0.6) {
        put(char); // a whole pair, as four bytes of UTF-8
        continue;
      }
      for (const unit of char.split('')) {
        const code = unit.charCodeAt(0);
        const short = SHORT[unit];
        const must = (code >= 0xd800 && code <= 0xdfff) || code < 0x20 || unit === '"' || unit === '\\';
        if (must || next() < 0.25) put(short !== undefined && next() < 0.5 ? short : escape(code));
        else put(unit);
      }
    }
    put('"');
  };
  const write = (v: Json): void => {
    space();
    if (v === null || typeof v === 'boolean' || typeof v === 'number') put(JSON.stringify(v));
    else if (typeof v === 'string') string(v);
    else if (Array.isArray(v)) {
      put('[');
      v.forEach((item, i) => {
        if (i > 0) put(',');
        write(item);
      });
      space();
      put(']');
    } else {
      put('{');
      v.entries.forEach(([key, item], i) => {
        if (i > 0) put(',');
        space();
        string(key);
        space();
        put(':');
        write(item);
      });
      space();
      put('}');
    }
    space();
  };
  write(value);
  return Buffer.concat(parts);
}

/** Now and then one byte changed, dropped or added, so that invalid JSON is tried as well. */
function corrupt(bytes: Buffer, next: () => number): Buffer {
  if (next() > 0.15 || bytes.length < 2) return bytes;
  const at = Math.floor(next() * bytes.length);
  const byte = '{}[]",:\\0ae \n'.charCodeAt(Math.floor(next() * 13));
  const kind = Math.floor(next() * 3);
  if (kind === 0) return Buffer.concat([bytes.subarray(0, at), bytes.subarray(at + 1)]);
  if (kind === 1) return Buffer.concat([bytes.subarray(0, at), Buffer.from([byte]), bytes.subarray(at)]);
  const copy = Buffer.from(bytes);
  copy[at] = byte;
  return copy;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** What the app must answer for these bytes, from JSON.parse: a 400's type, or the body and how many secrets. */
function model(bytes: Buffer): { type: string } | { body: unknown; live: number } {
  let parsed: unknown;
  try {
    parsed = JSON.parse(bytes.toString('utf8'));
  } catch {
    return { type: 'entity.parse.failed' };
  }
  if (typeof parsed !== 'object' || parsed === null) return { type: 'entity.parse.failed' }; // strict
  let live = 0;
  let invalid = false;
  for (const field of FIELDS) {
    const path = field.split('.');
    let holder: unknown = parsed;
    for (const segment of path.slice(0, -1)) {
      holder = isObject(holder) && Object.hasOwn(holder, segment) ? holder[segment] : undefined;
    }
    const last = path.at(-1) as string;
    if (!isObject(holder) || !Object.hasOwn(holder, last)) continue;
    const value = holder[last];
    if (typeof value !== 'string') invalid = true;
    else if (value === '') delete holder[last];
    else {
      Object.defineProperty(holder, last, { value: secretOf(value), enumerable: true, writable: true, configurable: true });
      live++;
    }
  }
  return invalid ? { type: 'entity.field.invalid' } : { body: parsed, live };
}

const FORM_FIELDS = ['password', '\u00e9', 'a b'];

/**
 * A urlencoded body as the URL Standard reads it, with FORM_FIELDS as secrets: what
 * sensitiveBody() must answer, or the error type when a listed name comes twice.
 */
function formModel(body: Buffer): { body: Record<string, unknown>; live: number } | { type: string } {
  const result: Record<string, unknown> = {};
  const seen = new Set<string>();
  let live = 0;
  let from = 0;
  while (from <= body.length) {
    let to = body.indexOf(0x26, from);
    if (to === -1) to = body.length;
    const pair = body.subarray(from, to);
    from = to + 1;
    if (pair.length === 0) continue;
    const eq = pair.indexOf(0x3d);
    const name = formValue(eq === -1 ? pair : pair.subarray(0, eq));
    const value = eq === -1 ? '' : formValue(pair.subarray(eq + 1));
    if (FORM_FIELDS.includes(name)) {
      if (seen.has(name)) return { type: 'entity.field.invalid' };
      seen.add(name);
      if (value !== '') {
        result[name] = secretOf(value);
        live++;
      }
    } else {
      const earlier = result[name];
      result[name] = earlier === undefined ? value : Array.isArray(earlier) ? [...earlier, value] : [earlier, value];
    }
  }
  return { body: result, live };
}

describe.each(MAJORS)('properties on $name', (major) => {
  let app: RunningApp;

  beforeAll(async () => {
    app = await startApp(major, (server) => {
      server.post('/secret', sensitiveBody({ fields: FIELDS }), (req, res) => {
        res.json({ body: reveal(req.body), live: liveSecrets() });
      });
      server.post('/form-names', sensitiveBody({ fields: FORM_FIELDS }), (req, res) => {
        res.json({ body: reveal(req.body), live: liveSecrets() });
      });
      // As the README advises: sensitiveBody() first, then the lenient parsers.
      server.post('/chain', sensitiveBody({ fields: ['password'] }), major.express.json(), major.express.urlencoded({ extended: false }), (req, res) => {
        res.json({ type: typeof (req.body as { password?: unknown } | undefined)?.password });
      });
    });
  });

  afterAll(() => app.close());

  it('for random JSON texts, the answer is JSON.parse\'s, with the listed strings as SecretBuffers of their UTF-8', async () => {
    let parsedCount = 0;
    await fc.assert(
      fc.asyncProperty(fc.record({ entries: fc.array(fc.tuple(fc.constantFrom(...KEYS), jsonValue), { maxLength: 6 }) }), fc.integer(), async (root, seed) => {
        const next = random(seed);
        const bytes = corrupt(serialise(root, next), next);
        const expected = model(bytes);
        const reply = await postJson(app.url, '/secret', bytes);
        if ('type' in expected) {
          expect(reply.status).toBe(400);
          expect((reply.json as ErrorReply).error.type).toBe(expected.type);
        } else {
          parsedCount++;
          expect(reply.status).toBe(200);
          // through res.json() as the server's answer went: a number literal too large for a
          // double (1e400) parses to Infinity, which JSON writes as null
          expect(reply.json).toEqual(JSON.parse(JSON.stringify(expected)));
        }
        expect(liveSecrets()).toBe(0); // every secret went with its response, or with its error
      }),
      { numRuns: 300 },
    );
    expect(parsedCount).toBeGreaterThan(150); // most texts were valid: the check compared bodies
  });

  it('for random urlencoded bodies, every name and value is the URL Standard\'s decoding, and a listed name is a secret or absent, never a string', async () => {
    // Pieces as bytes: text as UTF-8, and raw bytes that may be invalid UTF-8.
    const piece = fc.oneof(
      fc.constantFrom('a', '+', '%', '%2', '%C3', '%A9', '%c3%a9', '\u00e9', '\u00a9', '%ff', '%zz', '=', '&', 'b', '%20', '%E4%B8', '\u4e2d').map((t) => Buffer.from(t)),
      fc.uint8Array({ minLength: 1, maxLength: 2 }).map((b) => Buffer.from(b)),
    );
    const text = fc.array(piece, { maxLength: 5 }).map((parts) => Buffer.concat(parts));
    // Names near the listed ones: their spellings valid and malformed, and random ones.
    const name = fc.oneof(
      fc.constantFrom('password', 'pass%77ord', 'Password', '%C3%A9', '\u00e9', '%C3\u00a9', '%C3%A9%', 'a+b', 'a%20b', 'a b', '%61+%62', 'a++b').map((t) => Buffer.from(t)),
      text,
    );
    const pair = fc.tuple(name, fc.option(text)).map(([n, v]) => (v === null ? n : Buffer.concat([n, Buffer.from('='), v])));
    let secretsSeen = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(pair, { maxLength: 5 }), async (pairs) => {
        const body = Buffer.concat(pairs.flatMap((p, i) => (i === 0 ? [p] : [Buffer.from('&'), p])));
        const expected = formModel(body);
        const reply = await postForm(app.url, '/form-names', body);
        if ('type' in expected) {
          expect(reply.status).toBe(400);
          expect((reply.json as ErrorReply).error.type).toBe(expected.type);
        } else {
          expect(reply.status).toBe(200);
          expect(reply.json).toEqual(expected);
          secretsSeen += expected.live;
        }
        expect(liveSecrets()).toBe(0);
      }),
      { numRuns: 300 },
    );
    expect(secretsSeen).toBeGreaterThan(20); // listed names were generated, not only others
  });

  it('for random Content-Type headers, no parser mounted after sensitiveBody() ever reads the password as a string', async () => {
    const bare = fc.constantFrom('application/json', 'application/x-www-form-urlencoded', 'Application/JSON', 'APPLICATION/X-WWW-FORM-URLENCODED', 'application/vnd.api+json', 'text/plain', 'application/json ');
    const piece = fc.constantFrom(';', ';', ' ', '\t', 'charset', '=', '=', 'utf-8', 'UTF-8', '"utf-8"', '"', '\\', 'foo', 'bar baz', ',', 'latin1', 'x=y', '/', '(', ')');
    const header = fc.tuple(bare, fc.array(piece, { maxLength: 8 })).map(([type, parts]) => `${type}${parts.join('')}`.trimEnd());
    const seen = new Set<number>();
    await fc.assert(
      fc.asyncProperty(header, async (contentType) => {
        const body = contentType.toLowerCase().includes('urlencoded') ? 'password=hunter2' : '{"password":"hunter2"}';
        const reply = await request(app.url, { path: '/chain', body, headers: { 'content-type': contentType } });
        seen.add(reply.status);
        expect([200, 400, 415]).toContain(reply.status);
        if (reply.status === 200) expect((reply.json as { type: string }).type).not.toBe('string');
        expect(liveSecrets()).toBe(0);
      }),
      { numRuns: 200 },
    );
    expect(seen).toEqual(new Set([200, 415])); // both read and refused headers were generated
  });

  it('for random urlencoded bodies, the listed values are the URL Standard\'s decoding of the bytes', async () => {
    const piece = fc.oneof(
      fc.constantFrom('a', '+', '%', '%2', '%41', '%C3%A9', '%E4%B8', '%F0%9F%98%80', '%ff', '%zz', '=', '\u00e9', '\u{1F600}', '%2B', '%26', '%3D'),
      fc.uint8Array({ minLength: 1, maxLength: 2 }).map((b) => Buffer.from(b).toString('latin1')),
    );
    const value = fc.array(piece, { maxLength: 8 }).map((parts) => parts.join(''));
    await fc.assert(
      fc.asyncProperty(value, fc.array(fc.tuple(fc.constantFrom('y', 'z', 'a.b'), value), { maxLength: 3 }), async (secret, others) => {
        // '&' and '=' in the value would start a new pair or be part of it, as in any form.
        const raw = Buffer.from(secret.replace(/[&]/g, ''), 'latin1');
        const rest = others.map(([k, v]) => `${k}=${v.replace(/&/g, '')}`);
        const body = Buffer.concat([Buffer.from(rest.slice(0, 1).join('&') + (rest.length > 0 ? '&' : '')), Buffer.from('password='), raw, Buffer.from(rest.slice(1).map((p) => `&${p}`).join(''))]);
        const reply = await postForm(app.url, '/secret', body);
        expect(reply.status).toBe(200);
        const { body: got } = reply.json as { body: Record<string, unknown> };
        const expected = formValue(raw);
        if (expected === '') expect(Object.hasOwn(got, 'password')).toBe(false);
        else expect(got['password']).toEqual(secretOf(expected));
        expect(liveSecrets()).toBe(0);
      }),
      { numRuns: 200 },
    );
  });
});
