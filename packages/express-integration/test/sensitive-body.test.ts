// sensitiveBody() over real HTTP, on Express 4 and 5: what req.body holds (compared with
// express.json() and express.urlencoded({ extended: false }) on the same bytes), how long
// its SecretBuffers live, the limits, and the errors in body-parser's shape.
import http from 'node:http';

import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';

import { HttpError, keep, SecretBuffer, sensitiveBody } from '../src/index.js';
import {
  formValue,
  hexOf,
  liveSecrets,
  MAJORS,
  postForm,
  postJson,
  request,
  reveal,
  secretOf,
  startApp,
  type ErrorReply,
  type Reply,
  type RunningApp,
} from './helpers.js';

const FIELDS = ['password', 'card.number', 'items.password', 'deep.a.b'];

/** Opens a POST and hands back the request to write to, and the reply once it comes. */
function openPost(url: string, path: string, headers: Record<string, string>): { req: http.ClientRequest; reply: Promise<Reply & { socketClosed: Promise<void> }> } {
  const req = http.request(new URL(path, url), { method: 'POST', headers, agent: false });
  const reply = new Promise<Reply & { socketClosed: Promise<void> }>((resolve, reject) => {
    req.on('error', reject);
    req.on('response', (res) => {
      const socketClosed = new Promise<void>((done) => res.socket.once('close', () => done()));
      const parts: Buffer[] = [];
      res.on('data', (chunk: Buffer) => parts.push(chunk));
      res.on('end', () => {
        const text = Buffer.concat(parts).toString('utf8');
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json: JSON.parse(text) as unknown, socketClosed });
      });
    });
  });
  return { req, reply };
}

