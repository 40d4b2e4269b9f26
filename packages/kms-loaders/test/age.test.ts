// age(): files made by Debian's real `age` CLI (installed by scripts/setup.sh) decrypted
// natively into Enclaves, with the identity a SecretBuffer or an Enclave; a wrong identity,
// a corrupted file and a missing file are typed source errors naming the path; a changed
// file is decrypted again when watched. (core-native's age.test.ts covers the format itself.)
import { once } from 'node:events';
import fs from 'node:fs';
import path from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';
import { ageCliEncrypt, ageCliKeygen, errorCode, rejectionOf } from '@strongroom/testkit';

import { age, Enclave, loadSecrets, SecretBuffer } from '../src/index.js';
import { tempFolder, textOf } from './helpers.js';

const { dir, remove } = tempFolder('age');
afterAll(remove);

function encrypt(name: string, content: string, recipient: string, armor = false): string {
  const file = path.join(dir, name);
  ageCliEncrypt(recipient, content, file, { armor });
  return file;
}

const mine = ageCliKeygen(path.join(dir, 'mine.txt'));
const other = ageCliKeygen(path.join(dir, 'other.txt'));
const identity = () => SecretBuffer.fromFile(mine.file);

describe('age()', () => {
  it('decrypts what the age CLI encrypted, binary and armored, the identity a SecretBuffer or an Enclave', async () => {
    const store = await loadSecrets({
      binary: age(encrypt('a.age', 'db-password-1', mine.recipient), { identity: identity() }),
      armored: age(encrypt('b.age', 'db-password-2', mine.recipient, true), { identity: Enclave.seal(identity()) }),
    });
    expect([textOf(store.get('binary')), textOf(store.get('armored'))]).toEqual(['db-password-1', 'db-password-2']);
    store.close();
  });

  it('a wrong identity, a corrupted file, a missing file: typed errors that name the path', async () => {
    const file = encrypt('c.age', 'secret-text', mine.recipient);
    const wrong = await rejectionOf(loadSecrets({ s: age(file, { identity: SecretBuffer.fromFile(other.file) }) }));
    expect(wrong.code).toBe('ERR_SOURCE_FORMAT');
    expect(wrong.message).toContain(file);
    const corrupt = path.join(dir, 'corrupt.age');
    const bytes = fs.readFileSync(file);
    const at = bytes.length - 3;
    bytes.writeUInt8((bytes[at] as number) ^ 1, at); // a flipped byte in the last chunk
    fs.writeFileSync(corrupt, bytes);
    expect((await rejectionOf(loadSecrets({ s: age(corrupt, { identity: identity() }) }))).code).toBe('ERR_SOURCE_FORMAT');
    expect((await rejectionOf(loadSecrets({ s: age(path.join(dir, 'none.age'), { identity: identity() }) }))).code).toBe('ERR_SECRET_NOT_FOUND');
    expect(wrong.message).not.toContain('secret-text');
  });

  it('{ watch }: a re-encrypted file is a rotation', async () => {
    const file = encrypt('w.age', 'version-one', mine.recipient);
    const store = await loadSecrets({ s: age(file, { identity: identity(), watch: true }) });
    try {
      const rotated = once(store, 'rotate');
      const next = encrypt('w.next', 'version-two', mine.recipient);
      fs.renameSync(next, file);
      expect(await rotated).toEqual(['s', 2]);
      expect(textOf(store.get('s'))).toBe('version-two');
    } finally {
      store.close();
    }
  });

  it('bad options are ERR_INVALID_ARG at once', () => {
    expect(errorCode(() => age('/x.age', {} as never))).toBe('ERR_INVALID_ARG');
    expect(errorCode(() => age('/x.age', { identity: 'AGE-SECRET-KEY-1' } as never))).toBe('ERR_INVALID_ARG');
    expect(errorCode(() => age('/x.age', { identity: identity(), passphrase: identity() }))).toBe('ERR_INVALID_ARG');
    expect(errorCode(() => age('/x.age', { identity: identity(), maxWorkFactor: 23 }))).toBe('ERR_INVALID_ARG');
  });
});
