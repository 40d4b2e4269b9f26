// gcpSecretManager() with Google's own client (@google-cloud/secret-manager 6.x) on its REST
// transport (`fallback: true`), pointed at a protocol double of Secret Manager's HTTP API
// (doubles.ts) with `apiEndpoint`, `port` and `protocol: 'http'`, and credentials that need
// no network: an OAuth2Client holding an access token that has not expired, so the client
// never asks a token endpoint. CRC-32C is checked against the standard's test vector.
import { SecretManagerServiceClient } from '@google-cloud/secret-manager';
import { OAuth2Client } from 'google-auth-library';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errorCode } from '@strongroom/testkit';

import { crc32c } from '../src/crc32c.js';
import { gcpSecretManager, loadSecrets, type Source } from '../src/index.js';
import { SecretManagerDouble } from './doubles.js';
import { fast, loadFailure, resetDoubleEachTest, textOf } from './helpers.js';

let double: SecretManagerDouble;
let client: SecretManagerServiceClient;

function clientFor(accessToken: string): SecretManagerServiceClient {
  const auth = new OAuth2Client();
  auth.setCredentials({ access_token: accessToken, expiry_date: Date.now() + 3_600_000 });
  return new SecretManagerServiceClient({ fallback: true, apiEndpoint: '127.0.0.1', port: double.port, protocol: 'http', authClient: auth } as ConstructorParameters<typeof SecretManagerServiceClient>[0]);
}

beforeAll(async () => {
  double = await new SecretManagerDouble().start();
  client = clientFor(double.accessToken);
});
afterAll(async () => {
  await client.close();
  await double.stop();
});
resetDoubleEachTest(() => double);

const NAME = 'projects/demo/secrets/db-password';
const source = (name = `${NAME}/versions/latest`, options: { maxSize?: number } = {}): Source => gcpSecretManager({ client, name, ...options });

describe('crc32c', () => {
  it('matches the CRC-32C check value and RFC 3720 vectors', () => {
    expect(crc32c(Buffer.from('123456789'))).toBe(0xe3069283);
    expect(crc32c(new Uint8Array(32))).toBe(0x8a9136aa);
    expect(crc32c(new Uint8Array(32).fill(0xff))).toBe(0x62a8ab43);
    expect(crc32c(new Uint8Array(0))).toBe(0);
  });
});

