// verifyWebhook() on real Express 4 and 5 servers for every scheme: signatures made by
// each sender's own library or scheme (the stripe package, the standardwebhooks package,
// node:crypto for GitHub's documented form), tampered and replayed deliveries refused with
// one and the same 401, several signatures and key rotation, the body bounded, and the
// verified raw body left for the handler. stripeCryptoProvider() with the real stripe
// package's constructEvent.
import { createHmac, randomBytes } from 'node:crypto';

import Stripe from 'stripe';
import { Webhook } from 'standardwebhooks';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { errorCode } from '@strongroom/testkit';
import { Enclave, SecretBuffer } from '@strongroom/enclave';

import { stripeCryptoProvider, verifyWebhook, type VerifyWebhookOptions } from '../src/index.js';
import { MAX_SIGNATURES } from '../src/webhooks.js';
import { MAJORS, startApp, type RunningApp } from './helpers.js';
import type { Express } from 'express';

const running: RunningApp[] = [];
afterEach(async () => {
  for (const server of running.splice(0)) await server.close();
});

const guarded = (text: string | Uint8Array) => Enclave.from(Buffer.from(text));
const now = () => Math.floor(Date.now() / 1000);
const BODY = JSON.stringify({ id: 'evt_1', object: 'event', type: 'ping', data: { n: 1 } });

interface Answer {
  status: number;
  text: string;
}

