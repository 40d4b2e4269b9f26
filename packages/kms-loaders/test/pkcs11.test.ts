// pkcs11() against a real SoftHSM2 token (testkit's softHsm: softhsm2 and opensc from apt,
// installed by scripts/setup.sh): a data key wrapped with AES-GCM under a key that lives on
// the token is unwrapped into an Enclave, with the PIN a SecretBuffer or an Enclave; every
// failure is a typed source error naming the module, token and key, never the PIN.
// (core-native's pkcs11.test.ts covers the caller itself: RSA-OAEP, residue, descriptors.)
import crypto from 'node:crypto';
import path from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errorCode, rejectionOf, softHsm, type SoftHsm } from '@strongroom/testkit';

import { Enclave, loadSecrets, pkcs11, SecretBuffer, type Pkcs11SourceOptions } from '../src/index.js';
import { textOf } from './helpers.js';

const TOKEN = 'loaders-test';
const PIN = '5521-8841';
const KEY = 'kek';
const kek = crypto.randomBytes(32);
let hsm: SoftHsm;

beforeAll(() => {
  hsm = softHsm();
  hsm.initToken(TOKEN, PIN, '9911-2288');
  hsm.addAesKey({ label: TOKEN, pin: PIN }, kek, KEY);
});
afterAll(() => hsm?.close());

/** iv || ciphertext || tag of `dataKey` under the token's AES key (the wrapping side). */
function wrap(dataKey: string): Buffer {
  const iv = crypto.randomBytes(12);
  const cipher = crypto.createCipheriv('aes-256-gcm', kek, iv);
  return Buffer.concat([iv, cipher.update(dataKey), cipher.final(), cipher.getAuthTag()]);
}

function options(more: Partial<Pkcs11SourceOptions> = {}): Pkcs11SourceOptions {
  return {
    module: hsm.module,
    tokenLabel: TOKEN,
    pin: SecretBuffer.from(Buffer.from(PIN)),
    key: { label: KEY },
    mechanism: 'aes-gcm',
    ciphertext: wrap('the-data-key-0123456789abcdef'),
    ...more,
  };
}

describe('pkcs11()', () => {
  it('unwraps a data key into an Enclave, with the PIN a SecretBuffer or an Enclave', async () => {
    const store = await loadSecrets({
      a: pkcs11(options()),
      b: pkcs11(options({ pin: Enclave.from(Buffer.from(PIN)) })),
    });
    expect(textOf(store.get('a'))).toBe('the-data-key-0123456789abcdef');
    expect(textOf(store.get('b'))).toBe('the-data-key-0123456789abcdef');
    store.close();
  });

  it.each([
    ['a wrong PIN', { pin: SecretBuffer.from(Buffer.from('0000-0000')) }, 'ERR_SOURCE_AUTH'],
    ['a key label not on the token', { key: { label: 'no-such-key' } }, 'ERR_SECRET_NOT_FOUND'],
    ['a token label that does not exist', { tokenLabel: 'no-such-token' }, 'ERR_SECRET_NOT_FOUND'],
    ['a module that does not exist', { module: path.join(hsm?.dir ?? '/nonexistent', 'missing.so') }, 'ERR_SOURCE_UNAVAILABLE'],
    ['a tampered ciphertext', { ciphertext: Buffer.from(wrap('x').map((b, i) => (i === 20 ? b ^ 1 : b))) }, 'ERR_SOURCE_FORMAT'],
  ] as const)('%s: %s', async (_name, more, code) => {
    const error = await rejectionOf(loadSecrets({ k: pkcs11(options(more as Partial<Pkcs11SourceOptions>)) }));
    expect(error.code).toBe(code);
    expect(error.message).toContain("'k'");
    expect(error.message).not.toContain(PIN);
  });

  it('bad options are ERR_INVALID_ARG at once; a string PIN is refused', () => {
    expect(errorCode(() => pkcs11({ ...options(), pin: PIN } as never))).toBe('ERR_INVALID_ARG');
    expect(errorCode(() => pkcs11({ ...options(), pinn: 1 } as never))).toBe('ERR_INVALID_ARG');
    expect(errorCode(() => pkcs11({ ...options(), ciphertext: 'abc' } as never))).toBe('ERR_INVALID_ARG');
  });
});
