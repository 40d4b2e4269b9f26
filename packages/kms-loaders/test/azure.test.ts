// azureKeyVault() with Microsoft's own client (@azure/keyvault-secrets 4.11, SecretClient)
// against a protocol double of Key Vault's HTTP API (doubles.ts), over HTTPS:
// - TLS: the double has a self-signed certificate for 127.0.0.1 (made by openssl); the client
//   trusts it through its pipeline option `tlsOptions: { ca }` (core-rest-pipeline's
//   TlsSettings, handed to the https.Agent it makes), as a user with a private CA would. The
//   SDK refuses to send a token over plain http, so there is no http variant.
// - Authentication: a TokenCredential of the test's own hands out the double's token for the
//   scope and tenant the challenge names (what @azure/identity's credentials do after asking
//   Entra ID, which cannot be reached here). The SDK sends its first request without a token;
//   the double answers 401 with Key Vault's WWW-Authenticate challenge, then checks the token.
// - Challenge resource verification: the double is 127.0.0.1 and its challenge names
//   https://vault.azure.net, so the SDK's check (the vault's host must end in .vault.azure.net)
//   cannot pass: the clients are made with `disableChallengeResourceVerification: true`, as a
//   user reaching a vault through a private endpoint or a custom host name does. One test
//   leaves the check on and sees the SDK refuse the challenge.
// - Retries: the clients are made with `retryOptions: { maxRetries: 0 }`, so what a test sees
//   is the store's retrying; one test leaves the SDK's own on and sees it wait out Retry-After.
// After each test no SecretBuffer is left alive.
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import type { AccessToken, GetTokenOptions, TokenCredential } from '@azure/core-auth';
import { SecretClient, type SecretClientOptions } from '@azure/keyvault-secrets';
import { errorCode, MIN_SCANNED_BYTES, startChild, type MemoryMatch, type ScanResult } from '@strongroom/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { azureKeyVault, loadSecrets, type Source } from '../src/index.js';
import { AzureKeyVaultDouble } from './doubles.js';
import { fast, loadFailure, resetDoubleEachTest, selfSigned, textOf } from './helpers.js';

const PACKAGE_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** Hands out a fixed token and records what the SDK asked it for. */
class TestCredential implements TokenCredential {
  readonly asked: { scopes: string[]; tenantId: string | undefined }[] = [];
  constructor(private readonly token: string) {}
  async getToken(scopes: string | string[], options?: GetTokenOptions): Promise<AccessToken> {
    this.asked.push({ scopes: [scopes].flat(), tenantId: options?.tenantId });
    return { token: this.token, expiresOnTimestamp: Date.now() + 3_600_000 };
  }
}

const pem = selfSigned('key-vault-double');
let double: AzureKeyVaultDouble;
let client: SecretClient;

function clientFor(credential: TokenCredential, options: SecretClientOptions = {}): SecretClient {
  return new SecretClient(double.address, credential, {
    tlsOptions: { ca: pem!.cert },
    disableChallengeResourceVerification: true,
    retryOptions: { maxRetries: 0 },
    ...options,
  });
}

beforeAll(async () => {
  if (pem === undefined) throw new Error('these tests need the openssl command to make the double a certificate');
  double = await new AzureKeyVaultDouble(pem).start();
  client = clientFor(new TestCredential(double.accessToken));
  // The shared client's challenge is done here: later faults meet its authenticated requests.
  double.add('warm-up', 'w');
  await client.getSecret('warm-up');
});
afterAll(async () => {
  await double?.stop();
});
resetDoubleEachTest(() => double);

const source = (name = 'db-password', options: { version?: string; maxSize?: number } = {}): Source => azureKeyVault({ client, name, ...options });
const where = (name: string): string => `127.0.0.1:${double.port}/secrets/${name}`;

async function loadOne(s: Source, options: Parameters<typeof loadSecrets>[1] = fast): Promise<Buffer> {
  const store = await loadSecrets({ s }, options);
  try {
    return store.use('s', (secret) => secret.read((view) => Buffer.from(view)));
  } finally {
    store.close();
  }
}

