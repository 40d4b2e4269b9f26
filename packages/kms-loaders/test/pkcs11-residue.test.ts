// Residue of pkcs11(), in a child process, against a real SoftHSM2 token (testkit's softHsm):
// a data key wrapped with AES-GCM under the token's key, the PIN a SecretBuffer or an Enclave.
// SoftHSM is a library inside the child, so the scan reads its heap (and OpenSSL's) too.
// After a load through loadSecrets and a forced GC: the data key (the marker) is in no
// readable memory of the child; the PIN (a second marker, the token's real PIN) is where the
// caller keeps it (a SecretBuffer's guarded region, or sealed in an Enclave) and nowhere else;
// and the token's AES key, which SoftHSM holds in its heap while logged in, is gone too once
// the exchange has ended (C_Logout, C_Finalize, dlclose). The controls: the opened Enclave in
// its guarded region and a heap copy of the data key; the caller's PIN buffer (or the opened
// PIN Enclave); a planted heap copy of the token's key.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { expectResidue, makeMarker, softHsm, startChild, textMarker, type SoftHsm } from '@strongroom/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { tempFolder } from './helpers.js';
import { CHILD_START, expectGuarded, openedCode, openedStage, plantedCode, plantedStage } from './residue-helpers.js';

const PACKAGE_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { dir, remove } = tempFolder('pkcs11-residue');
const KEY = 'residue-kek';
let hsm: SoftHsm;
let tokens = 0;

beforeAll(() => {
  hsm = softHsm();
});
afterAll(() => {
  hsm?.close();
  remove();
});

/** A token of its own whose PIN is `pin`, with a fresh AES-256 key on it: that key. */
function token(label: string, pin: string): Uint8Array {
  const kek = crypto.randomBytes(32);
  hsm.initToken(label, pin, '9911-2288');
  hsm.addAesKey({ label, pin }, kek, KEY);
  return new Uint8Array(kek);
}

/** iv || ciphertext || tag of dataKey under kek (the wrapping side, done where the key was made). */
function wrap(kek: Uint8Array, dataKey: Uint8Array): Buffer {
  const iv = crypto.randomBytes(12);
  const cipher = crypto.createCipheriv('aes-256-gcm', kek, iv);
  return Buffer.concat([iv, cipher.update(dataKey), cipher.final(), cipher.getAuthTag()]);
}

function childCode(label: string, pinFile: string, ciphertext: Buffer, enclave: boolean, kek: Uint8Array): string {
  return `${CHILD_START}
import { Enclave, loadSecrets, pkcs11, SecretBuffer } from '@strongroom/kms-loaders';
const read = SecretBuffer.fromFile(${JSON.stringify(pinFile)});
const pin = ${enclave ? 'Enclave.seal(read)' : 'read'};
await settle('before');
const store = await loadSecrets({
  s: pkcs11({
    module: ${JSON.stringify(hsm.module)},
    tokenLabel: ${JSON.stringify(label)},
    pin,
    key: { label: ${JSON.stringify(KEY)} },
    mechanism: 'aes-gcm',
    ciphertext: Buffer.from('${ciphertext.toString('hex')}', 'hex'),
  }),
});
await settle('loaded');
${openedCode('pin')}
if (pin instanceof SecretBuffer) pin.destroy();
await settle('closed');
${plantedCode(kek)}
`;
}

describe('pkcs11() residue (SoftHSM2 inside the child)', () => {
  it.each([
    ['a SecretBuffer', false],
    ['an Enclave', true],
  ])('the PIN %s: the data key nowhere; the PIN only where the caller keeps it; the token key gone once the exchange ended', async (_name, enclave) => {
    const marker = makeMarker(32); // the data key
    const pin = textMarker(makeMarker(12)); // printable: softhsm2-util takes the PIN as an argument
    const label = `residue-${++tokens}`;
    const kek = token(label, pin.text);
    const pinFile = path.join(dir, `${label}.pin`);
    fs.writeFileSync(pinFile, pin.bytes, { mode: 0o600 });
    const child = await startChild(childCode(label, pinFile, wrap(kek, marker), enclave, kek), {
      cwd: PACKAGE_DIR,
      args: ['--expose-gc'],
      env: { SOFTHSM2_CONF: hsm.conf },
    });
    const noKek = async (): Promise<void> => expect((await child.scan(kek)).matches, "the token's AES key").toEqual([]);
    let callers: bigint[] = [];
    await expectResidue(child, marker, [
      {
        at: 'before',
        count: 0,
        check: async () => {
          callers = await expectGuarded(child, pin.bytes, enclave ? 0 : 1, 'the PIN before the load'); // the caller's buffer: the PIN's control
          await noKek();
        },
      },
      {
        at: 'loaded', // the data key nowhere; the PIN only in the caller's buffer; SoftHSM kept neither, nor its AES key
        count: 0,
        check: async () => {
          expect(await expectGuarded(child, pin.bytes, enclave ? 0 : 1, 'the PIN after the load')).toEqual(callers);
          await noKek();
        },
      },
      // the controls: the opened data key (guarded) and its heap copy; an Enclave PIN opened (guarded)
      openedStage(marker.length, async () => {
        await expectGuarded(child, pin.bytes, 1, "the PIN, opened or the caller's");
      }),
      {
        at: 'closed',
        count: 0,
        check: async () => {
          await expectGuarded(child, pin.bytes, 0, 'the PIN once destroyed');
          await noKek();
        },
      },
      plantedStage(child, kek), // the token key's control: a heap Buffer that holds it is found
    ]);
  });
});
