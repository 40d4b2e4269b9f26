// vault() and vaultTransit() against a protocol double of Vault's HTTP API (doubles.ts):
// KV v2 reads, Transit decrypt, token and AppRole auth, namespaces, leases, and every error
// answer the double gives (403, 404, 400, 429, a hang, truncated or malformed JSON, a cut
// connection), with the store's retries and deadline. After each test no SecretBuffer is
// left alive and no connection open.
import { once } from 'node:events';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { errorCode, runNode } from '@strongroom/testkit';

import { Enclave, loadSecrets, SecretBuffer, vault, vaultTransit, type Source, type VaultAuth } from '../src/index.js';
import { VaultDouble } from './doubles.js';
import { fast, loadFailure, resetDoubleEachTest, selfSigned, textOf } from './helpers.js';

let double: VaultDouble;
let token: string;

beforeAll(async () => {
  double = await new VaultDouble().start();
});
afterAll(() => double.stop());
resetDoubleEachTest(() => double);
beforeEach(() => {
  token = double.token();
});
afterEach(async () => {
  expect(await double.settled()).toBe(0); // no socket left open
});

const tokenAuth = (value = token): VaultAuth => ({ token: Enclave.from(Buffer.from(value)) });
const kv = (options: Partial<Parameters<typeof vault>[0]> = {}): Source =>
  vault({ address: double.address, auth: tokenAuth(), path: 'app/db', field: 'password', ...options });

async function loadOne(source: Source, options: Parameters<typeof loadSecrets>[1] = fast): Promise<string> {
  const store = await loadSecrets({ s: source }, options);
  try {
    return textOf(store.get('s'));
  } finally {
    store.close();
  }
}