describe('azureKeyVault()', () => {
  it('reads the current version through the real SecretClient: the challenge, then the Bearer token; the value as its UTF-8, sent raw or \\u-escaped', async () => {
    const value = 'p\u00e4ssw\u00f6rd \u{1f511} \u4e2d "q" \\ end';
    double.add('raw-utf8', value);
    double.add('escaped', value, { escape: true });
    const credential = new TestCredential(double.accessToken);
    const fresh = clientFor(credential);
    const store = await loadSecrets({ raw: azureKeyVault({ client: fresh, name: 'raw-utf8' }), escaped: azureKeyVault({ client: fresh, name: 'escaped' }) }, fast);
    for (const name of ['raw', 'escaped']) {
      expect(store.use(name, (secret) => secret.read((view) => Buffer.from(view).equals(Buffer.from(value, 'utf8'))))).toBe(true);
    }
    store.close();
    // The first request went without a token and met the challenge; the credential was asked
    // once, for Key Vault's scope and the tenant the challenge named; every read carried the token.
    expect(double.log[0]?.authorization).toBeUndefined();
    expect(credential.asked).toEqual([{ scopes: ['https://vault.azure.net/.default'], tenantId: double.tenantId }]);
    const reads = double.log.filter((l) => l.authorization !== undefined);
    expect(reads.map((l) => l.path).sort()).toEqual(['/secrets/escaped/', '/secrets/raw-utf8/']);
    // (The SDK sends the parameter as 'api%2Dversion', which decodes to 'api-version'.)
    expect(reads.every((l) => l.authorization === `Bearer ${double.accessToken}` && new URLSearchParams(l.query).get('api-version') === '2025-07-01')).toBe(true);
  });

  it('reads a version by its id', async () => {
    const first = double.add('versioned', 'first');
    double.add('versioned', 'second');
    expect((await loadOne(source('versioned', { version: first }))).toString()).toBe('first');
    expect((await loadOne(source('versioned'))).toString()).toBe('second');
    expect(double.log.map((l) => l.path)).toEqual([`/secrets/versioned/${first}`, '/secrets/versioned/']);
  });

  it('a new current version seen by store.refresh() is a rotation', async () => {
    double.add('rotating', 'v1');
    const store = await loadSecrets({ s: source('rotating') }, fast);
    const rotations: number[] = [];
    store.on('rotate', (_name: string, version: number) => rotations.push(version));
    await store.refresh('s');
    expect(store.version('s')).toBe(1); // the same bytes: no rotation
    double.add('rotating', 'v2');
    await store.refresh('s');
    expect([textOf(store.get('s')), store.version('s'), rotations]).toEqual(['v2', 2, [2]]);
    store.close();
  });

  it('a token Key Vault refuses (401) is ERR_SOURCE_AUTH, not retried; the message has the status and request id, neither token nor value', async () => {
    double.add('db-password', 'never-in-a-message');
    const stranger = clientFor(new TestCredential('eyJ0eXAiOiJKV1QifQ.not-the-token'));
    const { code, message, cause } = await loadFailure(azureKeyVault({ client: stranger, name: 'db-password' }));
    expect(code).toBe('ERR_SOURCE_AUTH');
    expect(message).toContain(`azure-key-vault source ${where('db-password')}`);
    expect(message).toContain('HTTP 401, Unauthorized');
    expect(message).toContain(`request ${double.requestIds.at(-1)}`);
    expect(message).not.toMatch(/not-the-token|never-in-a-message/);
    // The SDK's error (whose response can hold the raw answer) is nowhere in the cause chain.
    const chain: unknown[] = [];
    for (let e: unknown = cause; e !== undefined; e = (e as Error).cause) chain.push(e);
    expect(chain.map((e) => (e as Error).name)).toEqual(['StrongroomError']);
    expect(double.log.map((l) => l.authorization)).toEqual([undefined, 'Bearer eyJ0eXAiOiJKV1QifQ.not-the-token']);
  });

  it('403 is ERR_SOURCE_AUTH, not retried', async () => {
    double.add('db-password', 'x');
    double.faults.push({ status: 403 });
    const { code, message } = await loadFailure(source());
    expect(code).toBe('ERR_SOURCE_AUTH');
    expect(message).toContain(`HTTP 403, Forbidden, request ${double.requestIds.at(-1)}`);
    expect(double.log).toHaveLength(1);
  });

  it('a missing secret or version is ERR_SECRET_NOT_FOUND (404 SecretNotFound), not retried', async () => {
    const none = await loadFailure(source('no-such-secret'));
    expect(none.code).toBe('ERR_SECRET_NOT_FOUND');
    expect(none.message).toContain(`${where('no-such-secret')}: Key Vault has no such secret or version (HTTP 404, SecretNotFound, request `);
    double.add('db-password', 'x');
    const version = 'f'.repeat(32);
    expect((await loadFailure(source('db-password', { version }))).message).toContain(`${where('db-password')}/${version}: Key Vault has no such secret`);
    expect(double.log).toHaveLength(2);
  });

  it('a disabled secret is ERR_SECRET_NOT_FOUND: as Key Vault refuses it (403, innererror SecretDisabled), and in an answer that says enabled: false', async () => {
    double.add('switched-off', 'off', { enabled: false });
    expect(await loadFailure(source('switched-off'))).toMatchObject({ code: 'ERR_SECRET_NOT_FOUND', message: expect.stringContaining('disabled (HTTP 403, Forbidden, SecretDisabled, request ') });
    const id = `${double.address}/secrets/db-password/${'a'.repeat(32)}`;
    double.faults.push({ answer: { value: 'off', id, attributes: { enabled: false, created: 1, updated: 1 } } });
    expect(await loadFailure(source())).toMatchObject({ code: 'ERR_SECRET_NOT_FOUND', message: expect.stringContaining('attributes.enabled is false') });
  });

  it('throttling (429 with Retry-After) and 503 are retried by the store, then loaded', async () => {
    double.add('db-password', 'patient');
    double.faults.push({ status: 429 }, { status: 503 });
    expect((await loadOne(source())).toString()).toBe('patient');
    expect(double.log).toHaveLength(3);
  });

  it("with the SDK's own retries on, it waits out Retry-After itself: one load, two requests", async () => {
    double.add('db-password', 'patient');
    const sdkRetries = clientFor(new TestCredential(double.accessToken), { retryOptions: { maxRetries: 1 } });
    await sdkRetries.getSecret('warm-up'); // its challenge first
    double.log.length = 0;
    double.faults.push({ status: 429 });
    const started = Date.now();
    expect((await loadOne(azureKeyVault({ client: sdkRetries, name: 'db-password' }), { retry: { retries: 0 } })).toString()).toBe('patient');
    expect(Date.now() - started).toBeGreaterThanOrEqual(double.retryAfter * 1000 - 50);
    expect(double.log).toHaveLength(2);
  });

  it('a server error on every attempt is ERR_SOURCE_UNAVAILABLE once the retries are spent', async () => {
    double.add('db-password', 'x');
    double.faults.push({ status: 500 }, { status: 500 }, { status: 500 });
    const { code, message } = await loadFailure(source(), { retry: { retries: 2, minDelay: 1, maxDelay: 5 } });
    expect(code).toBe('ERR_SOURCE_UNAVAILABLE');
    expect(message).toContain('HTTP 500, InternalServerError');
    expect(double.log).toHaveLength(3);
  });

  it('a service that never answers: ERR_SOURCE_UNAVAILABLE at the deadline, and every held request is abandoned by the client (the signal reaches the SDK)', async () => {
    double.add('db-password', 'x');
    double.faults.push({ hang: true }, { hang: true }, { hang: true }, { hang: true }, { hang: true });
    const started = Date.now();
    const { code, message } = await loadFailure(source(), { retry: { deadline: 300, minDelay: 1, maxDelay: 5 } });
    expect(code).toBe('ERR_SOURCE_UNAVAILABLE');
    expect(message).toContain('deadline of 300 ms');
    expect(Date.now() - started).toBeLessThan(2000);
    const held = double.log.length;
    expect(held).toBeGreaterThan(0);
    await expect.poll(() => double.abandoned, { timeout: 5000 }).toBe(held);
    expect(double.release()).toBe(held); // nothing is left to answer: release() finds every response destroyed
    double.faults.length = 0;
  });

  it('nothing listening is ERR_SOURCE_UNAVAILABLE, retried', async () => {
    const gone = await new AzureKeyVaultDouble(pem!).start();
    const address = gone.address;
    await gone.stop();
    const orphan = new SecretClient(address, new TestCredential('t'), { tlsOptions: { ca: pem!.cert }, disableChallengeResourceVerification: true, retryOptions: { maxRetries: 0 } });
    const { code, message } = await loadFailure(azureKeyVault({ client: orphan, name: 'x' }), { retry: { retries: 1, minDelay: 1, maxDelay: 2 } });
    expect(code).toBe('ERR_SOURCE_UNAVAILABLE');
    expect(message).toContain('ECONNREFUSED');
  });

  it('truncated or malformed JSON is ERR_SOURCE_FORMAT, and no byte of the answer is in the message', async () => {
    double.add('db-password', 'never-in-a-message');
    double.faults.push({ truncate: true });
    const truncated = await loadFailure(source());
    expect(truncated.code).toBe('ERR_SOURCE_FORMAT');
    expect(truncated.message).toContain('PARSE_ERROR');
    expect(truncated.message).not.toMatch(/never|"value"/);
    double.faults.push({ malformed: true });
    const malformed = await loadFailure(source());
    expect(malformed.code).toBe('ERR_SOURCE_FORMAT');
    expect(malformed.message).not.toContain('html');
    expect(double.log).toHaveLength(2); // neither retried
  });

  it('JSON that is not a secret bundle is ERR_SOURCE_FORMAT: no value, a value that is no string, no id, an id of another secret or version', async () => {
    const version = double.add('db-password', 'x');
    const id = (name: string, v: string): string => `${double.address}/secrets/${name}/${v}`;
    const attributes = { enabled: true, created: 1, updated: 1 };
    const cases: [unknown, RegExp, string?][] = [
      [{ id: id('db-password', version), attributes }, /has no value \(none\)/],
      [{ value: 42, id: id('db-password', version), attributes }, /has no value \(number\)/],
      [{ value: 'x', attributes }, /could not be read \(TypeError\)/],
      [{ value: 'x', id: 'not a url', attributes }, /not a Key Vault secret identifier/],
      [{ value: 'x', id: id('other-secret', version), attributes }, /another secret/],
      [{ value: 'x', id: id('db-password', 'b'.repeat(32)), attributes }, /not the version asked for/, version],
    ];
    for (const [answer, why, asked] of cases) {
      double.faults.push({ answer });
      const { code, message } = await loadFailure(source('db-password', asked === undefined ? {} : { version: asked }));
      expect(code, JSON.stringify(answer)).toBe('ERR_SOURCE_FORMAT');
      expect(message).toMatch(why);
    }
    expect(double.log).toHaveLength(cases.length); // none retried
  });

  it('a secret over maxSize (counted in UTF-8 bytes) is ERR_SOURCE_FORMAT; an empty one too', async () => {
    double.add('db-password', '\u00e9\u00e9\u00e9'); // 3 characters, 6 bytes
    expect((await loadOne(source('db-password', { maxSize: 6 }))).length).toBe(6);
    expect(await loadFailure(source('db-password', { maxSize: 5 }))).toMatchObject({ code: 'ERR_SOURCE_FORMAT', message: expect.stringContaining('6 bytes, more than maxSize (5)') });
    double.add('db-password', '');
    expect(await loadFailure(source())).toMatchObject({ code: 'ERR_SOURCE_FORMAT', message: expect.stringContaining('empty') });
  });

  it("with challenge resource verification on (the SDK's default), the double's challenge is refused: ERR_SOURCE_AUTH, not retried", async () => {
    double.add('db-password', 'x');
    const strict = new SecretClient(double.address, new TestCredential(double.accessToken), { tlsOptions: { ca: pem!.cert }, retryOptions: { maxRetries: 0 } });
    const { code, message } = await loadFailure(azureKeyVault({ client: strict, name: 'db-password' }));
    expect(code).toBe('ERR_SOURCE_AUTH');
    expect(message).toContain('disableChallengeResourceVerification');
    expect(double.log).toHaveLength(1);
  });

  it('a credential that gets no token (CredentialUnavailableError of @azure/identity) is ERR_SOURCE_AUTH, not retried', async () => {
    class CredentialUnavailableError extends Error {
      override name = 'CredentialUnavailableError';
    }
    const noToken: TokenCredential = { getToken: () => Promise.reject(new CredentialUnavailableError('no managed identity endpoint')) };
    const { code, message } = await loadFailure(azureKeyVault({ client: clientFor(noToken), name: 'db-password' }));
    expect(code).toBe('ERR_SOURCE_AUTH');
    expect(message).toContain('(CredentialUnavailableError)');
    expect(double.log).toHaveLength(1);
  });

  it('bad arguments are ERR_INVALID_ARG at once', () => {
    expect(errorCode(() => azureKeyVault({ client, name: 'a/b' }))).toBe('ERR_INVALID_ARG');
    expect(errorCode(() => azureKeyVault({ client, name: 'x'.repeat(128) }))).toBe('ERR_INVALID_ARG');
    expect(errorCode(() => azureKeyVault({ client, name: 'ok', version: '../x' }))).toBe('ERR_INVALID_ARG');
    expect(errorCode(() => azureKeyVault({ client, name: 'ok', maxSize: 0 }))).toBe('ERR_INVALID_ARG');
    expect(errorCode(() => azureKeyVault({ client: {} as never, name: 'ok' }))).toBe('ERR_INVALID_ARG');
    expect(errorCode(() => azureKeyVault({ client: { vaultUrl: 'nope', getSecret: client.getSecret } as never, name: 'ok' }))).toBe('ERR_INVALID_ARG');
    expect(errorCode(() => azureKeyVault({ client, name: 'ok', extra: true } as never))).toBe('ERR_INVALID_ARG');
    expect(errorCode(() => (azureKeyVault as (...args: unknown[]) => unknown)({ client, name: 'ok' }, {}))).toBe('ERR_INVALID_ARG');
  });
});