describe.each(MAJORS)('sensitiveBody on $name', (major) => {
  let app: RunningApp;
  const held: SecretBuffer[] = [];
  const kept: SecretBuffer[] = [];

  beforeAll(async () => {
    app = await startApp(major, (server) => {
      const answer = (req: { body?: unknown }, res: { json: (body: unknown) => void }): void => {
        res.json({ body: reveal(req.body), live: liveSecrets() });
      };
      server.post('/secret', sensitiveBody({ fields: FIELDS }), answer);
      server.post('/json', major.express.json(), (req, res) => res.json(req.body));
      server.post('/form', major.express.urlencoded({ extended: false }), (req, res) => res.json(req.body));
      server.post('/small', sensitiveBody({ fields: ['password'], limit: 64 }), answer);
      server.post('/small-text', sensitiveBody({ fields: ['password'], limit: '1kb' }), answer);
      server.post('/lax', sensitiveBody({ fields: ['password'], strict: false }), answer);
      server.post('/vnd', sensitiveBody({ fields: ['password'], type: '+json' }), answer);
      server.post('/only-form', sensitiveBody({ fields: ['password'], type: 'urlencoded' }), answer);
      server.post('/by-function', sensitiveBody({ fields: ['password'], type: (req) => req.headers['x-secret'] === 'yes' }), answer);
      // The README's advice: sensitiveBody() first, the lenient parsers after it.
      const typeOfPassword = (req: { body?: unknown }, res: { json: (body: unknown) => void }): void => {
        const body = req.body as { password?: unknown } | undefined;
        res.json({ type: typeof body?.password, live: liveSecrets() });
      };
      server.post('/chain', sensitiveBody({ fields: ['password'] }), major.express.json(), major.express.urlencoded({ extended: false }), typeOfPassword);
      server.post('/bare-chain', major.express.json(), major.express.urlencoded({ extended: false }), typeOfPassword);
      server.post('/accent', sensitiveBody({ fields: ['\u00e9'] }), (req, res) => {
        const body = req.body as Record<string, unknown>;
        res.json({ keys: Object.keys(body), type: typeof body['\u00e9'], body: reveal(body), live: liveSecrets() });
      });
      server.post('/after-json', major.express.json(), sensitiveBody({ fields: ['password'] }), (req, res) => {
        res.json({ type: typeof (req.body as { password?: unknown }).password });
      });
      server.post('/through', sensitiveBody({ fields: ['password'] }), (req, res) => {
        const parts: Buffer[] = [];
        req.on('data', (chunk: Buffer) => parts.push(chunk));
        req.on('end', () => res.json({ body: req.body === undefined ? 'undefined' : req.body, raw: Buffer.concat(parts).toString('utf8') }));
      });
      server.post('/encoded', (req, _res, next) => {
        req.setEncoding('utf8');
        next();
      }, sensitiveBody({ fields: ['password'] }), answer);
      server.post('/hold', sensitiveBody({ fields: ['password'] }), (req, res) => {
        const secret = (req.body as { password: SecretBuffer }).password;
        held.push(secret);
        res.json({ destroyed: secret.destroyed });
      });
      server.post('/stall', sensitiveBody({ fields: ['password'] }), (req) => {
        held.push((req.body as { password: SecretBuffer }).password);
      });
      server.post('/keep', sensitiveBody({ fields: ['password', 'pin'] }), (req, res) => {
        const body = req.body as { password: SecretBuffer; pin: SecretBuffer };
        kept.push(keep(body.password));
        held.push(body.pin);
        res.json({ same: keep(body.password) === body.password });
      });
    });
  });

  afterAll(async () => {
    for (const secret of kept) secret.destroy();
    await app.close();
  });

  describe('JSON', () => {
    it('a listed field becomes a frozen SecretBuffer of its UTF-8 bytes; the rest is what express.json() gives', async () => {
      const text = '{"user":"ada","password":"hunter2 \u00e9\u{1F600}","n":[1,2.5e3,true,null],"o":{"x":"y"}}';
      const ours = await postJson(app.url, '/secret', text);
      const theirs = await postJson(app.url, '/json', text);
      expect(ours.status).toBe(200);
      const expected = { ...(theirs.json as Record<string, unknown>), password: secretOf('hunter2 \u00e9\u{1F600}') };
      expect(ours.json).toEqual({ body: expected, live: 1 });
      expect(Object.keys((ours.json as { body: object }).body)).toEqual(Object.keys(theirs.json as object)); // the same order
    });

    it('decodes every escape: \\uXXXX, surrogate pairs, lone surrogates (U+FFFD) and the short ones', async () => {
      const text = String.raw`{"password":"a\"b\\c\/d\be\ff\ng\rh\ti\u00e9\u20AC\ud83d\ude00|\ud800|\udc00x|\ud83d\u0041"}`;
      const reply = await postJson(app.url, '/secret', text);
      const expected = (JSON.parse(text) as { password: string }).password; // Buffer.from writes U+FFFD for a lone surrogate
      expect(reply.json).toEqual({ body: { password: secretOf(expected) }, live: 1 });
      expect(Buffer.from(expected).includes(Buffer.from('\u{1F600}'))).toBe(true);
      expect(Buffer.from(expected).toString('hex')).toContain('efbfbd');
    });

    it('raw UTF-8 is copied as is, and invalid UTF-8 is replaced as a JS string would replace it', async () => {
      const bytes = Buffer.concat([
        Buffer.from('{"password":"'),
        Buffer.from('\u00e9\u4e2d\u{1F600}'),
        Buffer.from([0xc3, 0x28, 0xe2, 0x82, 0xed, 0xa0, 0x80, 0xf4, 0x90, 0x80, 0x80, 0xff, 0x41]),
        Buffer.from('","x":"\u00fc"}'),
      ]);
      const reply = await postJson(app.url, '/secret', bytes);
      const expected = JSON.parse(bytes.toString('utf8')) as { password: string; x: string };
      expect(reply.json).toEqual({ body: { password: secretOf(expected.password), x: expected.x }, live: 1 });
    });

    it('dot paths reach into objects, never into arrays; a path through a non-object is simply absent', async () => {
      const text = JSON.stringify({
        card: { number: '4111 1111', holder: 'A' },
        items: [{ password: 'in an array' }],
        deep: { a: { b: 'down', c: 1 } },
      });
      const reply = await postJson(app.url, '/secret', text);
      expect(reply.json).toEqual({
        body: {
          card: { number: secretOf('4111 1111'), holder: 'A' },
          items: [{ password: 'in an array' }],
          deep: { a: { b: secretOf('down'), c: 1 } },
        },
        live: 2,
      });
      const object = await postJson(app.url, '/secret', '{"items":{"password":"x"}}'); // an object this time
      expect(object.json).toEqual({ body: { items: { password: secretOf('x') } }, live: 1 });
      const absent = await postJson(app.url, '/secret', '{"card":"4111","deep":{"a":[1]}}');
      expect(absent.json).toEqual({ body: { card: '4111', deep: { a: [1] } }, live: 0 });
    });

    it('a missing field is absent, an empty one too (a SecretBuffer holds at least one byte)', async () => {
      const reply = await postJson(app.url, '/secret', '{"user":"ada","password":"","card":{}}');
      expect(reply.json).toEqual({ body: { user: 'ada', card: {} }, live: 0 });
    });

    it('a key sent twice keeps its last value, as JSON.parse does, and the earlier secrets are destroyed at once', async () => {
      const text = '{"password":"first","card":{"number":"1"},"password":"second","card":{"number":"2"},"card":{"other":3}}';
      const reply = await postJson(app.url, '/secret', text);
      expect(reply.json).toEqual({ body: { password: secretOf('second'), card: { other: 3 } }, live: 1 });
      const again = await postJson(app.url, '/secret', '{"password":"one","password":""}');
      expect(again.json).toEqual({ body: {}, live: 0 });
      // The type is judged on the value JSON.parse keeps, too.
      const fixed = await postJson(app.url, '/secret', '{"password":1,"card":{"number":[]},"password":"s","card":{"number":"n"}}');
      expect(fixed.json).toEqual({ body: { password: secretOf('s'), card: { number: secretOf('n') } }, live: 2 });
      const broken = await postJson(app.url, '/secret', '{"password":"s","password":{"a":"b"}}');
      expect(broken.status).toBe(400);
      expect(liveSecrets()).toBe(0);
    });

    it.each([
      ['a number', '{"password":12345}'],
      ['null', '{"password":null}'],
      ['true', '{"password":true}'],
      ['an object', '{"password":{"x":"y"}}'],
      ['an array', '{"password":["hunter2"]}'],
      ['an object on a path', '{"card":{"number":{"n":"4111"}}}'],
    ])('a listed field holding %s is 400 entity.field.invalid, and nothing is left alive', async (_what, text) => {
      const reply = await postJson(app.url, '/secret', `{"user":"x","pin":"early",${text.slice(1)}`);
      expect(reply.status).toBe(400);
      expect((reply.json as ErrorReply).error).toMatchObject({ status: 400, statusCode: 400, expose: true, type: 'entity.field.invalid', name: 'BadRequestError' });
      expect((reply.json as ErrorReply).error.message).toMatch(/^the field '(password|card\.number)' must be a string$/);
      expect(liveSecrets()).toBe(0);
    });

    it.each([
      ['a missing brace', '{"password":"MARKER-one","user":"MARKER-two"'],
      ['a bad token', '{"password":"MARKER-one", MARKER-two}'],
      ['a bad escape', '{"password":"MARKER-one\\x"}'],
      ['a raw control character', '{"password":"MARKER\none"}'],
      ['trailing text', '{"password":"MARKER-one"} MARKER-two'],
      ['a bad number', '{"password":"MARKER-one","n":01}'],
      ['a trailing comma', '{"password":"MARKER-one",}'],
      ['whitespace only', ' \n '],
    ])('bad JSON (%s) is 400 entity.parse.failed, no secret is left, and no body byte is in the error', async (_what, text) => {
      const reply = await postJson(app.url, '/secret', text);
      expect(reply.status).toBe(400);
      expect((reply.json as ErrorReply).error).toMatchObject({ status: 400, expose: true, type: 'entity.parse.failed' });
      expect(reply.text).not.toContain('MARKER');
      expect(liveSecrets()).toBe(0);
      const theirs = await postJson(app.url, '/json', text);
      expect(theirs.status).toBe(400); // express.json() refuses the same bodies
    });

    it('strict (the default) takes only an object or an array at the top, as express.json(); strict: false takes any JSON', async () => {
      for (const text of ['"hunter2"', '42', 'null']) {
        const reply = await postJson(app.url, '/secret', text);
        expect(reply.status).toBe(400);
        expect((reply.json as ErrorReply).error.type).toBe('entity.parse.failed');
        expect(reply.text).not.toContain('hunter2');
        const lax = await postJson(app.url, '/lax', text);
        expect(lax.json).toEqual({ body: JSON.parse(text), live: 0 });
      }
      const array = await postJson(app.url, '/secret', '[{"password":"x"}]');
      expect(array.json).toEqual({ body: [{ password: 'x' }], live: 0 });
    });

    it('an empty body is {} and a UTF-8 byte order mark is skipped, as express.json()', async () => {
      const empty = await postJson(app.url, '/secret', '');
      expect(empty.json).toEqual({ body: {}, live: 0 });
      expect((await postJson(app.url, '/json', '')).json).toEqual({});
      const bom = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('{"password":"pw"}')]);
      expect((await postJson(app.url, '/secret', bom)).json).toEqual({ body: { password: secretOf('pw') }, live: 1 });
      expect((await postJson(app.url, '/json', bom)).json).toEqual({ password: 'pw' });
    });
  });

  describe('urlencoded', () => {
    it('a listed parameter becomes a SecretBuffer; the rest is what express.urlencoded({ extended: false }) gives', async () => {
      const text = 'user=ada+lovelace&password=p%40ss+w%C3%B6rd%F0%9F%98%80&tag=a&tag=b&card.number=4111+1111&empty=&flag&x=%ZZ%4';
      const ours = await postForm(app.url, '/secret', text);
      const theirs = await postForm(app.url, '/form', text);
      const expected = { ...(theirs.json as Record<string, unknown>), password: secretOf('p@ss w\u00f6rd\u{1F600}'), 'card.number': secretOf('4111 1111') };
      expect(ours.json).toEqual({ body: expected, live: 2 });
      expect(Object.keys((ours.json as { body: object }).body)).toEqual(Object.keys(theirs.json as object)); // the same order
      expect(expected).toMatchObject({ tag: ['a', 'b'], empty: '', flag: '', x: '%ZZ%4', user: 'ada lovelace' });
    });

    it('percent-decodes byte by byte: multibyte UTF-8, raw UTF-8, %2B, and invalid sequences replaced as the URL Standard says', async () => {
      const value = Buffer.concat([
        Buffer.from('%E4%B8%AD%2B+%25%C3'),
        Buffer.from('\u00e9'),
        Buffer.from([0xe2, 0x82]),
        Buffer.from('%82%ff%41%'),
      ]);
      const body = Buffer.concat([Buffer.from('password='), value]);
      const reply = await postForm(app.url, '/secret', body);
      const expected = formValue(value);
      expect(reply.json).toEqual({ body: { password: secretOf(expected) }, live: 1 });
      expect(expected).toBe('\u4e2d+ %\ufffd\u00e9\ufffd\ufffd\ufffdA%');
      // Node's URLSearchParams (and querystring) give '\ufffd\ufffd' for '%C3\u00e9': on a malformed
      // sequence they fall back to a decoder that keeps only the low byte of each character.
    });

    it('a parameter name is decoded before it is matched (pass%77ord is password)', async () => {
      const reply = await postForm(app.url, '/secret', 'pass%77ord=x&card%2Enumber=4');
      expect(reply.json).toEqual({ body: { password: secretOf('x'), 'card.number': secretOf('4') }, live: 2 });
    });

    it('a listed parameter sent twice is 400 entity.field.invalid (express would make it an array); an empty one is absent', async () => {
      const twice = await postForm(app.url, '/secret', 'password=MARKER-a&password=MARKER-b');
      expect(twice.status).toBe(400);
      expect((twice.json as ErrorReply).error).toMatchObject({ type: 'entity.field.invalid', message: "the field 'password' was sent more than once" });
      expect(twice.text).not.toContain('MARKER');
      expect(liveSecrets()).toBe(0);
      const empty = await postForm(app.url, '/secret', 'password=&card.number&a=1');
      expect(empty.json).toEqual({ body: { a: '1' }, live: 0 });
    });

    it('a name is decoded once, by one decoder: a malformed %-sequence that URLSearchParams would read as a listed name is not one', async () => {
      // '%C3' then the raw bytes C2 A9 ('\u00a9'): the URL Standard's decoding is U+FFFD U+00A9; Node's
      // URLSearchParams keeps the low byte of each character and reads C3 A9, '\u00e9'.
      const body = Buffer.concat([Buffer.from('%C3'), Buffer.from([0xc2, 0xa9]), Buffer.from('=hunter2&other=1')]);
      expect([...new URLSearchParams(body.toString('utf8'))][0]?.[0]).toBe('\u00e9'); // the decoder that disagreed
      const reply = await postForm(app.url, '/accent', body);
      expect(reply.status).toBe(200);
      const answer = reply.json as { keys: string[]; type: string; body: Record<string, unknown>; live: number };
      expect(answer.type).toBe('undefined');
      expect(answer.keys).toEqual([formValue(Buffer.from([0x25, 0x43, 0x33, 0xc2, 0xa9])), 'other']);
      expect(answer.body).toEqual({ '\ufffd\u00a9': 'hunter2', other: '1' });
      // The same name spelled validly is the secret.
      const valid = await postForm(app.url, '/accent', '%C3%A9=hunter2');
      expect((valid.json as { body: unknown }).body).toEqual({ '\u00e9': secretOf('hunter2') });
    });

    it('values are decoded as the names are, by the URL Standard, whether listed or not', async () => {
      const raw = Buffer.concat([Buffer.from('%C3'), Buffer.from([0xc2, 0xa9]), Buffer.from('+%41%zz')]);
      const body = Buffer.concat([Buffer.from('a='), raw, Buffer.from('&password='), raw]);
      const reply = await postForm(app.url, '/secret', body);
      expect(reply.json).toEqual({ body: { a: formValue(raw), password: secretOf(formValue(raw)) }, live: 1 });
    });

    it('more than 1000 parameters is 413 parameters.too.many, as express.urlencoded()', async () => {
      const text = `password=x${'&a=1'.repeat(1000)}`;
      const reply = await postForm(app.url, '/secret', text);
      expect(reply.status).toBe(413);
      expect((reply.json as ErrorReply).error).toMatchObject({ type: 'parameters.too.many', status: 413 });
      expect((await postForm(app.url, '/form', text)).status).toBe(413);
      expect((await postForm(app.url, '/secret', `password=x${'&a=1'.repeat(999)}`)).status).toBe(200);
      expect(liveSecrets()).toBe(0);
    });
  });

  describe('which requests it reads', () => {
    it('a request whose type does not match passes through untouched: no req.body, the stream unread', async () => {
      const reply = await request(app.url, { path: '/through', body: 'password=x', headers: { 'content-type': 'text/plain' } });
      expect(reply.json).toEqual({ body: 'undefined', raw: 'password=x' });
      const none = await request(app.url, { path: '/through', body: '{"password":"x"}' }); // no Content-Type at all
      expect(none.json).toEqual({ body: 'undefined', raw: '{"password":"x"}' });
    });

    it('the type option: a +json suffix, a single type, or a function of the request', async () => {
      const vnd = await postJson(app.url, '/vnd', '{"password":"v"}', 'application/vnd.api+json');
      expect(vnd.json).toEqual({ body: { password: secretOf('v') }, live: 1 });
      expect((await postJson(app.url, '/vnd', '{"password":"v"}', 'application/json')).json).toEqual({ live: 0 }); // passed through: no body
      const form = await postForm(app.url, '/only-form', 'password=f');
      expect(form.json).toEqual({ body: { password: secretOf('f') }, live: 1 });
      const json = await postJson(app.url, '/only-form', '{"password":"f"}');
      expect(json.json).toEqual({ live: 0 }); // not read: req.body stays undefined, which JSON leaves out
      const yes = await request(app.url, { path: '/by-function', body: '{"password":"y"}', headers: { 'x-secret': 'yes', 'content-type': 'text/plain' } });
      expect(yes.json).toEqual({ body: { password: secretOf('y') }, live: 1 });
      const no = await request(app.url, { path: '/by-function', body: '{"password":"y"}', headers: { 'content-type': 'application/json' } });
      expect(no.json).toEqual({ live: 0 });
    });

    it('a body already read by another parser (req._body) is left alone', async () => {
      const reply = await postJson(app.url, '/after-json', '{"password":"x"}');
      expect(reply.json).toEqual({ type: 'string' });
    });

    it('charset: utf-8 in any case is read; any other is 415 charset.unsupported', async () => {
      const upper = await postJson(app.url, '/secret', '{"password":"c"}', 'application/json; charset="UTF-8"');
      expect(upper.json).toEqual({ body: { password: secretOf('c') }, live: 1 });
      for (const charset of ['utf-16', 'latin1']) {
        const reply = await postJson(app.url, '/secret', '{"password":"c"}', `application/json; charset=${charset}`);
        expect(reply.status).toBe(415);
        expect((reply.json as ErrorReply).error).toMatchObject({ type: 'charset.unsupported', charset, status: 415, name: 'UnsupportedMediaTypeError' });
        expect((reply.json as ErrorReply).error.message).toBe(`unsupported charset "${charset.toUpperCase()}"`);
      }
      const form = await request(app.url, { path: '/secret', body: 'password=c', headers: { 'content-type': 'application/x-www-form-urlencoded; charset=iso-8859-1' } });
      expect(form.status).toBe(415);
    });

    // [Content-Type, the Express majors whose express.json()/express.urlencoded() read the body anyway]
    const MALFORMED: [string, number[]][] = [
      ['application/json; charset = utf-8', [4, 5]],
      ['application/x-www-form-urlencoded; charset = utf-8', [4, 5]],
      ['application/json; foo', [5]],
      ['application/json; charset=utf-8;;', [5]],
      ['application/x-www-form-urlencoded; foo=bar baz', [5]],
      ['application/json; charset="utf-8', [5]],
      ['Application/JSON ; charset', [5]],
    ];
    it.each(MALFORMED)('%j, parameters that do not parse: 415 content-type.invalid, and the parsers after it never read the password', async (contentType, lenient) => {
      const body = contentType.toLowerCase().includes('urlencoded') ? 'password=MARKER-pw' : '{"password":"MARKER-pw"}';
      const bare = await request(app.url, { path: '/bare-chain', body, headers: { 'content-type': contentType } });
      expect((bare.json as { type: string }).type).toBe(lenient.includes(major.major) ? 'string' : 'undefined'); // the danger is real
      const reply = await request(app.url, { path: '/chain', body, headers: { 'content-type': contentType } });
      expect(reply.status).toBe(415);
      expect((reply.json as ErrorReply).error).toMatchObject({ status: 415, statusCode: 415, expose: true, type: 'content-type.invalid', name: 'UnsupportedMediaTypeError' });
      expect((reply.json as ErrorReply).error.message).toMatch(/^malformed Content-Type parameters/);
      expect(reply.text).not.toContain('MARKER');
      expect(reply.text).not.toContain('foo');
      expect(liveSecrets()).toBe(0);
    });

    it.each([
      'application/json;charset=utf-8',
      'application/json ; charset="utf-8" ; foo=bar',
      'application/json;',
      'application/x-www-form-urlencoded;charset=UTF-8',
    ])('%j, well formed: read, and the password a SecretBuffer', async (contentType) => {
      const body = contentType.includes('urlencoded') ? 'password=pw' : '{"password":"pw"}';
      const reply = await request(app.url, { path: '/chain', body, headers: { 'content-type': contentType } });
      expect(reply.json).toEqual({ type: 'object', live: 1 });
    });

    it('a request whose stream has an encoding set is 500 stream.encoding.set, as raw-body says', async () => {
      const reply = await postJson(app.url, '/encoded', '{"password":"x"}');
      expect(reply.status).toBe(500);
      expect((reply.json as ErrorReply).error).toMatchObject({ type: 'stream.encoding.set', expose: false, name: 'InternalServerError' });
    });

    it('a compressed body is 415 encoding.unsupported: a decompressor keeps what it inflated', async () => {
      const reply = await request(app.url, { path: '/secret', body: 'x', headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' } });
      expect(reply.status).toBe(415);
      expect((reply.json as ErrorReply).error).toMatchObject({ type: 'encoding.unsupported', encoding: 'gzip' });
    });
  });

  describe('limit', () => {
    it('a body of exactly the limit is read; the limit takes bytes or a size string', async () => {
      const fits = `{"password":"${'x'.repeat(64 - 15)}"}`;
      expect(Buffer.byteLength(fits)).toBe(64);
      expect((await postJson(app.url, '/small', fits)).status).toBe(200);
      expect((await postJson(app.url, '/small', `${fits} `)).status).toBe(413);
      expect((await postJson(app.url, '/small-text', `{"password":"${'x'.repeat(1024 - 15)}"}`)).status).toBe(200);
      expect((await postJson(app.url, '/small-text', `{"password":"${'x'.repeat(1025 - 15)}"}`)).status).toBe(413);
    });

    it('over the limit by Content-Length: 413 before a byte of the body is sent, and the connection closes', async () => {
      const { req, reply } = openPost(app.url, '/small', { 'content-type': 'application/json', 'content-length': '65' });
      req.flushHeaders(); // headers only: the answer must come without the body
      const answer = await reply;
      expect(answer.status).toBe(413);
      expect((answer.json as ErrorReply).error).toMatchObject({ type: 'entity.too.large', limit: 64, length: 65, expected: 65, status: 413, expose: true, name: 'PayloadTooLargeError' });
      expect(answer.headers.connection).toBe('close');
      await answer.socketClosed;
      req.destroy();
    });

    it('over the limit while chunked: 413 as soon as the count passes it, with the request still open', async () => {
      const { req, reply } = openPost(app.url, '/small', { 'content-type': 'application/json' });
      req.write(`{"password":"${'y'.repeat(40)}`);
      req.write('z'.repeat(40)); // 93 bytes, never ended
      const answer = await reply;
      expect(answer.status).toBe(413);
      expect((answer.json as ErrorReply).error).toMatchObject({ type: 'entity.too.large', limit: 64, received: 93 });
      expect(answer.headers.connection).toBe('close');
      await answer.socketClosed; // the server hung up rather than read on
      expect(liveSecrets()).toBe(0);
      req.destroy();
    });

    it('a client that goes away mid-body: 400 request.aborted reaches the error handler, and nothing is kept', async () => {
      const before = app.errors.length;
      const { req, reply } = openPost(app.url, '/secret', { 'content-type': 'application/json', 'content-length': '100' });
      reply.catch(() => undefined); // there is no reply to a request that was abandoned
      req.write('{"password":"half of it');
      await new Promise((resolve) => setTimeout(resolve, 20));
      req.destroy();
      await vi.waitFor(() => expect(app.errors.length).toBe(before + 1));
      expect(app.errors.at(-1)).toMatchObject({ status: 400, type: 'request.aborted', code: 'ECONNABORTED', expected: 100, received: 23 });
      expect(app.errors.at(-1)).toBeInstanceOf(HttpError);
      expect(liveSecrets()).toBe(0);
    });

    it('the default limit is 100kb, as express.json()', async () => {
      const at = `{"a":"${'x'.repeat(102400 - 8)}"}`;
      expect(Buffer.byteLength(at)).toBe(102400);
      expect((await postJson(app.url, '/secret', at)).status).toBe(200);
      expect((await postJson(app.url, '/secret', `${at} `)).status).toBe(413);
    });
  });

  describe('lifetime', () => {
    it('a secret is destroyed when its response finishes', async () => {
      const reply = await postJson(app.url, '/hold', '{"password":"short-lived"}');
      expect(reply.json).toEqual({ destroyed: false }); // alive in the handler
      const secret = held.at(-1) as SecretBuffer;
      await vi.waitFor(() => expect(secret.destroyed).toBe(true));
      expect(() => keep(secret)).toThrow(expect.objectContaining({ code: 'ERR_DESTROYED' }));
    });

    it('keep() takes a secret out of that: it outlives the response until destroy(), and a second keep() is harmless', async () => {
      const reply = await postJson(app.url, '/keep', '{"password":"long-lived","pin":"1234"}');
      expect(reply.json).toEqual({ same: true });
      const secret = kept.at(-1) as SecretBuffer;
      const pin = held.at(-1) as SecretBuffer;
      await vi.waitFor(() => expect(pin.destroyed).toBe(true)); // the one not kept went with the response
      expect(secret.destroyed).toBe(false);
      expect(secret.frozen).toBe(true);
      expect(hexOf(secret)).toBe(Buffer.from('long-lived').toString('hex'));
      secret.destroy();
      expect(liveSecrets()).toBe(0);
    });

    it('a secret is destroyed when the client goes away before any response', async () => {
      const before = held.length;
      const req = http.request(new URL('/stall', app.url), { method: 'POST', headers: { 'content-type': 'application/json' }, agent: false });
      req.on('error', () => undefined);
      req.end('{"password":"abandoned"}');
      await vi.waitFor(() => expect(held.length).toBe(before + 1)); // the handler has it, and never answers
      const secret = held.at(-1) as SecretBuffer;
      expect(secret.destroyed).toBe(false);
      req.destroy();
      await vi.waitFor(() => expect(secret.destroyed).toBe(true));
    });
  });

  it('errors are HttpErrors in body-parser\'s shape', async () => {
    const reply = await postJson(app.url, '/secret', '{');
    const error = (reply.json as ErrorReply).error;
    expect(Object.keys(error).sort()).toEqual(['expose', 'message', 'name', 'status', 'statusCode', 'type']);
    const local = new HttpError(400, 'entity.parse.failed', 'x');
    expect(local).toBeInstanceOf(Error);
    expect({ ...local, name: local.name }).toEqual({ status: 400, statusCode: 400, expose: true, type: 'entity.parse.failed', name: 'BadRequestError' });
  });
});

