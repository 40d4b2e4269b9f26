// signJwt/verifyJwt and jwtAuth(): HS256 and HS512 under guarded keys, interoperable with
// jose both ways; expired, not-yet-valid, forged, 'alg: none', algorithm-confused and
// wrongly-claimed tokens refused with their own codes; the middleware on real Express 4
// and 5 servers answers 401 with WWW-Authenticate and never says why.
import { randomBytes } from 'node:crypto';

import { afterEach, describe, expect, it } from 'vitest';
import { jwtVerify, SignJWT, UnsecuredJWT } from 'jose';
import { errorCode } from '@strongroom/testkit';
import { Enclave, SecretBuffer } from '@strongroom/enclave';

import { jwtAuth, signJwt, verifyJwt, type JwtAlgorithm } from '../src/index.js';
import { MAJORS, startApp, type RunningApp } from './helpers.js';

const running: RunningApp[] = [];
afterEach(async () => {
  for (const server of running.splice(0)) await server.close();
});

/** A key as a guarded SecretBuffer and an Enclave, and (for the jose oracle only) a heap copy. */
function keyPair(bytes = 64): { raw: Uint8Array; buffer: SecretBuffer; enclave: Enclave } {
  const raw = randomBytes(bytes);
  return { raw: new Uint8Array(raw), buffer: SecretBuffer.from(Buffer.from(raw)), enclave: Enclave.from(Buffer.from(raw)) };
}

const now = () => Math.floor(Date.now() / 1000);

describe.each(['HS256', 'HS512'] as JwtAlgorithm[])('%s', (alg) => {
  it.each(['SecretBuffer', 'Enclave'] as const)('signed with a %s, verified by jose and by verifyJwt', async (kind) => {
    const { raw, buffer, enclave } = keyPair();
    const key = kind === 'Enclave' ? enclave : buffer;
    const token = signJwt({ sub: 'user-1', role: 'admin' }, key, { algorithm: alg, expiresIn: 60, issuer: 'strongroom', audience: 'api' });
    const { payload, protectedHeader } = await jwtVerify(token, raw, { algorithms: [alg], issuer: 'strongroom', audience: 'api' });
    expect(protectedHeader).toEqual({ alg, typ: 'JWT' });
    expect(payload).toMatchObject({ sub: 'user-1', role: 'admin', iss: 'strongroom', aud: 'api' });
    expect(payload.exp! - payload.iat!).toBe(60);
    expect(verifyJwt(token, key, { algorithms: [alg], issuer: 'strongroom', audience: ['other', 'api'] })).toEqual(payload);
  });

  it('a token jose signed verifies here, with a SecretBuffer and with an Enclave', async () => {
    const { raw, buffer, enclave } = keyPair();
    const token = await new SignJWT({ scope: 'read' }).setProtectedHeader({ alg }).setIssuedAt().setExpirationTime('2m').setSubject('u').sign(raw);
    for (const key of [buffer, enclave]) expect(verifyJwt(token, key, { algorithms: [alg], subject: 'u' })).toMatchObject({ scope: 'read', sub: 'u' });
  });
});