// A secret of `length` characters between U+0100 and U+07FF (two bytes each in UTF-8 and in
// UTF-16), random: its UTF-8 and UTF-16LE forms differ, so a scan tells the bytes we encode from
// the JS string the SDK made. It is large (16,000 bytes in UTF-8) so that a freed copy goes back
// to malloc as one large chunk, not to a small-size cache that is reused at once.
function wideSecret(length: number): { text: string; utf8: Uint8Array; utf16: Uint8Array } {
  const random = randomBytes(length * 2);
  let text = '';
  for (let i = 0; i < length; i++) text += String.fromCharCode(0x100 + ((((random[2 * i] ?? 0) << 8) | (random[2 * i + 1] ?? 0)) % 0x700));
  return { text, utf8: new Uint8Array(Buffer.from(text, 'utf8')), utf16: new Uint8Array(Buffer.from(text, 'utf16le')) };
}

// What a scan looks for: 256 bytes from the middle, so a freed copy whose first bytes malloc
// has overwritten with its own bookkeeping is still found (a whole 16,000-byte marker would not be).
const probe = (bytes: Uint8Array): Uint8Array => bytes.subarray(bytes.length / 2 - 128, bytes.length / 2 + 128);

// The child: loads two secrets from the double (this process) with a SecretClient and pauses
// at checkpoints. The secrets reach it only through the double's answers.
function childCode(): string {
  return `
import * as core from '@strongroom/core-native';
import { SecretClient } from '@azure/keyvault-secrets';
import { azureKeyVault, loadSecrets } from '@strongroom/kms-loaders';
core.configure({ backend: 'mmap' }); // guarded pages a scan can read ('secretmem' pages it cannot)
async function settle(label, data) {
  for (let i = 0; i < 3; i++) { globalThis.gc(); await new Promise((resolve) => setImmediate(resolve)); }
  await checkpoint(label, data);
}
const credential = { getToken: async () => ({ token: process.env.KV_TOKEN, expiresOnTimestamp: Date.now() + 3600000 }) };
const client = new SecretClient(process.env.KV_URL, credential, {
  tlsOptions: { ca: process.env.KV_CA }, disableChallengeResourceVerification: true, retryOptions: { maxRetries: 0 },
});
const store = await loadSecrets({
  escaped: azureKeyVault({ client, name: 'residue-escaped' }),
  raw: azureKeyVault({ client, name: 'residue-raw' }),
});
await settle('loaded');
const opened = store.get('escaped').open();
let copy = opened.read((view) => Buffer.from(view)); // a deliberate heap copy: a control
await settle('opened');
opened.destroy();
copy.fill(0);
copy = undefined;
store.close();
await settle('closed');
{
  // control: the value as getSecret gives it, encoded to UTF-8 the usual way, not wiped, dropped.
  // (A new client: the first one's kept-alive connection may have been closed by the double
  // while this process was stopped for the scans.)
  const again = new SecretClient(process.env.KV_URL, credential, { tlsOptions: { ca: process.env.KV_CA }, disableChallengeResourceVerification: true });
  const dropped = new TextEncoder().encode((await again.getSecret('residue-escaped')).value);
  if (dropped.length === 0) process.exit(3);
}
await settle('dropped');
process.exit(0);
`;
}