describe('gcpSecretManager()', () => {
  it('reads the latest version, or a numbered one, through the real client; the bytes arrive intact', async () => {
    const bytes = Buffer.from(Array.from({ length: 256 }, (_, i) => 255 - i));
    double.secrets.delete(NAME);
    double.add(NAME, Buffer.from('first'));
    double.add(NAME, bytes);
    const store = await loadSecrets({ latest: source(), first: source(`${NAME}/versions/1`) }, fast);
    expect(store.use('latest', (secret) => secret.read((view) => Buffer.from(view).equals(bytes)))).toBe(true);
    expect(textOf(store.get('first'))).toBe('first');
    expect(double.log.map((l) => l.path).sort()).toEqual([`/v1/${NAME}/versions/1:access`, `/v1/${NAME}/versions/latest:access`]);
    expect(double.log[0]?.authorization).toBe(`Bearer ${double.accessToken}`);
    store.close();
  });

  it('a CRC-32C mismatch is ERR_SOURCE_FORMAT', async () => {
    double.add(NAME, Buffer.from('checked'));
    double.faults.push({ badCrc: true });
    expect(await loadFailure(source())).toMatchObject({ code: 'ERR_SOURCE_FORMAT', message: expect.stringContaining('CRC-32C') });
  });

  it('wrong credentials are ERR_SOURCE_AUTH (401; 403), not retried', async () => {
    const stranger = clientFor('ya29.not-a-valid-token');
    try {
      const { code, message } = await loadFailure(gcpSecretManager({ client: stranger, name: `${NAME}/versions/latest` }));
      expect(code).toBe('ERR_SOURCE_AUTH');
      expect(message).not.toContain('ya29');
      expect(double.log).toHaveLength(1);
    } finally {
      await stranger.close();
    }
    double.faults.push({ status: 403 });
    expect((await loadFailure(source())).code).toBe('ERR_SOURCE_AUTH');
  });

  it('a missing secret or version is ERR_SECRET_NOT_FOUND; a disabled version too', async () => {
    expect((await loadFailure(source('projects/demo/secrets/none/versions/latest'))).code).toBe('ERR_SECRET_NOT_FOUND');
    expect((await loadFailure(source(`${NAME}/versions/999`))).code).toBe('ERR_SECRET_NOT_FOUND');
    const n = double.add(NAME, Buffer.from('off'));
    (double.secrets.get(NAME)?.[n - 1] as { disabled?: boolean }).disabled = true;
    expect(await loadFailure(source(`${NAME}/versions/${n}`))).toMatchObject({ code: 'ERR_SECRET_NOT_FOUND', message: expect.stringContaining('disabled') });
  });

  it('throttling (429) and 503 are retried by the store (the client does not retry), then loaded', async () => {
    double.add(NAME, Buffer.from('patient'));
    double.faults.push({ status: 429 }, { status: 503 });
    const store = await loadSecrets({ s: source() }, fast);
    expect(textOf(store.get('s'))).toBe('patient');
    expect(double.log).toHaveLength(3);
    store.close();
  });

  it('malformed or truncated JSON is ERR_SOURCE_FORMAT, and no byte of the answer is in the message', async () => {
    double.add(NAME, Buffer.from('never-in-a-message'));
    double.faults.push({ malformed: true });
    expect((await loadFailure(source())).code).toBe('ERR_SOURCE_FORMAT');
    double.faults.push({ truncate: true });
    const { code, message } = await loadFailure(source());
    expect(code).toBe('ERR_SOURCE_FORMAT');
    expect(message).not.toContain(Buffer.from('never-in-a-message').toString('base64').slice(0, 8));
  });

  it('a secret over maxSize is ERR_SOURCE_FORMAT', async () => {
    double.add(NAME, Buffer.alloc(33, 0x61));
    expect(await loadFailure(source(undefined, { maxSize: 32 }))).toMatchObject({ code: 'ERR_SOURCE_FORMAT', message: expect.stringContaining('maxSize (32 bytes)') });
  });

  it('a service that never answers: the load ends at the deadline; an answer after it is wiped and dropped', async () => {
    double.faults.push({ hang: true }, { hang: true }, { hang: true });
    const started = Date.now();
    const { code, message } = await loadFailure(source(), { retry: { deadline: 300, minDelay: 1, maxDelay: 5 } });
    expect(code).toBe('ERR_SOURCE_UNAVAILABLE');
    expect(message).toContain('deadline of 300 ms');
    expect(Date.now() - started).toBeLessThan(2000);
    // The client cannot cancel its call: the requests are still waiting. Answered now, late,
    // their secrets are wiped and dropped (resetDoubleEachTest: no SecretBuffer left alive).
    double.add(NAME, Buffer.from('too-late'));
    expect(double.release()).toBeGreaterThan(0);
    await new Promise((resolve) => setTimeout(resolve, 200));
  });

  it('a new version seen by store.refresh() is a rotation', async () => {
    double.add(NAME, Buffer.from('v1'));
    const store = await loadSecrets({ s: source() }, fast);
    double.add(NAME, Buffer.from('v2'));
    await store.refresh('s');
    expect([textOf(store.get('s')), store.version('s')]).toEqual(['v2', 2]);
    store.close();
  });

  it('bad arguments are ERR_INVALID_ARG at once', () => {
    expect(errorCode(() => gcpSecretManager({ client, name: 'db-password' }))).toBe('ERR_INVALID_ARG');
    expect(errorCode(() => gcpSecretManager({ client: {} as never, name: `${NAME}/versions/1` }))).toBe('ERR_INVALID_ARG');
    expect(errorCode(() => gcpSecretManager({ client, name: `${NAME}/versions/1`, extra: true } as never))).toBe('ERR_INVALID_ARG');
    expect(errorCode(() => (gcpSecretManager as (...args: unknown[]) => unknown)({ client, name: `${NAME}/versions/1` }, {}))).toBe('ERR_INVALID_ARG');
  });
});