describe('vault() KV v2', () => {
  it('reads data.data[field] with X-Vault-Token; escapes and UTF-8 decoded as JSON.parse would', async () => {
    const value = 'p\u00e4ss "quoted" \\ back\nslash \u{1f511} \ud800 end';
    double.put('secret/app/db', { username: 'app', password: value, other: { nested: [1, 2] } });
    expect(await loadOne(kv())).toBe(Buffer.from(value).toString()); // a lone surrogate becomes U+FFFD, as in UTF-8
    expect(double.log).toEqual([expect.objectContaining({ method: 'GET', path: '/v1/secret/data/app/db', token, namespace: undefined })]);
  });

  it('a SecretBuffer token is copied (the caller keeps and destroys its own); mount, version and namespace', async () => {
    double.put('kv/team/api', { key: 'first' }, 'team-a');
    double.put('kv/team/api', { key: 'second' }, 'team-a');
    const own = SecretBuffer.from(Buffer.from(token));
    const source = vault({ address: double.address, auth: { token: own }, mount: 'kv', path: 'team/api', field: 'key', namespace: 'team-a', version: 1 });
    own.destroy();
    expect(await loadOne(source)).toBe('first');
    expect(double.log[0]).toMatchObject({ path: '/v1/kv/data/team/api', namespace: 'team-a', token });
  });

  it('a wrong token is ERR_SOURCE_AUTH (403), not retried; the message holds neither token nor value', async () => {
    double.put('secret/app/db', { password: 'never-shown' });
    const { code, message } = await loadFailure(kv({ auth: tokenAuth('hvs.wrong-token') }));
    expect(code).toBe('ERR_SOURCE_AUTH');
    expect(message).toContain("'s'");
    expect(message).toContain('/v1/secret/data/app/db#password');
    expect(message).not.toMatch(/hvs\.|never-shown/);
    expect(double.log).toHaveLength(1);
  });

  it('an expired token is ERR_SOURCE_AUTH', async () => {
    double.put('secret/app/db', { password: 'x' });
    const expiring = double.token(1);
    const source = kv({ auth: tokenAuth(expiring) });
    expect(await loadOne(source)).toBe('x');
    await new Promise((resolve) => setTimeout(resolve, 1100));
    expect((await loadFailure(source)).code).toBe('ERR_SOURCE_AUTH');
  });

  it('a missing path is ERR_SECRET_NOT_FOUND (404); so is a secret in another namespace', async () => {
    expect((await loadFailure(kv({ path: 'app/none' }))).code).toBe('ERR_SECRET_NOT_FOUND');
    double.put('secret/app/db', { password: 'x' }, 'team-b');
    double.kv.get('')?.delete('secret/app/db');
    expect((await loadFailure(kv({ namespace: 'team-c' }))).code).toBe('ERR_SECRET_NOT_FOUND');
  });

  it('a missing field, a field that is not a string, or an empty one is ERR_SOURCE_FORMAT', async () => {
    double.put('secret/app/db', { user: 'x', password: 42 });
    expect(await loadFailure(kv({ field: 'pass' }))).toMatchObject({ code: 'ERR_SOURCE_FORMAT', message: expect.stringContaining("no field 'pass'") });
    expect(await loadFailure(kv())).toMatchObject({ code: 'ERR_SOURCE_FORMAT', message: expect.stringContaining('not a string') });
    double.put('secret/app/db', { password: '' });
    expect(await loadFailure(kv())).toMatchObject({ code: 'ERR_SOURCE_FORMAT', message: expect.stringContaining('empty') });
  });

  it('truncated or malformed JSON is ERR_SOURCE_FORMAT; a connection cut mid-answer is retried', async () => {
    double.put('secret/app/db', { password: 'after-the-cut' });
    double.faults.push({ truncate: true });
    expect(await loadFailure(kv())).toMatchObject({ code: 'ERR_SOURCE_FORMAT', message: expect.stringContaining('not JSON') });
    double.faults.push({ malformed: true });
    expect((await loadFailure(kv())).code).toBe('ERR_SOURCE_FORMAT');
    double.faults.push({ cut: true });
    double.log.length = 0;
    expect(await loadOne(kv())).toBe('after-the-cut');
    expect(double.log).toHaveLength(2);
  });

  it('a secret over maxSize is ERR_SOURCE_FORMAT; so is an answer far over it', async () => {
    double.put('secret/app/db', { password: 'x'.repeat(33) });
    expect(await loadFailure(kv({ maxSize: 32 }))).toMatchObject({ code: 'ERR_SOURCE_FORMAT', message: expect.stringContaining('maxSize (32 bytes)') });
    double.put('secret/app/db', { password: 'short', padding: 'p'.repeat(70 * 1024) });
    expect(await loadFailure(kv({ maxSize: 32 }))).toMatchObject({ code: 'ERR_SOURCE_FORMAT', message: expect.stringContaining('answer is longer') });
  });

  it('throttling (429) and 503 are retried by the store, then loaded', async () => {
    double.put('secret/app/db', { password: 'patient' });
    double.faults.push({ status: 429 }, { status: 503 });
    expect(await loadOne(kv())).toBe('patient');
    expect(double.log).toHaveLength(3);
  });

  it('a Vault that never answers: the deadline ends the load, and the request with it', async () => {
    double.faults.push({ hang: true }, { hang: true }, { hang: true });
    const started = Date.now();
    const { code, message } = await loadFailure(kv(), { retry: { deadline: 300, minDelay: 1, maxDelay: 5 } });
    expect(code).toBe('ERR_SOURCE_UNAVAILABLE');
    expect(message).toContain('deadline of 300 ms');
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it('a new version seen by store.refresh() is a rotation; the same value is not', async () => {
    double.put('secret/app/db', { password: 'v1' });
    const store = await loadSecrets({ s: kv() }, fast);
    const rotations: number[] = [];
    store.on('rotate', (_name, version) => rotations.push(version));
    double.put('secret/app/db', { password: 'v1' }); // a new version, same value
    await store.refresh('s');
    double.put('secret/app/db', { password: 'v2' });
    await store.refresh('s');
    expect([textOf(store.get('s')), store.version('s'), rotations]).toEqual(['v2', 2, [2]]);
    store.close();
  });

  it('bad arguments are ERR_INVALID_ARG at once; a token as a string is refused', () => {
    const base = { address: double.address, auth: tokenAuth(), path: 'a', field: 'f' };
    expect(errorCode(() => vault({ ...base, auth: { token: 'hvs.plain' as never } }))).toBe('ERR_INVALID_ARG');
    expect(errorCode(() => vault({ ...base, address: 'vault:8200' }))).toBe('ERR_INVALID_ARG');
    expect(errorCode(() => vault({ ...base, path: '../sys' }))).toBe('ERR_INVALID_ARG');
    // A backslash is a '/' to the URL parser: it would climb out of the mount to other endpoints.
    expect(errorCode(() => vault({ ...base, path: 'app\\..\\..\\..\\sys\\raw\\core' }))).toBe('ERR_INVALID_ARG');
    expect(errorCode(() => vault({ ...base, engine: 'generic', path: '..\\auth\\token\\lookup-self' }))).toBe('ERR_INVALID_ARG');
    expect(errorCode(() => vaultTransit({ address: base.address, auth: base.auth, key: 'k\\..\\..\\sys', ciphertext: 'vault:v1:x' }))).toBe('ERR_INVALID_ARG');
    expect(errorCode(() => vault({ ...base, path: 'app\x01db' }))).toBe('ERR_INVALID_ARG');
    // The namespace is a header too: visible ASCII only, checked now rather than at the load.
    expect(errorCode(() => vault({ ...base, namespace: 'team\x01' }))).toBe('ERR_INVALID_ARG');
    expect(errorCode(() => vault({ ...base, namespace: 'チーム' }))).toBe('ERR_INVALID_ARG');
    expect(errorCode(() => vault({ ...base, extra: 1 } as never))).toBe('ERR_INVALID_ARG');
    expect(errorCode(() => vault({ ...base, engine: 'generic', version: 2 }))).toBe('ERR_INVALID_ARG');
    expect(errorCode(() => (vault as (...args: unknown[]) => unknown)(base, {}))).toBe('ERR_INVALID_ARG');
  });
});

describe('AppRole', () => {
  beforeEach(() => {
    double.roles.set('role-1', { secretId: 'secret-id-1', ttl: 60 });
  });
  const approle = (secretId = 'secret-id-1'): VaultAuth => ({ roleId: 'role-1', secretId: Enclave.from(Buffer.from(secretId)) });

  it('logs in once, reuses the client token, and logs in again when Vault refuses it', async () => {
    double.put('secret/app/db', { password: 'by-approle' });
    const source = kv({ auth: approle() });
    const store = await loadSecrets({ s: source }, fast);
    await store.refresh('s');
    expect(double.log.map((l) => l.path)).toEqual(['/v1/auth/approle/login', '/v1/secret/data/app/db', '/v1/secret/data/app/db']);
    const issued = double.log[1]?.token as string;
    expect(double.log[2]?.token).toBe(issued);
    double.tokens.delete(issued); // revoked, or expired early
    double.put('secret/app/db', { password: 'after-relogin' });
    await store.refresh('s');
    expect(textOf(store.get('s'))).toBe('after-relogin');
    expect(double.log.slice(3).map((l) => l.path)).toEqual(['/v1/secret/data/app/db', '/v1/auth/approle/login', '/v1/secret/data/app/db']);
    store.close();
  });

  it('a wrong secret_id is ERR_SOURCE_AUTH', async () => {
    expect((await loadFailure(kv({ auth: approle('wrong') }))).code).toBe('ERR_SOURCE_AUTH');
  });
});

describe('vaultTransit()', () => {
  const transit = (ciphertext: string, key = 'app-key'): Source => vaultTransit({ address: double.address, auth: tokenAuth(), key, ciphertext });

  it('decrypts: the plaintext goes from base64 into guarded memory, every byte value intact', async () => {
    const plaintext = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    const store = await loadSecrets({ k: transit(double.encrypt(plaintext)) }, fast);
    const back = store.use('k', (secret) => secret.read((view) => Buffer.from(view)));
    expect(back.equals(plaintext)).toBe(true);
    expect(double.log[0]).toMatchObject({ method: 'POST', path: '/v1/transit/decrypt/app-key' });
    store.close();
  });

  it('an unknown key or a damaged ciphertext is ERR_SOURCE_FORMAT (400); bad base64 in the answer too', async () => {
    const ciphertext = double.encrypt(Buffer.from('k'));
    expect((await loadFailure(transit(ciphertext, 'no-key'))).code).toBe('ERR_SOURCE_FORMAT');
    expect((await loadFailure(transit(`${ciphertext.slice(0, -4)}AAA=`))).code).toBe('ERR_SOURCE_FORMAT');
    double.faults.push({ status: 200, body: '{"data":{"plaintext":"c2Vj*mV0"}}' });
    expect(await loadFailure(transit(ciphertext))).toMatchObject({ code: 'ERR_SOURCE_FORMAT', message: expect.stringContaining('not base64') });
  });
});

describe("engine 'generic': a dynamic secret's lease", () => {
  it('is renewed at two thirds of its duration; near the max TTL the secret is read again (a rotation)', async () => {
    double.dynamic = { duration: 2, maxTtl: 3, renewable: true };
    const source = vault({ address: double.address, auth: tokenAuth(), engine: 'generic', mount: 'database', path: 'creds/app', field: 'password' });
    const store = await loadSecrets({ db: source }, fast);
    expect(textOf(store.get('db'))).toBe(`dynamic-password-${double.leases.size}`);
    const [, version] = (await once(store, 'rotate')) as [string, number];
    expect(version).toBe(2);
    // renewed once at ~1.3 s (granted 1 s of the 3 s max TTL: less than asked), read again at ~2 s
    expect(double.renewals).toHaveLength(1);
    expect(double.renewals[0]).toMatchObject({ increment: 2, granted: 1 });
    expect(double.log.map((l) => `${l.method} ${l.path}`)).toEqual(['GET /v1/database/creds/app', 'PUT /v1/sys/leases/renew', 'GET /v1/database/creds/app']);
    expect(textOf(store.get('db'))).toBe(`dynamic-password-${double.leases.size}`);
    store.close();
  });

  it('a lease that is not renewable is read again at two thirds of its duration', async () => {
    double.dynamic = { duration: 1, maxTtl: 1, renewable: false };
    const store = await loadSecrets({ db: vault({ address: double.address, auth: tokenAuth(), engine: 'generic', mount: 'database', path: 'creds/app', field: 'username' }) }, fast);
    const started = Date.now();
    await once(store, 'rotate');
    expect(Date.now() - started).toBeGreaterThan(500);
    expect(double.log.filter((l) => l.method === 'PUT')).toHaveLength(0);
    store.close();
  });
});

describe("engine 'generic': leases past Node's timers, and failures on the way", () => {
  it.each([true, false])(
    "a lease of a year (two thirds of it are past Node's longest timer, 24.8 days) is not renewed or read again at once (renewable: %s)",
    async (renewable) => {
      double.dynamic = { duration: 31_536_000, maxTtl: 2 * 31_536_000, renewable };
      const renewals = double.renewals.length;
      const store = await loadSecrets({ db: vault({ address: double.address, auth: tokenAuth(), engine: 'generic', mount: 'database', path: 'creds/app', field: 'password' }) }, fast);
      await new Promise((resolve) => setTimeout(resolve, 300));
      store.close();
      expect(double.log.map((l) => `${l.method} ${l.path}`)).toEqual(['GET /v1/database/creds/app']);
      expect(double.renewals).toHaveLength(renewals);
    },
  );

  it('a failed renewal, then a failed read again: the lease is still watched, and read again once Vault answers', async () => {
    double.dynamic = { duration: 1, maxTtl: 30, renewable: true };
    const once1 = { retry: { minDelay: 1, maxDelay: 5, retries: 1 } }; // a read again is two attempts
    const store = await loadSecrets({ db: vault({ address: double.address, auth: tokenAuth(), engine: 'generic', mount: 'database', path: 'creds/app', field: 'password' }) }, once1);
    const errors: string[] = [];
    store.on('error', (error: unknown) => void errors.push((error as { code: string }).code));
    double.faults.push({ status: 503 }, { status: 503 }, { status: 503 }); // the renewal and both attempts of the read again
    // (not events.once: it rejects at the first 'error', which is expected here)
    const rotated = new Promise((resolve) => store.once('rotate', (...args: unknown[]) => resolve(args)));
    const late = new Promise((resolve) => setTimeout(() => resolve('no rotation within 8 s'), 8000));
    const outcome = await Promise.race([rotated, late]);
    store.close();
    expect(outcome).toEqual(['db', 2]);
    expect(errors).toEqual(['ERR_SOURCE_UNAVAILABLE']); // the failed read again, reported once
  }, 15_000);
});

describe('guarded memory running out while an answer is collected', () => {
  it('ERR_MLOCK_LIMIT from a bigger body rejects the load, wipes the chunk and leaves the process running', async () => {
    // A child under an 8 MiB-style limit far below the answer: its 'data' listener used to
    // throw, an uncaught exception that ended the process.
    const result = await runNode(
      `import http from 'node:http';
       import { Enclave, loadSecrets, vault } from '@strongroom/kms-loaders';
       const body = JSON.stringify({ data: { password: 'p'.repeat(2 * 1024 * 1024) } });
       const server = http.createServer((req, res) => { res.writeHead(200, { 'content-type': 'application/json' }); res.end(body); });
       await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
       const source = vault({ address: 'http://127.0.0.1:' + server.address().port, auth: { token: Enclave.from(Buffer.from('hvs.t')) },
                              path: 'app/db', field: 'password', maxSize: 4 * 1024 * 1024 });
       let code;
       try { await loadSecrets({ s: source }, { retry: { retries: 0 } }); } catch (e) { code = e.code; }
       server.close();
       console.log(JSON.stringify({ code, alive: true }));`,
      { cwd: path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..'), memlockBytes: 512 * 1024, dropIpcLock: true, timeoutMs: 30_000 },
    );
    expect(result.code, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout.trim().split('\n').at(-1) as string)).toEqual({ code: 'ERR_MLOCK_LIMIT', alive: true });
  });
});

describe('over TLS', () => {
  const pem = selfSigned('vault-double');
  it.skipIf(pem === undefined)('with tls.ca the certificate is trusted and the secret read; without it the connection is refused (ERR_SOURCE_UNAVAILABLE)', async () => {
    const secure = await new VaultDouble(pem).start();
    try {
      const own = secure.token();
      secure.put('secret/app/db', { password: 'over-tls' });
      const options = { address: secure.address, auth: tokenAuth(own), path: 'app/db', field: 'password' };
      expect(secure.address.startsWith('https://')).toBe(true);
      expect(await loadOne(vault({ ...options, tls: { ca: pem!.cert } }))).toBe('over-tls');
      const { code, message } = await loadFailure(vault(options), { retry: { retries: 0 } });
      expect(code).toBe('ERR_SOURCE_UNAVAILABLE');
      expect(message).toMatch(/SELF_SIGNED|self.signed/i);
      expect(await secure.settled()).toBe(0);
    } finally {
      await secure.stop();
    }
  });
});