describe('residue', () => {
  it("after a load and a GC, the secret's UTF-8 is nowhere in the child's memory; the JS string the SDK made is, in ordinary memory (the README's row)", async () => {
    // 'escaped' is sent with \uXXXX escapes, so its UTF-8 never crosses the wire: the only UTF-8
    // copies the child can hold are the ones azureKeyVault() encodes (and wipes).
    // 'raw' is sent as UTF-8, as JSON usually is: the answer's bytes hold it too.
    const escaped = wideSecret(8000);
    const raw = wideSecret(8000);
    double.add('residue-escaped', escaped.text, { escape: true });
    double.add('residue-raw', raw.text);
    const child = await startChild(childCode(), {
      cwd: PACKAGE_DIR,
      args: ['--expose-gc'],
      env: { KV_URL: double.address, KV_TOKEN: double.accessToken, KV_CA: pem!.cert },
      timeoutMs: 60_000,
    });
    const guarded = (found: ScanResult): MemoryMatch[] => found.matches.filter((m) => m.mapping.perms === '---p');
    const ordinary = (found: ScanResult): boolean => found.matches.every((m) => m.mapping.perms.startsWith('rw'));
    // Each stage: wait for the checkpoint, scan, check, resume; on a failure the child is killed
    // and the error names the stage.
    const stage = async (label: string, check: (scan: (bytes: Uint8Array) => Promise<ScanResult>) => Promise<void>): Promise<void> => {
      try {
        await child.waitFor(label);
        await check(async (bytes) => {
          const found = await child.scan(probe(bytes));
          expect(found.scannedBytes).toBeGreaterThan(MIN_SCANNED_BYTES); // enough read to show an absence
          return found;
        });
        child.resume();
      } catch (error) {
        child.kill();
        throw new Error(`stage '${label}': ${(error as Error).message}`, { cause: error });
      }
    };

    await stage('loaded', async (scan) => {
      expect((await scan(escaped.utf8)).matches).toHaveLength(0); // encoded, sealed and wiped
      const string = await scan(escaped.utf16); // the value as the SDK's JS string: nobody can wipe it
      expect(string.matches.length).toBeGreaterThan(0);
      expect(guarded(string)).toHaveLength(0);
      expect(ordinary(string)).toBe(true);
      const answer = await scan(raw.utf8); // the raw answer's bytes, where Node, OpenSSL and the SDK read it
      expect(guarded(answer)).toHaveLength(0);
      expect(ordinary(answer)).toBe(true);
    });
    await stage('opened', async (scan) => {
      // positive control: the opened secret in its guarded region (at rest, PROT_NONE) and the heap copy
      const found = await scan(escaped.utf8);
      expect(guarded(found)).toHaveLength(1);
      expect(found.matches).toHaveLength(2);
    });
    await stage('closed', async (scan) => {
      expect((await scan(escaped.utf8)).matches).toHaveLength(0);
    });
    await stage('dropped', async (scan) => {
      // control: UTF-8 encoded the usual way and dropped unwiped is still there after the GC,
      // and the scan finds it: what 'loaded' would show if azureKeyVault() did not wipe
      const found = await scan(escaped.utf8);
      expect(found.matches.length).toBeGreaterThan(0);
      expect(guarded(found)).toHaveLength(0);
    });
    expect((await child.exited).code).toBe(0);
  });
});
