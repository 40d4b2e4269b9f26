// The age CLI helpers against Debian's real age (installed by scripts/setup.sh): a file each
// writes is one age itself decrypts to what went in; the scalar readAgeIdentity decodes is
// the one whose X25519 public key age-keygen printed as the recipient (checked through
// node:crypto and an encoder of the test's own); a wrong passphrase is age's failure.
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import { ageCliDecryptWithPassphrase, ageCliEncrypt, ageCliEncryptWithPassphrase, ageCliKeygen, readAgeIdentity } from '../src/index.js';
import { removeTempDirs, tempDir } from './helpers.js';

afterAll(removeTempDirs);

/** The bech32 characters of bytes, 5 bits each, the last group padded with zeros (no checksum). */
function bech32Data(bytes: Uint8Array): string {
  const bits = [...bytes].map((b) => b.toString(2).padStart(8, '0')).join('');
  const groups = bits.padEnd(Math.ceil(bits.length / 5) * 5, '0').match(/.{5}/g) ?? [];
  return groups.map((group) => 'qpzry9x8gf2tvdw0s3jn54khce6mua7l'[parseInt(group, 2)]).join('');
}

/** The X25519 public key of a scalar (node:crypto, from a PKCS#8 private key). */
function publicKeyOf(scalar: Uint8Array): Uint8Array {
  const pkcs8 = Buffer.concat([Buffer.from('302e020100300506032b656e04220420', 'hex'), scalar]);
  const jwk = crypto.createPublicKey(crypto.createPrivateKey({ key: pkcs8, format: 'der', type: 'pkcs8' })).export({ format: 'jwk' });
  return new Uint8Array(Buffer.from(jwk.x as string, 'base64url'));
}

/** `age -d -i identity file`: its stdout. */
function decryptWith(identity: string, file: string): Buffer {
  const result = spawnSync('age', ['-d', '-i', identity, file]);
  expect(result.status, String(result.stderr)).toBe(0);
  return result.stdout;
}

describe('age CLI helpers', () => {
  it('ageCliKeygen and readAgeIdentity: the decoded scalar is the private key of the recipient age-keygen printed', () => {
    const dir = tempDir();
    const me = ageCliKeygen(path.join(dir, 'me.txt'));
    expect(me.recipient).toMatch(/^age1[qpzry9x8gf2tvdw0s3jn54khce6mua7l]{58}$/);
    const { line, scalar } = readAgeIdentity(me.file);
    expect(Buffer.from(line).toString('latin1')).toBe(fs.readFileSync(me.file, 'utf8').split('\n').find((l) => l.startsWith('AGE-SECRET-KEY-1')));
    expect(scalar).toHaveLength(32);
    expect(bech32Data(publicKeyOf(scalar))).toBe(me.recipient.slice('age1'.length, -6));
    // The control: another identity's scalar gives another recipient.
    const other = readAgeIdentity(ageCliKeygen(path.join(dir, 'other.txt')).file).scalar;
    expect(bech32Data(publicKeyOf(other))).not.toBe(me.recipient.slice('age1'.length, -6));
  });

  it('readAgeIdentity refuses a file without an identity, and one that is not bech32', () => {
    const dir = tempDir();
    fs.writeFileSync(path.join(dir, 'none.txt'), '# created: never\n');
    expect(() => readAgeIdentity(path.join(dir, 'none.txt'))).toThrow(/holds no AGE-SECRET-KEY-1 line/);
    fs.writeFileSync(path.join(dir, 'bad.txt'), `AGE-SECRET-KEY-1${'B'.repeat(58)}\n`); // 'b' is not in bech32's alphabet
    expect(() => readAgeIdentity(path.join(dir, 'bad.txt'))).toThrow(/not bech32/);
  });

  it('ageCliEncrypt: binary and armored files that age decrypts with the identity', () => {
    const dir = tempDir();
    const me = ageCliKeygen(path.join(dir, 'me.txt'));
    const plain = crypto.randomBytes(100);
    ageCliEncrypt(me.recipient, plain, path.join(dir, 'binary.age'));
    ageCliEncrypt(me.recipient, 'text given as a string', path.join(dir, 'armored.age'), { armor: true });
    expect(fs.readFileSync(path.join(dir, 'binary.age'), 'latin1')).toMatch(/^age-encryption\.org\/v1\n/);
    expect(fs.readFileSync(path.join(dir, 'armored.age'), 'latin1')).toMatch(/^-----BEGIN AGE ENCRYPTED FILE-----\n/);
    expect(decryptWith(me.file, path.join(dir, 'binary.age')).equals(plain)).toBe(true);
    expect(decryptWith(me.file, path.join(dir, 'armored.age')).toString()).toBe('text given as a string');
  });

  it('ageCliEncryptWithPassphrase and ageCliDecryptWithPassphrase: a round trip through age on a terminal; a wrong passphrase fails', async () => {
    const dir = tempDir();
    const file = (name: string): string => path.join(dir, name);
    const plain = crypto.randomBytes(100);
    fs.writeFileSync(file('plain'), plain);
    await ageCliEncryptWithPassphrase(file('plain'), file('p.age'), 'correct horse');
    await ageCliEncryptWithPassphrase(file('plain'), file('p.asc'), 'correct horse', { armor: true });
    expect(fs.readFileSync(file('p.age'), 'latin1')).toMatch(/^age-encryption\.org\/v1\n-> scrypt /);
    expect(fs.readFileSync(file('p.asc'), 'latin1')).toMatch(/^-----BEGIN AGE ENCRYPTED FILE-----\n/);
    for (const name of ['p.age', 'p.asc']) {
      expect(await ageCliDecryptWithPassphrase(file(name), file(`${name}.out`), 'correct horse')).toBe(0);
      expect(fs.readFileSync(file(`${name}.out`)).equals(plain)).toBe(true);
    }
    expect(await ageCliDecryptWithPassphrase(file('p.age'), file('wrong.out'), 'wrong horse')).not.toBe(0);
  }, 120_000);
});