describe('refusals', () => {
  const { raw, buffer } = keyPair();
  const options = { algorithms: ['HS256'] as JwtAlgorithm[] };
  const sign = (payload: Record<string, unknown>, header: Record<string, unknown> = { alg: 'HS256' }) =>
    new SignJWT(payload).setProtectedHeader(header as { alg: string }).sign(raw);

  it('expired, and within the clock tolerance', async () => {
    const token = await sign({ exp: now() - 10 });
    expect(errorCode(() => verifyJwt(token, buffer, options))).toBe('ERR_JWT_EXPIRED');
    expect(errorCode(() => verifyJwt(token, buffer, { ...options, clockTolerance: 30 }))).toBeUndefined();
  });

  it('not yet valid, and within the clock tolerance', async () => {
    const token = await sign({ nbf: now() + 10 });
    expect(errorCode(() => verifyJwt(token, buffer, options))).toBe('ERR_JWT_NOT_YET_VALID');
    expect(errorCode(() => verifyJwt(token, buffer, { ...options, clockTolerance: 30 }))).toBeUndefined();
  });

  it('maxTokenAge needs iat and refuses an old token', async () => {
    expect(errorCode(() => verifyJwt(signJwt({}, buffer, { currentDate: new Date(Date.now() - 120_000) }), buffer, { ...options, maxTokenAge: 60 }))).toBe('ERR_JWT_EXPIRED');
    expect(errorCode(() => verifyJwt(signJwt({}, buffer, { noTimestamp: true }), buffer, { ...options, maxTokenAge: 60 }))).toBe('ERR_JWT_CLAIM');
    expect(errorCode(() => verifyJwt(signJwt({}, buffer), buffer, { ...options, maxTokenAge: 60 }))).toBeUndefined();
  });

  it('maxTokenAge refuses an iat in the future (beyond the clock tolerance) with ERR_JWT_CLAIM, as jose does', async () => {
    const future = signJwt({}, buffer, { currentDate: new Date(Date.now() + 120_000) });
    expect(errorCode(() => verifyJwt(future, buffer, { ...options, maxTokenAge: 60 }))).toBe('ERR_JWT_CLAIM');
    expect(() => verifyJwt(future, buffer, { ...options, maxTokenAge: 60 })).toThrow(/"iat".*future/);
    await expect(jwtVerify(future, raw, { algorithms: ['HS256'], maxTokenAge: 60 })).rejects.toThrow(/should be in the past/); // the oracle agrees
    expect(errorCode(() => verifyJwt(future, buffer, { ...options, maxTokenAge: 60, clockTolerance: 150 }))).toBeUndefined();
    expect(errorCode(() => verifyJwt(future, buffer, options))).toBeUndefined(); // iat is only judged for maxTokenAge, as in jose
  });

  it('forged: another key, a changed payload, a changed or truncated signature, a non-canonical spelling', async () => {
    const other = keyPair().buffer;
    const token = await sign({ sub: 'a' });
    const [h, p, s] = token.split('.') as [string, string, string];
    const forgedPayload = Buffer.from(JSON.stringify({ sub: 'admin' })).toString('base64url');
    const flipped = (s[0] === 'A' ? 'B' : 'A') + s.slice(1);
    const truncated = Buffer.from(s, 'base64url').subarray(0, 16).toString('base64url');
    // the last character of 43 carries 2 spare bits: another letter with the same 4 leading bits
    const last = s.at(-1)!;
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    const noncanonical = s.slice(0, -1) + alphabet[alphabet.indexOf(last) ^ 1];
    expect(errorCode(() => verifyJwt(token, other, options))).toBe('ERR_JWT_SIGNATURE');
    for (const forged of [`${h}.${forgedPayload}.${s}`, `${h}.${p}.${flipped}`, `${h}.${p}.${truncated}`, `${h}.${p}.${noncanonical}`, `${h}.${p}.`]) {
      expect(errorCode(() => verifyJwt(forged, buffer, options))).toBe('ERR_JWT_SIGNATURE');
    }
    expect(errorCode(() => verifyJwt(token, buffer, options))).toBeUndefined(); // control
  });

  it("'alg: none' is refused even with an empty signature, and so is a token of another algorithm", async () => {
    const unsecured = new UnsecuredJWT({ sub: 'admin' }).encode();
    expect(errorCode(() => verifyJwt(unsecured, buffer, options))).toBe('ERR_JWT_INVALID');
    expect(errorCode(() => verifyJwt(unsecured, buffer, { algorithms: ['none' as JwtAlgorithm] }))).toBe('ERR_INVALID_ARG');
    const hs512 = await new SignJWT({}).setProtectedHeader({ alg: 'HS512' }).sign(raw);
    expect(errorCode(() => verifyJwt(hs512, buffer, options))).toBe('ERR_JWT_INVALID');
    // algorithm confusion: an RS256 header with an HMAC made of the "public key" bytes
    const rs = `${Buffer.from('{"alg":"RS256"}').toString('base64url')}.${Buffer.from('{}').toString('base64url')}`;
    const confused = `${rs}.${Buffer.from(buffer.hmac('sha256', rs)).toString('base64url')}`;
    expect(errorCode(() => verifyJwt(confused, buffer, { algorithms: ['HS256', 'HS512'] }))).toBe('ERR_JWT_INVALID');
  });

  it('claims: issuer, audience, subject; malformed tokens', async () => {
    const token = await sign({ iss: 'evil-issuer', aud: ['x'], sub: 's' });
    expect(errorCode(() => verifyJwt(token, buffer, { ...options, issuer: 'good' }))).toBe('ERR_JWT_CLAIM');
    expect(errorCode(() => verifyJwt(token, buffer, { ...options, audience: 'api' }))).toBe('ERR_JWT_CLAIM');
    expect(errorCode(() => verifyJwt(token, buffer, { ...options, subject: 't' }))).toBe('ERR_JWT_CLAIM');
    let message = '';
    try {
      verifyJwt(token, buffer, { ...options, issuer: 'good' });
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).not.toContain('evil-issuer');
    const badExp = await sign({ exp: 'tomorrow' });
    expect(errorCode(() => verifyJwt(badExp, buffer, options))).toBe('ERR_JWT_CLAIM');
    for (const bad of ['', 'a.b', 'a.b.c.d', '!!.e30.x', `${Buffer.from('[]').toString('base64url')}.e30.x`, 'x'.repeat(20_000)]) {
      expect(errorCode(() => verifyJwt(bad, buffer, options))).toBe('ERR_JWT_INVALID');
    }
  });

  it('key rotation: a token signed with the old key verifies while both are listed', () => {
    const old = keyPair().enclave;
    const token = signJwt({ sub: 'a' }, old);
    expect(verifyJwt(token, [buffer, old], options)).toMatchObject({ sub: 'a' });
    expect(errorCode(() => verifyJwt(token, buffer, options))).toBe('ERR_JWT_SIGNATURE');
  });

  it('options and keys are checked: algorithms required, keys at least the hash size, no strings', () => {
    expect(errorCode(() => verifyJwt('a.b.c', buffer, {} as never))).toBe('ERR_INVALID_ARG');
    expect(errorCode(() => verifyJwt('a.b.c', buffer, { algorithms: [] }))).toBe('ERR_INVALID_ARG');
    expect(errorCode(() => verifyJwt('a.b.c', buffer, { algorithms: ['HS256'], clockTolrance: 5 } as never))).toBe('ERR_INVALID_ARG');
    expect(errorCode(() => verifyJwt('a.b.c', 'secret' as never, options))).toBe('ERR_INVALID_ARG');
    expect(errorCode(() => signJwt({}, SecretBuffer.random(31)))).toBe('ERR_INVALID_ARG');
    expect(errorCode(() => signJwt({}, SecretBuffer.random(32), { algorithm: 'HS512' }))).toBe('ERR_INVALID_ARG');
    expect(errorCode(() => signJwt({}, buffer, { algorithm: 'RS256' as JwtAlgorithm }))).toBe('ERR_INVALID_ARG');
    expect(errorCode(() => signJwt([] as never, buffer))).toBe('ERR_INVALID_ARG');
    expect(errorCode(() => (signJwt as (...args: unknown[]) => unknown)({}, buffer, {}, 1))).toBe('ERR_INVALID_ARG');
  });
});

