// awsSecretsManager() and awsKms() against moto's server (a real implementation of the
// Secrets Manager and KMS protocols, started per file by ./moto.ts), never a mock: the
// happy paths (SecretBinary, SecretString, a JSON field of each, a KMS ciphertext made by
// moto's Encrypt), each failure mapped to its source code without the value in the message,
// retries through a local HTTP server in front of moto that throttles (429) or fails (503)
// first and then proxies (moto does not throttle), the deadline (the AbortSignal reaches the
// SDK: the held request is closed), rotation seen by store.refresh, and the residue a load
// leaves in a child's memory.
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type net from 'node:net';

import { CreateSecretCommand, PutSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import { CreateKeyCommand, EncryptCommand } from '@aws-sdk/client-kms';
import { expectResidue, errorCode, makeMarker, startChild, textMarker, type MemoryMatch, type ScanResult } from '@strongroom/testkit';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';

import { awsKms, awsSecretsManager, loadSecrets, type StrongroomError } from '../src/index.js';
import { CREDENTIALS, REGION, startMoto, type Moto } from './moto.js';

let moto: Moto;
let unavailable: unknown; // why moto could not start: every test then fails with it (never skips)
beforeAll(async () => {
  try {
    moto = await startMoto();
  } catch (error) {
    unavailable = error;
  }
}, 90_000);
afterAll(async () => {
  await moto?.stop();
});
beforeEach(async () => {
  if (unavailable !== undefined) throw unavailable;
  await moto.reset();
});

async function failure(promise: Promise<unknown>): Promise<StrongroomError> {
  try {
    await promise;
  } catch (error) {
    return error as StrongroomError;
  }
  throw new Error('expected the load to fail');
}

/** The bytes an Enclave of the store holds (tests only: a heap copy). */
function bytesIn(store: Awaited<ReturnType<typeof loadSecrets>>, name: string): Buffer {
  return store.use(name, (secret) => secret.read((view) => Buffer.from(view)));
}

async function createSecret(name: string, value: { binary: Uint8Array } | { text: string }): Promise<void> {
  await moto.secretsManager().send(
    new CreateSecretCommand({ Name: name, ...('binary' in value ? { SecretBinary: value.binary } : { SecretString: value.text }) }),
  );
}

async function kmsKey(): Promise<string> {
  const created = await moto.kms().send(new CreateKeyCommand({}));
  return created.KeyMetadata!.KeyId!;
}

async function encrypt(keyId: string, plaintext: Uint8Array, context?: Record<string, string>): Promise<Uint8Array> {
  const out = await moto.kms().send(new EncryptCommand({ KeyId: keyId, Plaintext: plaintext, ...(context ? { EncryptionContext: context } : {}) }));
  return out.CiphertextBlob!;
}

interface Proxy {
  readonly endpoint: string;
  /** Requests received. */
  readonly requests: number;
  /** Requests whose socket the client closed before an answer (an abort). */
  readonly aborted: number;
  close(): Promise<void>;
}

/**
 * A local HTTP server in front of moto: `plan(n)` for the n-th request (from 0) says to
 * answer with a status (and an AWS JSON error body), to hold the request unanswered, or to
 * pass it to moto.
 */
async function proxy(plan: (n: number) => { status: number; type: string } | 'hold' | 'pass'): Promise<Proxy> {
  let requests = 0;
  let aborted = 0;
  const sockets = new Set<net.Socket>();
  const server = http.createServer((req, res) => {
    const step = plan(requests++);
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      if (step === 'hold') {
        res.on('close', () => {
          if (!res.writableFinished) aborted++;
        });
        return;
      }
      if (step !== 'pass') {
        res.writeHead(step.status, { 'content-type': 'application/x-amz-json-1.1', 'x-amzn-requestid': 'proxy-request' });
        res.end(JSON.stringify({ __type: step.type, message: 'from the test proxy' }));
        return;
      }
      const headers = { ...req.headers };
      const upstream = http.request(`${moto.endpoint}${req.url}`, { method: req.method, headers, agent: false }, (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      });
      upstream.on('error', () => res.destroy());
      upstream.end(Buffer.concat(chunks));
    });
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    get requests() {
      return requests;
    },
    get aborted() {
      return aborted;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

describe('awsSecretsManager()', () => {
  it('loads SecretBinary byte for byte (not UTF-8: no string in between)', async () => {
    const value = Buffer.concat([Buffer.from([0xff, 0x00, 0xfe, 0x80]), randomBytes(60)]);
    await createSecret('app/binary', { binary: value });
    const store = await loadSecrets({ key: awsSecretsManager({ client: moto.secretsManager(), secretId: 'app/binary' }) });
    expect(bytesIn(store, 'key').equals(value)).toBe(true);
    expect(store.version('key')).toBe(1);
    store.close();
  });

  it('loads SecretString as its UTF-8', async () => {
    await createSecret('app/text', { text: 'pässwörd-\u{1f511}' });
    const store = await loadSecrets({ password: awsSecretsManager({ client: moto.secretsManager(), secretId: 'app/text' }) });
    expect(bytesIn(store, 'password').toString('utf8')).toBe('pässwörd-\u{1f511}');
    store.close();
  });

  it("with field, loads only that field's string value, decoded as JSON.parse would, from SecretBinary and from SecretString", async () => {
    const json = '{"username":"ada","password":"p\\u00e4ss\\"w\\\\ord\\n\\ud83d\\udd11","nested":{"password":1},"list":[1,{"a":null}],"port":5432}';
    const expected = (JSON.parse(json) as { password: string }).password;
    await createSecret('db/binary', { binary: Buffer.from(json) });
    await createSecret('db/text', { text: json });
    const client = moto.secretsManager();
    const store = await loadSecrets({
      fromBinary: awsSecretsManager({ client, secretId: 'db/binary', field: 'password' }),
      fromText: awsSecretsManager({ client, secretId: 'db/text', field: 'password' }),
      user: awsSecretsManager({ client, secretId: 'db/binary', field: 'username' }),
    });
    expect(bytesIn(store, 'fromBinary').toString('utf8')).toBe(expected);
    expect(bytesIn(store, 'fromText').toString('utf8')).toBe(expected);
    expect(bytesIn(store, 'user').toString('utf8')).toBe('ada');
    store.close();
  });

  it('the last of duplicate keys wins, as with JSON.parse', async () => {
    await createSecret('dup', { binary: Buffer.from('{"password":"first","password":"second"}') });
    const store = await loadSecrets({ p: awsSecretsManager({ client: moto.secretsManager(), secretId: 'dup', field: 'password' }) });
    expect(bytesIn(store, 'p').toString()).toBe('second');
    store.close();
  });

  it('a missing secret is ERR_SECRET_NOT_FOUND naming it, asked once (not retried)', async () => {
    const front = await proxy(() => 'pass');
    try {
      const error = await failure(loadSecrets({ db: awsSecretsManager({ client: moto.secretsManager(front.endpoint), secretId: 'no/such/secret' }) }));
      expect(error.code).toBe('ERR_SECRET_NOT_FOUND');
      expect(error.message).toContain('no/such/secret');
      expect(error.message).toContain('ResourceNotFoundException');
      expect(error.message).toContain('HTTP 404');
      expect(front.requests).toBe(1);
    } finally {
      await front.close();
    }
  });

  it('a field that is missing, not a string, or a secret that is not a JSON object is ERR_SOURCE_FORMAT, without the value', async () => {
    const value = 'fmt-value-7f3a';
    await createSecret('fmt/json', { binary: Buffer.from(`{"password":"${value}","port":5432,"empty":""}`) });
    await createSecret('fmt/plain', { binary: Buffer.from(value) });
    await createSecret('fmt/array', { text: `["${value}"]` });
    await createSecret('fmt/trailing', { text: `{"password":"${value}"} x` });
    const client = moto.secretsManager();
    const cases: [string, string, RegExp][] = [
      ['fmt/json', 'user', /no field 'user'/],
      ['fmt/json', 'port', /'port' of the secret is not a string/],
      ['fmt/json', 'empty', /'empty' of the secret is an empty string/],
      ['fmt/plain', 'password', /not a JSON object/],
      ['fmt/array', 'password', /not a JSON object/],
      ['fmt/trailing', 'password', /not a JSON object/],
    ];
    for (const [secretId, field, why] of cases) {
      const error = await failure(loadSecrets({ s: awsSecretsManager({ client, secretId, field }) }));
      expect(error.code, `${secretId} ${field}`).toBe('ERR_SOURCE_FORMAT');
      expect(error.message).toMatch(why);
      expect(error.message).not.toContain(value);
    }
  });

  it('a secret over maxSize is ERR_SOURCE_FORMAT (the default is 64 KiB)', async () => {
    await createSecret('big', { binary: randomBytes(100) });
    const error = await failure(loadSecrets({ s: awsSecretsManager({ client: moto.secretsManager(), secretId: 'big', maxSize: 99 }) }));
    expect(error.code).toBe('ERR_SOURCE_FORMAT');
    expect(error.message).toContain('100 bytes, more than maxSize (99)');
    const store = await loadSecrets({ s: awsSecretsManager({ client: moto.secretsManager(), secretId: 'big', maxSize: 100 }) });
    expect(store.get('s').size).toBe(100);
    store.close();
  });

  it('a rotation (a new version in Secrets Manager) is seen by store.refresh; versionStage reads an older one', async () => {
    await createSecret('rotating', { text: 'version-one' });
    const client = moto.secretsManager();
    const store = await loadSecrets({ s: awsSecretsManager({ client, secretId: 'rotating' }) });
    const rotations: number[] = [];
    store.on('rotate', (_name, version) => rotations.push(version));
    await store.refresh('s'); // the same bytes: no rotation
    expect(store.version('s')).toBe(1);
    await client.send(new PutSecretValueCommand({ SecretId: 'rotating', SecretString: 'version-two' }));
    await store.refresh('s');
    expect(store.version('s')).toBe(2);
    expect(rotations).toEqual([2]);
    expect(bytesIn(store, 's').toString()).toBe('version-two');
    store.close();
    const previous = await loadSecrets({ s: awsSecretsManager({ client, secretId: 'rotating', versionStage: 'AWSPREVIOUS' }) });
    expect(bytesIn(previous, 's').toString()).toBe('version-one');
    previous.close();
    const none = await failure(loadSecrets({ s: awsSecretsManager({ client, secretId: 'rotating', versionStage: 'NO-SUCH-STAGE' }) }));
    expect(none.code).toBe('ERR_SECRET_NOT_FOUND');
    expect(none.message).toContain('rotating (NO-SUCH-STAGE)');
  });

  it('bad arguments are ERR_INVALID_ARG at once', () => {
    const client = moto.secretsManager();
    expect(errorCode(() => awsSecretsManager({ client } as never))).toBe('ERR_INVALID_ARG');
    expect(errorCode(() => awsSecretsManager({ client, secretId: '' }))).toBe('ERR_INVALID_ARG');
    expect(errorCode(() => awsSecretsManager({ client, secretId: 's', fields: ['a'] } as never))).toBe('ERR_INVALID_ARG');
    expect(errorCode(() => (awsSecretsManager as (...args: unknown[]) => unknown)({ client, secretId: 's' }, {}))).toBe('ERR_INVALID_ARG');
    expect(errorCode(() => awsSecretsManager({ client: {} as never, secretId: 's' }))).toBe('ERR_INVALID_ARG');
    expect(errorCode(() => awsSecretsManager({ client: moto.kms(), secretId: 's' }))).toBe('ERR_INVALID_ARG');
    expect(errorCode(() => awsSecretsManager({ client, secretId: 's', maxSize: 0 }))).toBe('ERR_INVALID_ARG');
  });
});

describe('awsKms()', () => {
  it('decrypts a ciphertext made by KMS Encrypt (with its key id and encryption context)', async () => {
    const keyId = await kmsKey();
    const plaintext = randomBytes(48);
    const ciphertext = await encrypt(keyId, plaintext, { app: 'billing' });
    const given = new Uint8Array(ciphertext);
    const source = awsKms({ client: moto.kms(), ciphertext: given, keyId, encryptionContext: { app: 'billing' } });
    given.fill(0); // the source made its own copy
    const store = await loadSecrets({ dek: source, plain: awsKms({ client: moto.kms(), ciphertext: await encrypt(keyId, plaintext) }) });
    expect(bytesIn(store, 'dek').equals(plaintext)).toBe(true);
    expect(bytesIn(store, 'plain').equals(plaintext)).toBe(true);
    store.close();
  });

  it('a wrong key is ERR_SOURCE_AUTH; a wrong encryption context or a damaged ciphertext ERR_SOURCE_FORMAT; an unknown key ERR_SECRET_NOT_FOUND', async () => {
    const keyId = await kmsKey();
    const other = await kmsKey();
    const ciphertext = await encrypt(keyId, Buffer.from('kms-value-19ab'), { app: 'billing' });
    const client = moto.kms();
    const wrongKey = await failure(loadSecrets({ k: awsKms({ client, ciphertext, keyId: other, encryptionContext: { app: 'billing' } }) }));
    expect(wrongKey.code).toBe('ERR_SOURCE_AUTH');
    expect(wrongKey.message).toContain(other);
    const wrongContext = await failure(loadSecrets({ k: awsKms({ client, ciphertext, encryptionContext: { app: 'other' } }) }));
    expect(wrongContext.code).toBe('ERR_SOURCE_FORMAT');
    expect(wrongContext.message).toContain('InvalidCiphertextException');
    const damaged = new Uint8Array(ciphertext);
    damaged[damaged.length - 1]! ^= 1;
    const bad = await failure(loadSecrets({ k: awsKms({ client, ciphertext: damaged, encryptionContext: { app: 'billing' } }) }));
    expect(bad.code).toBe('ERR_SOURCE_FORMAT');
    const unknown = await failure(loadSecrets({ k: awsKms({ client, ciphertext, keyId: '00000000-0000-0000-0000-000000000000' }) }));
    expect(['ERR_SECRET_NOT_FOUND', 'ERR_SOURCE_AUTH']).toContain(unknown.code);
    for (const error of [wrongKey, wrongContext, bad, unknown]) expect(error.message).not.toContain('kms-value-19ab');
  });

  it('a plaintext over maxSize is ERR_SOURCE_FORMAT', async () => {
    const keyId = await kmsKey();
    const error = await failure(loadSecrets({ k: awsKms({ client: moto.kms(), ciphertext: await encrypt(keyId, randomBytes(32)), maxSize: 31 }) }));
    expect(error.code).toBe('ERR_SOURCE_FORMAT');
    expect(error.message).toContain('32 bytes, more than maxSize (31)');
  });

  it('bad arguments are ERR_INVALID_ARG at once', () => {
    const client = moto.kms();
    const ciphertext = Uint8Array.of(1, 2, 3);
    expect(errorCode(() => awsKms({ client } as never))).toBe('ERR_INVALID_ARG');
    expect(errorCode(() => awsKms({ client, ciphertext: new Uint8Array(0) }))).toBe('ERR_INVALID_ARG');
    expect(errorCode(() => awsKms({ client, ciphertext: 'AQID' as never }))).toBe('ERR_INVALID_ARG');
    expect(errorCode(() => awsKms({ client, ciphertext, encryptionContext: { a: 1 } as never }))).toBe('ERR_INVALID_ARG');
    expect(errorCode(() => awsKms({ client, ciphertext, context: {} } as never))).toBe('ERR_INVALID_ARG');
    expect(errorCode(() => awsKms({ client: moto.secretsManager(), ciphertext }))).toBe('ERR_INVALID_ARG');
    expect(errorCode(() => (awsKms as (...args: unknown[]) => unknown)({ client, ciphertext }, {}))).toBe('ERR_INVALID_ARG');
  });
});

describe('retries, the deadline and an unreachable service', () => {
  it('throttling (429 ThrottlingException) twice, then moto answers: the store retries and loads', async () => {
    await createSecret('throttled', { text: 'after-the-throttle' });
    const front = await proxy((n) => (n < 2 ? { status: 429, type: 'ThrottlingException' } : 'pass'));
    try {
      const store = await loadSecrets(
        { s: awsSecretsManager({ client: moto.secretsManager(front.endpoint), secretId: 'throttled' }) },
        { retry: { minDelay: 1, maxDelay: 5 } },
      );
      expect(bytesIn(store, 's').toString()).toBe('after-the-throttle');
      expect(front.requests).toBe(3);
      store.close();
    } finally {
      await front.close();
    }
  });

  it('a KMS 503 for every attempt is ERR_SOURCE_UNAVAILABLE after retries + 1 requests', async () => {
    const front = await proxy(() => ({ status: 503, type: 'KMSInternalException' }));
    try {
      const error = await failure(
        loadSecrets({ k: awsKms({ client: moto.kms(front.endpoint), ciphertext: Uint8Array.of(1, 2, 3) }) }, { retry: { retries: 2, minDelay: 1, maxDelay: 5 } }),
      );
      expect(error.code).toBe('ERR_SOURCE_UNAVAILABLE');
      expect(error.message).toContain('KMSInternalException');
      expect(front.requests).toBe(3);
    } finally {
      await front.close();
    }
  });

  it('a service that never answers: ERR_SOURCE_UNAVAILABLE at the deadline, and the request is aborted (the signal reaches the SDK)', async () => {
    const front = await proxy(() => 'hold');
    try {
      const started = Date.now();
      const error = await failure(loadSecrets({ s: awsSecretsManager({ client: moto.secretsManager(front.endpoint), secretId: 'slow' }) }, { retry: { deadline: 300 } }));
      expect(error.code).toBe('ERR_SOURCE_UNAVAILABLE');
      expect(error.message).toContain('deadline of 300 ms');
      expect(Date.now() - started).toBeLessThan(5000);
      await expect.poll(() => front.aborted, { timeout: 5000 }).toBe(front.requests);
      expect(front.requests).toBeGreaterThan(0);
    } finally {
      await front.close();
    }
  });

  it('nothing listening on the endpoint is ERR_SOURCE_UNAVAILABLE, retried', async () => {
    const front = await proxy(() => 'pass');
    const closed = front.endpoint;
    await front.close();
    const error = await failure(
      loadSecrets({ s: awsSecretsManager({ client: moto.secretsManager(closed), secretId: 'x' }) }, { retry: { retries: 1, minDelay: 1, maxDelay: 2 } }),
    );
    expect(error.code).toBe('ERR_SOURCE_UNAVAILABLE');
  });

  it('refused credentials are ERR_SOURCE_AUTH, not retried', async () => {
    const front = await proxy(() => ({ status: 400, type: 'UnrecognizedClientException' }));
    try {
      const error = await failure(loadSecrets({ s: awsSecretsManager({ client: moto.secretsManager(front.endpoint), secretId: 'x' }) }));
      expect(error.code).toBe('ERR_SOURCE_AUTH');
      expect(error.message).toContain('UnrecognizedClientException');
      expect(front.requests).toBe(1);
    } finally {
      await front.close();
    }
  });
});

// The child: loads a marker secret (SecretBinary) from moto and pauses at checkpoints.
function childCode(endpoint: string): string {
  return `
import * as core from '@strongroom/core-native';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { loadSecrets, awsSecretsManager } from '@strongroom/kms-loaders';
core.configure({ backend: 'mmap' }); // guarded pages a scan can read ('secretmem' pages it cannot)
async function settle(label) {
  for (let i = 0; i < 3; i++) { globalThis.gc(); await new Promise((resolve) => setImmediate(resolve)); }
  await checkpoint(label);
}
const client = new SecretsManagerClient({ region: '${REGION}', endpoint: '${endpoint}', credentials: ${JSON.stringify(CREDENTIALS)}, maxAttempts: 1 });
const store = await loadSecrets({
  s: awsSecretsManager({ client, secretId: 'residue/marker' }),
  f: awsSecretsManager({ client, secretId: 'residue/json', field: 'password' }),
});
await settle('loaded');
const opened = store.get('s').open();
const openedField = store.get('f').open();
// deliberate heap copies: the controls
let copy = opened.read((view) => Buffer.from(view));
let copyField = openedField.read((view) => Buffer.from(view));
await settle('opened');
opened.destroy();
openedField.destroy();
copy.fill(0);
copyField.fill(0);
copy = copyField = undefined;
store.close();
client.destroy();
await settle('closed');
`;
}

const guarded = (match: MemoryMatch): boolean => match.mapping.perms === '---p';

describe('residue', () => {
  it("after loading a SecretBinary marker (whole, and a JSON field), its bytes are nowhere in the child's memory; only the answer's base64 (the SDK's response text) remains, outside guarded memory", async () => {
    const marker = makeMarker(48);
    const base64 = new Uint8Array(Buffer.from(Buffer.from(marker).toString('base64'), 'latin1'));
    await createSecret('residue/marker', { binary: marker });
    // A JSON field of a SecretBinary: the SDK's decoded JSON bytes hold it, and are wiped.
    const field = textMarker(makeMarker(32));
    await createSecret('residue/json', { binary: Buffer.from(`{"user":"ada","password":"${field.text}"}`) });
    const child = await startChild(childCode(moto.endpoint), { cwd: new URL('..', import.meta.url).pathname, args: ['--expose-gc'], timeoutMs: 60_000 });
    const encoded = (): Promise<ScanResult> => child.scan(base64); // stopped while scanned, as expectResidue's own scans
    const fieldCopies = (): Promise<ScanResult> => child.scan(field.bytes);
    await expectResidue(child, marker, [
      {
        at: 'loaded', // sealed in the Enclave: the marker's bytes are nowhere, not even in the SDK's decoded SecretBinary (wiped)
        count: 0,
        check: async () => {
          expect((await fieldCopies()).matches).toHaveLength(0); // the field's value, decoded from the JSON bytes, then wiped
          // What the table in the README names: the base64 text of the answer (socket chunks,
          // the SDK's body, the JSON string, SecretBinary's base64 string), in ordinary memory.
          const text = await encoded();
          expect(text.matches.length).toBeGreaterThan(0);
          expect(text.matches.filter(guarded)).toHaveLength(0);
          expect(text.matches.every((m) => m.mapping.perms.startsWith('rw'))).toBe(true);
        },
      },
      {
        at: 'opened', // positive control: the scan sees the opened secret in its guarded region and the heap copy
        count: 2,
        check: async (found: ScanResult) => {
          expect(found.matches.filter(guarded)).toHaveLength(1);
          expect(found.matches.filter((m) => m.mapping.perms.startsWith('rw'))).toHaveLength(1);
          const fields = await fieldCopies();
          expect(fields.matches.filter(guarded)).toHaveLength(1);
          expect(fields.matches).toHaveLength(2);
        },
      },
      {
        at: 'closed',
        count: 0,
        check: async () => expect((await fieldCopies()).matches).toHaveLength(0),
      },
    ]);
  });
});