describe.each(MAJORS)('$name', (major) => {
  const { express } = major;
  async function serve(options: VerifyWebhookOptions, before?: (app: Express) => void): Promise<(headers: Record<string, string>, body?: string) => Promise<Answer>> {
    const server = await startApp(major, (app) => {
      before?.(app);
      app.post('/hook', verifyWebhook(options), (req, res) => {
        const r = req as unknown as { body: Buffer; webhook: unknown };
        res.json({ raw: Buffer.isBuffer(r.body) ? r.body.toString() : null, webhook: r.webhook });
      });
    });
    running.push(server);
    return async (headers, body = BODY) => {
      const response = await fetch(`${server.url}/hook`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });
      return { status: response.status, text: await response.text() };
    };
  }

  const REFUSED = { status: 401 };
  function expectRefused(answer: Answer): void {
    expect(answer).toMatchObject(REFUSED);
    expect(answer.text).toContain('webhook signature verification failed');
  }

  describe('github', () => {
    const key = randomBytes(20).toString('hex');
    const sign = (body: string, k = key) => `sha256=${createHmac('sha256', k).update(body).digest('hex')}`;

    it('a good signature: the raw body and the delivery id reach the handler', async () => {
      const post = await serve({ secret: guarded(key), scheme: 'github' });
      const answer = await post({ 'x-hub-signature-256': sign(BODY), 'x-github-delivery': 'd-1' });
      expect(answer.status).toBe(200);
      expect(JSON.parse(answer.text)).toEqual({ raw: BODY, webhook: { scheme: 'github', id: 'd-1' } });
    });

    it('forged, missing, wrong prefix, truncated, upper-case-free hex only of the right length: 401, all alike', async () => {
      const post = await serve({ secret: guarded(key), scheme: 'github' });
      const good = sign(BODY);
      for (const headers of [
        { 'x-hub-signature-256': sign(BODY, 'other') },
        {},
        { 'x-hub-signature-256': good.replace('sha256=', 'sha1=') },
        { 'x-hub-signature-256': good.slice(0, 39) },
        { 'x-hub-signature-256': `${good}00` },
      ]) {
        expectRefused(await post(headers));
      }
      expectRefused(await post({ 'x-hub-signature-256': good }, BODY.replace('ping', 'pong')));
    });

    it('hex in lower case only (the one canonical spelling): the same tag in upper case is 401', async () => {
      const post = await serve({ secret: guarded(key), scheme: 'github' });
      const good = sign(BODY);
      expect((await post({ 'x-hub-signature-256': good })).status).toBe(200);
      expectRefused(await post({ 'x-hub-signature-256': `sha256=${good.slice(7).toUpperCase()}` }));
      const letter = good.slice(7).search(/[a-f]/) + 7; // one letter of the hex in upper case
      expectRefused(await post({ 'x-hub-signature-256': `${good.slice(0, letter)}${good.charAt(letter).toUpperCase()}${good.slice(letter + 1)}` }));
    });

    it('key rotation: either key of the list verifies', async () => {
      const post = await serve({ secret: [guarded('new-key-0123456789'), guarded(key)], scheme: 'github' });
      expect((await post({ 'x-hub-signature-256': sign(BODY) })).status).toBe(200);
      expect((await post({ 'x-hub-signature-256': sign(BODY, 'new-key-0123456789') })).status).toBe(200);
    });

    it('a body over the limit is 413; a body parsed before is a 500 that says where to mount', async () => {
      const post = await serve({ secret: guarded(key), scheme: 'github', limit: '1kb' });
      const big = JSON.stringify({ pad: 'x'.repeat(2000) });
      expect((await post({ 'x-hub-signature-256': sign(big) }, big)).status).toBe(413);
      const parsedFirst = await serve({ secret: guarded(key), scheme: 'github' }, (app) => app.use(express.json()));
      const answer = await parsedFirst({ 'x-hub-signature-256': sign(BODY) });
      expect(answer.status).toBe(500);
    });
  });

  describe('stripe', () => {
    const key = `whsec_${randomBytes(24).toString('base64')}`;
    const header = (timestamp = now(), secret = key, payload = BODY) => Stripe.webhooks.generateTestHeaderString({ payload, secret, timestamp });

    it("a header made by the stripe package verifies; the timestamp reaches the handler", async () => {
      const post = await serve({ secret: guarded(key), scheme: 'stripe' });
      const t = now();
      const answer = await post({ 'stripe-signature': header(t) });
      expect(answer.status).toBe(200);
      expect(JSON.parse(answer.text).webhook).toEqual({ scheme: 'stripe', timestamp: t });
    });

    it('replayed (older than the tolerance), from the future, forged, without v1: 401', async () => {
      const post = await serve({ secret: guarded(key), scheme: 'stripe', tolerance: 60 });
      expectRefused(await post({ 'stripe-signature': header(now() - 120) }));
      expectRefused(await post({ 'stripe-signature': header(now() + 120) }));
      expectRefused(await post({ 'stripe-signature': header(now(), 'whsec_other') }));
      expectRefused(await post({ 'stripe-signature': `t=${now()}` }));
      expectRefused(await post({ 'stripe-signature': header() }, BODY.replace('evt_1', 'evt_2')));
      expect((await post({ 'stripe-signature': header(now() - 30) })).status).toBe(200); // inside the tolerance
    });

    it('several v1 signatures (Stripe rolling its key): one good one is enough', async () => {
      const post = await serve({ secret: guarded(key), scheme: 'stripe' });
      const t = now();
      const good = header(t).split(',').find((part) => part.startsWith('v1='))!;
      const bad = header(t, 'whsec_old').split(',').find((part) => part.startsWith('v1='))!;
      expect((await post({ 'stripe-signature': `t=${t},${bad},${good}` })).status).toBe(200);
      expectRefused(await post({ 'stripe-signature': `t=${t},${bad},${bad}` }));
      expectRefused(await post({ 'stripe-signature': `t=${t},${bad},v1=${good.slice(3).toUpperCase()}` }));
    });

    it(`more than ${MAX_SIGNATURES} distinct v1 tags are refused before any MAC; repeats count once; a good one among a few verifies`, async () => {
      const post = await serve({ secret: guarded(key), scheme: 'stripe' });
      const t = now();
      const good = header(t).split(',').find((part) => part.startsWith('v1='))!;
      const junk = Array.from({ length: 200 }, () => `v1=${randomBytes(32).toString('hex')}`);
      const macs = [vi.spyOn(Enclave.prototype, 'hmac'), vi.spyOn(Enclave.prototype, 'hmacVerify')];
      const computed = () => macs.reduce((sum, spy) => sum + spy.mock.calls.length, 0);
      try {
        expectRefused(await post({ 'stripe-signature': `t=${t},${junk.join(',')},${good}` }));
        expect(computed()).toBe(0); // no MAC of the body at all
        expect((await post({ 'stripe-signature': `t=${t},${Array(200).fill(good).join(',')}` })).status).toBe(200);
        expect(computed()).toBe(1); // 200 copies of one tag: one comparison
        const few = junk.slice(0, MAX_SIGNATURES - 1);
        expect((await post({ 'stripe-signature': `t=${t},${few.join(',')},${good}` })).status).toBe(200);
        expect(computed()).toBe(1 + MAX_SIGNATURES);
        // the hmac that hands a MAC to JS is never used to verify
        expect(macs[0]!.mock.calls).toHaveLength(0);
      } finally {
        for (const spy of macs) spy.mockRestore();
      }
    });
  });

  describe('standard-webhooks', () => {
    const raw = randomBytes(24);
    const whsec = `whsec_${raw.toString('base64')}`;

    it("the standardwebhooks package's signature verifies, with the key given as whsec_ text or as raw bytes", async () => {
      const sender = new Webhook(whsec);
      const t = new Date();
      const signatureHeader = sender.sign('msg_1', t, BODY);
      for (const secret of [guarded(whsec), SecretBuffer.from(Buffer.from(raw))]) {
        const post = await serve({ secret, scheme: 'standard-webhooks' });
        const answer = await post({ 'webhook-id': 'msg_1', 'webhook-timestamp': String(Math.floor(t.getTime() / 1000)), 'webhook-signature': signatureHeader });
        expect(answer.status).toBe(200);
        expect(JSON.parse(answer.text).webhook).toEqual({ scheme: 'standard-webhooks', id: 'msg_1', timestamp: Math.floor(t.getTime() / 1000) });
      }
    });

    it('another id, an old timestamp, several signatures with one good', async () => {
      const sender = new Webhook(whsec);
      const post = await serve({ secret: guarded(whsec), scheme: 'standard-webhooks' });
      const old = new Date(Date.now() - 600_000);
      const seconds = (date: Date) => String(Math.floor(date.getTime() / 1000));
      const t = new Date();
      expectRefused(await post({ 'webhook-id': 'msg_2', 'webhook-timestamp': seconds(t), 'webhook-signature': sender.sign('msg_1', t, BODY) }));
      expectRefused(await post({ 'webhook-id': 'msg_1', 'webhook-timestamp': seconds(old), 'webhook-signature': sender.sign('msg_1', old, BODY) }));
      const other = new Webhook(`whsec_${randomBytes(24).toString('base64')}`).sign('msg_1', t, BODY);
      const both = `${other} ${sender.sign('msg_1', t, BODY)}`;
      expect((await post({ 'webhook-id': 'msg_1', 'webhook-timestamp': seconds(t), 'webhook-signature': both })).status).toBe(200);
    });

    it(`hundreds of signatures are refused before any MAC, for every key; up to ${MAX_SIGNATURES} are each tried`, async () => {
      const sender = new Webhook(whsec);
      const post = await serve({ secret: [guarded(`whsec_${randomBytes(24).toString('base64')}`), guarded(whsec)], scheme: 'standard-webhooks' });
      const t = new Date();
      const stamp = String(Math.floor(t.getTime() / 1000));
      const junk = Array.from({ length: 200 }, () => `v1,${randomBytes(32).toString('base64')}`);
      const macs = [vi.spyOn(Enclave.prototype, 'hmac'), vi.spyOn(Enclave.prototype, 'hmacVerify')];
      const computed = () => macs.reduce((sum, spy) => sum + spy.mock.calls.length, 0);
      try {
        const many = `${junk.join(' ')} ${sender.sign('msg_1', t, BODY)}`;
        expectRefused(await post({ 'webhook-id': 'msg_1', 'webhook-timestamp': stamp, 'webhook-signature': many }));
        expect(computed()).toBe(0);
        const few = `${junk.slice(0, MAX_SIGNATURES - 1).join(' ')} ${sender.sign('msg_1', t, BODY)}`;
        expect((await post({ 'webhook-id': 'msg_1', 'webhook-timestamp': stamp, 'webhook-signature': few })).status).toBe(200);
        // the first key fails every tag, the second matches the last one
        expect(computed()).toBe(2 * MAX_SIGNATURES);
        expect(macs[0]!.mock.calls).toHaveLength(0);
      } finally {
        for (const spy of macs) spy.mockRestore();
      }
    });
  });

  describe('hmac-sha256 / hmac-sha512 with a header, a prefix and an encoding', () => {
    it.each([
      ['hmac-sha256', 'hex'],
      ['hmac-sha512', 'base64'],
      ['hmac-sha512', 'base64url'],
    ] as const)('%s in %s', async (scheme, encoding) => {
      const key = randomBytes(32);
      const post = await serve({ secret: SecretBuffer.from(Buffer.from(key)), scheme, header: 'X-Signature', prefix: 'v=', encoding });
      const tag = createHmac(scheme.slice(5), key).update(BODY).digest(encoding);
      expect((await post({ 'x-signature': `v=${tag}` })).status).toBe(200);
      expectRefused(await post({ 'x-signature': tag }));
      expectRefused(await post({ 'x-signature': `v=${createHmac(scheme.slice(5), randomBytes(32)).update(BODY).digest(encoding)}` }));
    });

    it('the spellings accepted: hex in lower case only; base64 padded or not, but canonical', async () => {
      const key = randomBytes(32);
      const hex = await serve({ secret: SecretBuffer.from(Buffer.from(key)), scheme: 'hmac-sha256', header: 'X-Signature' });
      const tag = createHmac('sha256', key).update(BODY).digest();
      expect((await hex({ 'x-signature': tag.toString('hex') })).status).toBe(200);
      expectRefused(await hex({ 'x-signature': tag.toString('hex').toUpperCase() }));
      const b64 = await serve({ secret: SecretBuffer.from(Buffer.from(key)), scheme: 'hmac-sha256', header: 'X-Signature', encoding: 'base64' });
      const padded = tag.toString('base64');
      expect(padded).toMatch(/[^=]=$/); // 32 bytes: one '=' of padding
      expect((await b64({ 'x-signature': padded })).status).toBe(200);
      expect((await b64({ 'x-signature': padded.slice(0, -1) })).status).toBe(200);
      const last = padded.at(-2)!;
      const sibling = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'; // the same bytes, other padding bits
      const other = sibling[sibling.indexOf(last) ^ 1]!;
      expectRefused(await b64({ 'x-signature': `${padded.slice(0, -2)}${other}=` }));
      expectRefused(await b64({ 'x-signature': `${padded}=` }));
      expectRefused(await b64({ 'x-signature': `${padded.slice(0, 10)} ${padded.slice(10)}` }));
    });
  });
});

