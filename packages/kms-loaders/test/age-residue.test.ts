// Residue of age(), in a child process, for files made by Debian's real `age` CLI: an X25519
// identity (age-keygen's file) and an `age -p` passphrase, each given as a SecretBuffer and as
// an Enclave. After a load through loadSecrets and a forced GC, the README's table says
// "none": the plaintext marker is in no readable memory of the child; the key is where the
// caller keeps it (a SecretBuffer's guarded region, or sealed in an Enclave) and nowhere
// else, and the identity's X25519 scalar, which core-native decodes from the bech32 text,
// nowhere at all. The controls: the opened Enclave (and the opened key, when it is one) in
// guarded regions and a heap copy of the plaintext; a planted heap copy of the scalar.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import {
  ageCliEncrypt,
  ageCliEncryptWithPassphrase,
  ageCliKeygen,
  expectResidue,
  makeMarker,
  readAgeIdentity,
  startChild,
  textMarker,
  type ChildHandle,
  type ResidueStage,
} from '@strongroom/testkit';
import { afterAll, describe, expect, it } from 'vitest';

import { tempFolder } from './helpers.js';
import { CHILD_START, expectGuarded, openedCode, openedStage, plantedCode, plantedStage } from './residue-helpers.js';

const PACKAGE_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { dir, remove } = tempFolder('age-residue');
afterAll(remove);

let files = 0;
const fresh = (suffix: string): string => path.join(dir, `${++files}-${suffix}`);

/** `age -r` of marker into a new file. */
function encryptTo(recipient: string, marker: Uint8Array): string {
  const file = fresh('secret.age');
  ageCliEncrypt(recipient, marker, file);
  return file;
}

/** `age -p` of marker into a new file, the passphrase typed twice at a pseudo-terminal (age reads it from nowhere else). */
async function encryptWithPassphrase(marker: Uint8Array, passphrase: string): Promise<string> {
  const input = fresh('plain');
  const output = fresh('secret.age');
  fs.writeFileSync(input, marker, { mode: 0o600 });
  try {
    await ageCliEncryptWithPassphrase(input, output, passphrase);
  } finally {
    fs.rmSync(input, { force: true });
  }
  return output;
}

/**
 * The child: reads the key file into a SecretBuffer (sealed into an Enclave when `enclave`),
 * waits at 'before', loads the age file, and pauses at 'loaded', at 'opened' (the secret
 * opened, a heap copy made of it, and an Enclave key opened too), at 'closed' (everything
 * destroyed), and, with `planted`, at 'planted' (a heap Buffer holding those bytes).
 */
function childCode(kind: 'identity' | 'passphrase', keyFile: string, ageFile: string, enclave: boolean, planted?: Uint8Array): string {
  return `${CHILD_START}
import { age, Enclave, loadSecrets, SecretBuffer } from '@strongroom/kms-loaders';
const read = SecretBuffer.fromFile(${JSON.stringify(keyFile)});
const key = ${enclave ? 'Enclave.seal(read)' : 'read'};
await settle('before');
const store = await loadSecrets({ s: age(${JSON.stringify(ageFile)}, { ${kind}: key }) });
await settle('loaded');
${openedCode('key')}
if (key instanceof SecretBuffer) key.destroy();
await settle('closed');
${planted === undefined ? '' : plantedCode(planted)}
`;
}

const CHILD = { cwd: PACKAGE_DIR, args: ['--expose-gc'], timeoutMs: 60_000 };

/**
 * The plaintext's stages, and at each a check of the key's own bytes (`keyText`: the identity
 * line or the passphrase) and, for an identity, of its scalar (`scalar`, the middle 30 bytes:
 * X25519 clamps the first and the last byte of its own copy).
 */
function stages(
  marker: Uint8Array,
  child: ChildHandle,
  keyText: Uint8Array,
  enclave: boolean,
  scalar: Uint8Array | undefined,
): ResidueStage[] {
  let callers: bigint[] = [];
  const noScalar = async (): Promise<void> => {
    if (scalar !== undefined) expect((await child.scan(scalar)).matches, 'the identity scalar').toEqual([]);
  };
  const result: ResidueStage[] = [
    {
      at: 'before', // the key: the caller's SecretBuffer (the key's control), or sealed in the Enclave
      count: 0,
      check: async () => {
        callers = await expectGuarded(child, keyText, enclave ? 0 : 1, 'the key before the load');
        await noScalar();
      },
    },
    {
      at: 'loaded', // the plaintext nowhere; the key where the caller keeps it and nowhere else
      count: 0,
      check: async () => {
        expect(await expectGuarded(child, keyText, enclave ? 0 : 1, 'the key after the load')).toEqual(callers);
        await noScalar();
      },
    },
    // the controls: the opened secret (guarded) and its heap copy; an Enclave key opened (guarded)
    openedStage(marker.length, async () => {
      await expectGuarded(child, keyText, 1, "the key, opened or the caller's");
      await noScalar();
    }),
    {
      at: 'closed',
      count: 0,
      check: async () => {
        await expectGuarded(child, keyText, 0, 'the key once destroyed');
        await noScalar();
      },
    },
  ];
  if (scalar !== undefined) result.push(plantedStage(child, scalar)); // the scalar's control: a heap Buffer that holds it is found
  return result;
}

describe('age() residue', () => {
  it.each([
    ['a SecretBuffer', false],
    ['an Enclave', true],
  ])('X25519, the identity %s: the plaintext nowhere; the identity only where the caller keeps it; its scalar nowhere', async (_name, enclave) => {
    const marker = makeMarker(40); // one partial ChaCha20 block: implementations stage those on the stack
    const me = ageCliKeygen(fresh('key.txt'));
    const ageFile = encryptTo(me.recipient, marker);
    const { line, scalar } = readAgeIdentity(me.file);
    const middle = scalar.subarray(1, 31);
    const child = await startChild(childCode('identity', me.file, ageFile, enclave, middle), CHILD);
    await expectResidue(child, marker, stages(marker, child, line, enclave, middle));
  });

  it.each([
    ['a SecretBuffer', false],
    ['an Enclave', true],
  ])('scrypt (age -p), the passphrase %s: the plaintext nowhere; the passphrase only where the caller keeps it', async (_name, enclave) => {
    const marker = makeMarker(40);
    const passphrase = textMarker(makeMarker(16)); // printable: it is typed at a terminal
    const ageFile = await encryptWithPassphrase(marker, passphrase.text);
    const keyFile = fresh('passphrase');
    fs.writeFileSync(keyFile, passphrase.bytes, { mode: 0o600 }); // no newline: the passphrase as typed
    const child = await startChild(childCode('passphrase', keyFile, ageFile, enclave), CHILD);
    await expectResidue(child, marker, stages(marker, child, passphrase.bytes, enclave, undefined));
  });
});
