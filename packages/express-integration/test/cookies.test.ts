// signCookie/unsignCookie and signedCookies(): the cookie-signature format under guarded
// keys, interoperable both ways with cookie-signature and with cookie-parser on real
// Express 4 and 5 servers; tampered cookies are false; keys rotate.
import { randomBytes } from 'node:crypto';

import cookieParser from 'cookie-parser';
import signature from 'cookie-signature';
import { afterEach, describe, expect, it } from 'vitest';
import { errorCode } from '@strongroom/testkit';
import { Enclave, SecretBuffer } from '@strongroom/enclave';

import { signCookie, signedCookies, unsignCookie } from '../src/index.js';
import { MAJORS, startApp, type RunningApp } from './helpers.js';

const running: RunningApp[] = [];
afterEach(async () => {
  for (const server of running.splice(0)) await server.close();
});

/** A key as text (cookie-parser's secrets are strings) and the same bytes guarded. */
function keyPair(): { text: string; buffer: SecretBuffer; enclave: Enclave } {
  const text = randomBytes(32).toString('hex');
  return { text, buffer: SecretBuffer.from(Buffer.from(text)), enclave: Enclave.from(Buffer.from(text)) };
}

describe('the format', () => {
  const { text, buffer, enclave } = keyPair();

  it('signCookie gives what cookie-signature gives, for SecretBuffer and Enclave keys', () => {
    for (const value of ['user-42', '', 'ünïcödé; = , "quoted"', 'a.b.c']) {
      const expected = `s:${signature.sign(value, text)}`;
      expect(signCookie(value, buffer)).toBe(expected);
      expect(signCookie(value, enclave)).toBe(expected);
      expect(unsignCookie(expected, buffer)).toBe(value);
      expect(signature.unsign(signCookie(value, enclave).slice(2), text)).toBe(value);
    }
  });

  it('a tampered value or signature, another key, a non-canonical signature: false', () => {
    const signed = signCookie('user-42', buffer);
    const [value, tag] = signed.slice(2).split('.') as [string, string];
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
    const last = tag.at(-1)!;
    for (const bad of [`s:user-43.${tag}`, `s:${value}.${tag.slice(0, -1)}`, `s:${value}.${tag.slice(0, -1)}${alphabet[alphabet.indexOf(last) ^ 1]}`, `s:${value}.${tag}=`, `s:${value}`, 's:']) {
      expect(unsignCookie(bad, buffer)).toBe(false);
    }
    expect(unsignCookie(signed, keyPair().buffer)).toBe(false);
    expect(unsignCookie('plain', buffer)).toBe('plain');
  });

  it('rotation: the first key signs, any verifies', () => {
    const old = keyPair();
    const signed = signCookie('v', old.enclave);
    expect(unsignCookie(signed, [buffer, old.enclave])).toBe('v');
    expect(signCookie('v', [buffer, old.enclave])).toBe(signCookie('v', buffer));
  });

  it('keys must be guarded: a string or a destroyed buffer is ERR_INVALID_ARG', () => {
    const destroyed = SecretBuffer.random(32);
    destroyed.destroy();
    expect(errorCode(() => signCookie('v', text as never))).toBe('ERR_INVALID_ARG');
    expect(errorCode(() => signCookie('v', destroyed))).toBe('ERR_INVALID_ARG');
    expect(errorCode(() => signCookie('v', []))).toBe('ERR_INVALID_ARG');
    expect(errorCode(() => signCookie(42 as never, buffer))).toBe('ERR_INVALID_ARG');
    expect(errorCode(() => signedCookies({ secrets: buffer } as never))).toBe('ERR_INVALID_ARG');
    expect(errorCode(() => signedCookies({} as never))).toBe('ERR_INVALID_ARG');
  });
});

describe.each(MAJORS)('$name', (major) => {
  const { text, enclave } = keyPair();

  it("our signedCookies() reads what Express's res.cookie({ signed }) with cookie-parser wrote", async () => {
    const w = await startApp(major, (writer) => {
      writer.use(cookieParser(text));
      writer.get('/set', (_req, res) => {
        res.cookie('session', 'user-42; role=admin', { signed: true });
        res.end();
      });
    });
    const r = await startApp(major, (reader) => {
      reader.use(signedCookies({ secret: enclave }));
      reader.get('/get', (req, res) => {
        const q = req as unknown as { signedCookies: Record<string, unknown>; cookies: Record<string, unknown> };
        res.json({ signed: { ...q.signedCookies }, plain: { ...q.cookies } });
      });
    });
    running.push(w, r);
    const setCookie = (await fetch(`${w.url}/set`)).headers.get('set-cookie')!;
    const pair = setCookie.split(';')[0]!;
    const answer = await (await fetch(`${r.url}/get`, { headers: { cookie: `${pair}; theme=dark` } })).json();
    expect(answer).toEqual({ signed: { session: 'user-42; role=admin' }, plain: { theme: 'dark' } });
    const tampered = pair.replace('user-42', 'user-43');
    expect(await (await fetch(`${r.url}/get`, { headers: { cookie: tampered } })).json()).toEqual({ signed: { session: false }, plain: {} });
  });

  it('cookie-parser reads what signCookie() wrote through res.cookie()', async () => {
    const w = await startApp(major, (writer) => {
      writer.get('/set', (_req, res) => {
        res.cookie('session', signCookie('user-7', enclave));
        res.end();
      });
    });
    const r = await startApp(major, (reader) => {
      reader.use(cookieParser(text));
      reader.get('/get', (req, res) => res.json((req as unknown as { signedCookies: unknown }).signedCookies));
    });
    running.push(w, r);
    const pair = (await fetch(`${w.url}/set`)).headers.get('set-cookie')!.split(';')[0]!;
    expect(await (await fetch(`${r.url}/get`, { headers: { cookie: pair } })).json()).toEqual({ session: 'user-7' });
  });
});