describe.each(MAJORS)('jwtAuth() on $name', (major) => {
  const { raw, enclave } = keyPair();
  async function serve(options: Partial<Parameters<typeof jwtAuth>[0]> = {}): Promise<string> {
    const server = await startApp(major, (app) => {
      app.get('/me', jwtAuth({ secret: enclave, algorithms: ['HS256'], audience: 'api', ...options }), (req, res) => {
        res.json({ auth: (req as unknown as { auth?: unknown }).auth ?? null });
      });
    });
    running.push(server);
    return server.url;
  }
  const call = async (url: string, token?: string) => {
    const response = await fetch(`${url}/me`, token === undefined ? {} : { headers: { authorization: `Bearer ${token}` } });
    return { status: response.status, auth: response.headers.get('www-authenticate'), text: await response.text() };
  };

  it('a valid token: 200 and req.auth; missing, expired, forged, alg none: 401 with WWW-Authenticate, no reason', async () => {
    const url = await serve();
    const valid = signJwt({ sub: 'u1' }, enclave, { audience: 'api', expiresIn: 60 });
    const ok = await call(url, valid);
    expect(ok.status).toBe(200);
    expect(JSON.parse(ok.text).auth).toMatchObject({ sub: 'u1', aud: 'api' });
    expect(await call(url)).toMatchObject({ status: 401, auth: 'Bearer' });
    const expired = await new SignJWT({ aud: 'api' }).setProtectedHeader({ alg: 'HS256' }).setExpirationTime(now() - 5).sign(raw);
    const forged = signJwt({ aud: 'api' }, keyPair().enclave);
    for (const token of [expired, forged, new UnsecuredJWT({ aud: 'api' }).encode(), `${valid}x`]) {
      const answer = await call(url, token);
      expect(answer.status).toBe(401);
      expect(answer.auth).toBe('Bearer error="invalid_token"');
      expect(answer.text).not.toMatch(/expired|signature|alg/i);
    }
  });

  it('the scheme name is case-insensitive (RFC 7235): bearer, BEARER, bEaReR; another scheme is 401', async () => {
    const url = await serve();
    const valid = signJwt({ sub: 'u1' }, enclave, { audience: 'api', expiresIn: 60 });
    for (const scheme of ['bearer', 'BEARER', 'bEaReR']) {
      const response = await fetch(`${url}/me`, { headers: { authorization: `${scheme} ${valid}` } });
      expect(response.status).toBe(200);
      expect(((await response.json()) as { auth: unknown }).auth).toMatchObject({ sub: 'u1' });
    }
    for (const header of [`Basic ${valid}`, `Bearer${valid}`, `Bearers ${valid}`]) {
      expect((await fetch(`${url}/me`, { headers: { authorization: header } })).status).toBe(401);
    }
  });

  it('credentialsRequired: false lets a request without a token through', async () => {
    const url = await serve({ credentialsRequired: false });
    expect(await call(url)).toMatchObject({ status: 200 });
    expect((await call(url, 'not-a-token')).status).toBe(401);
  });

  it('options are checked at start-up', () => {
    expect(errorCode(() => jwtAuth({ secret: enclave } as never))).toBe('ERR_INVALID_ARG');
    expect(errorCode(() => jwtAuth({ secret: enclave, algorithms: ['HS256'], credentialsRequire: false } as never))).toBe('ERR_INVALID_ARG');
    expect(jwtAuth({ secret: enclave, algorithms: ['HS256'] }).name).toBe('strongroomJwtAuth');
  });
});