describe('start-up errors', () => {
  const secret = guarded('k');
  it.each([
    ['no scheme', { secret }],
    ['an unknown scheme', { secret, scheme: 'gitlab' }],
    ['no secret', { scheme: 'github' }],
    ['a string secret', { secret: 'whsec_x', scheme: 'stripe' }],
    ['a misspelt option', { secret, scheme: 'github', tolerence: 5 }],
    ['header on a fixed scheme', { secret, scheme: 'github', header: 'x-sig' }],
    ['hmac without a header', { secret, scheme: 'hmac-sha256' }],
    ['a bad encoding', { secret, scheme: 'hmac-sha256', header: 'x', encoding: 'base32' }],
    ['a bad limit', { secret, scheme: 'github', limit: 'lots' }],
    ['tolerance 0', { secret, scheme: 'stripe', tolerance: 0 }],
    ['a whsec_ key that is not base64', { secret: guarded('whsec_***'), scheme: 'standard-webhooks' }],
    ['a header name with a space and a colon', { secret, scheme: 'hmac-sha256', header: 'X Sig: ' }],
    ['a header name with a colon', { secret, scheme: 'hmac-sha256', header: 'x-sig:' }],
    ['a header name that is not ASCII', { secret, scheme: 'hmac-sha512', header: 'x-signatur\u00e9' }],
    ['a header name with a line break', { secret, scheme: 'hmac-sha256', header: 'x-sig\r\nx-other' }],
  ])('%s: ERR_INVALID_ARG', (_name, options) => {
    expect(errorCode(() => verifyWebhook(options as never))).toBe('ERR_INVALID_ARG');
  });

  it("a Standard Webhooks key of 'whsec_' and nothing after it is refused: it is empty, not the six bytes 'whsec_'", () => {
    for (const key of [guarded('whsec_'), SecretBuffer.from(Buffer.from('whsec_'))]) {
      expect(errorCode(() => verifyWebhook({ secret: key, scheme: 'standard-webhooks' }))).toBe('ERR_INVALID_ARG');
      expect(() => verifyWebhook({ secret: [guarded('k'), key], scheme: 'standard-webhooks' })).toThrow(/empty/);
    }
  });

  it('header names are RFC 9110 tokens, in any case', () => {
    expect(verifyWebhook({ secret, scheme: 'hmac-sha256', header: "X-Sig_1.~!#$%&'*+^`|" }).name).toBe('strongroomVerifyWebhook');
  });

  it('the middleware is a named function', () => {
    expect(verifyWebhook({ secret, scheme: 'github' }).name).toBe('strongroomVerifyWebhook');
  });
});

describe('stripeCryptoProvider()', () => {
  it("the stripe package's constructEvent verifies with the HMAC computed natively", async () => {
    const key = `whsec_${randomBytes(24).toString('base64')}`;
    const provider = stripeCryptoProvider(guarded(key));
    const header = Stripe.webhooks.generateTestHeaderString({ payload: BODY, secret: key });
    expect(Stripe.webhooks.constructEvent(BODY, header, 'strongroom', 300, provider)).toMatchObject({ id: 'evt_1' });
    expect(await Stripe.webhooks.constructEventAsync(BODY, header, 'strongroom', 300, provider)).toMatchObject({ id: 'evt_1' });
    const wrong = stripeCryptoProvider(guarded('whsec_other'));
    expect(() => Stripe.webhooks.constructEvent(BODY, header, 'strongroom', 300, wrong)).toThrow();
  });

  it('takes one key: an array (which would verify with its first key only) is ERR_INVALID_ARG', () => {
    expect(errorCode(() => stripeCryptoProvider([guarded('whsec_a'), guarded('whsec_b')] as never))).toBe('ERR_INVALID_ARG');
    expect(errorCode(() => stripeCryptoProvider([guarded('whsec_a')] as never))).toBe('ERR_INVALID_ARG');
  });
});
