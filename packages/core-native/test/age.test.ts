// ageDecrypt: interop with Debian's `age` CLI (X25519 and scrypt, binary and armored, at
// the chunk boundaries), an independent node:crypto encoder for the files the CLI never
// writes, every failure a typed error with nothing left behind (no region, no
// descriptor), the plaintext and the identity's scalar nowhere in a child's memory outside
// guarded pages, and random byte flips that never crash. Files are made in a temp folder.
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ageCli,
  ageCliDecryptWithPassphrase,
  ageCliEncryptWithPassphrase,
  ageCliKeygen,
  errorCode,
  expectResidue,
  extraArgumentFailures,
  makeMarker,
  openFileDescriptors,
  readAgeIdentity,
  startChild,
  type AgeIdentityFile,
} from '@strongroom/testkit';

import { ageDecrypt, ageEncrypt, allocate, readFile, stats, StrongroomError, type Region } from '../src/index.js';
import { armor, craftAge, payloadOffset } from './age-files.js';
import { CHILD, plantMarker, PREAMBLE } from './helpers.js';

const SIZES = [0, 1, 65536, 65537, 1 << 20] as const;
const MAX = 2 << 20;
const PASSPHRASE = 'correct horse battery staple';

let dir: string;
let me: AgeIdentityFile;
let other: AgeIdentityFile;
const plaintexts = new Map<number, Buffer>();

function file(name: string): string {
  return path.join(dir, name);
}

function passphraseRegion(text: string): Region {
  const region = allocate(Buffer.byteLength(text));
  region.view().set(Buffer.from(text));
  return region;
}

function bytesOf(region: Region): Buffer {
  const copy = Buffer.from(region.view());
  region.free();
  return copy;
}

/** The error of a call, which must be a StrongroomError. */
function failureOf(call: () => unknown): StrongroomError {
  try {
    call();
  } catch (error) {
    if (error instanceof StrongroomError) return error;
    throw error;
  }
  throw new Error('the call succeeded');
}

/** The code of a call that must fail leaving no region and no descriptor behind. */
function failsCleanly(call: () => unknown): StrongroomError {
  const regions = stats().regions;
  const fds = openFileDescriptors().length;
  const error = failureOf(call);
  expect(stats().regions).toBe(regions);
  expect(openFileDescriptors().length).toBe(fds);
  return error;
}

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'strongroom-age-'));
  me = ageCliKeygen(file('me.txt'));
  other = ageCliKeygen(file('other.txt'));
  for (const size of SIZES) {
    const plain = crypto.randomBytes(size);
    plaintexts.set(size, plain);
    fs.writeFileSync(file(`plain-${size}`), plain);
    for (const armored of [false, true]) {
      const suffix = `${size}${armored ? '.asc' : ''}.age`;
      ageCli(['-r', me.recipient, ...(armored ? ['-a'] : []), '-o', file(`x25519-${suffix}`), file(`plain-${size}`)]);
      await ageCliEncryptWithPassphrase(file(`plain-${size}`), file(`scrypt-${suffix}`), PASSPHRASE, { armor: armored });
    }
  }
}, 300_000);

afterAll(() => {
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

describe('interop: files the age CLI encrypted', () => {
  for (const armored of [false, true]) {
    for (const size of SIZES) {
      const suffix = `${size}${armored ? '.asc' : ''}.age`;
      const what = `${armored ? 'armored' : 'binary'}, ${size} bytes`;

      it(`X25519, ${what}`, () => {
        const identity = readFile(me.file);
        const call = () => ageDecrypt(file(`x25519-${suffix}`), { identity, maxSize: MAX });
        if (size === 0) {
          expect(failsCleanly(call).code).toBe('ERR_EMPTY');
        } else {
          const region = call();
          expect(region.size).toBe(size);
          expect(region.protection).toBe('readwrite');
          expect(bytesOf(region).equals(plaintexts.get(size)!)).toBe(true);
        }
        identity.free();
      });

      it(`scrypt, ${what}`, () => {
        const passphrase = passphraseRegion(PASSPHRASE);
        passphrase.protect('noaccess'); // raised for the call only
        const call = () => ageDecrypt(file(`scrypt-${suffix}`), { passphrase, maxSize: MAX });
        if (size === 0) expect(failsCleanly(call).code).toBe('ERR_EMPTY');
        else expect(bytesOf(call()).equals(plaintexts.get(size)!)).toBe(true);
        expect(passphrase.protection).toBe('noaccess');
        passphrase.free();
      });
    }
  }

  it('reads from a descriptor, which stays open', () => {
    const identity = readFile(me.file);
    const fd = fs.openSync(file('x25519-65537.age'), 'r');
    try {
      expect(bytesOf(ageDecrypt(fd, { identity, maxSize: MAX })).equals(plaintexts.get(65537)!)).toBe(true);
      expect(fs.fstatSync(fd).isFile()).toBe(true);
    } finally {
      fs.closeSync(fd);
      identity.free();
    }
  });

  it('tries every identity of the text: comments, blank lines and CRLF are skipped', () => {
    const text = `# two keys\r\n\r\n${fs.readFileSync(other.file, 'utf8').split('\n')[2]}\r\n${fs.readFileSync(me.file, 'utf8')}`;
    fs.writeFileSync(file('both.txt'), text);
    const identity = readFile(file('both.txt'));
    expect(bytesOf(ageDecrypt(file('x25519-1.age'), { identity })).equals(plaintexts.get(1)!)).toBe(true);
    identity.free();
  });

  it('puts the plaintext on the backend asked for', () => {
    const identity = readFile(me.file);
    const region = ageDecrypt(file('x25519-1.age'), { identity, backend: 'mmap' });
    expect(region.backend).toBe('mmap');
    region.free();
    identity.free();
  });
});

describe('ageEncrypt: the age CLI decrypts what it writes', () => {
  function regionOf(bytes: Uint8Array): Region {
    const region = allocate(bytes.length);
    region.view().set(bytes);
    return region;
  }

  for (const armor of [false, true]) {
    for (const size of SIZES.filter((n) => n > 0)) {
      it(`${armor ? 'armored' : 'binary'}, ${size} bytes: age -d, and ageDecrypt`, () => {
        const plain = regionOf(plaintexts.get(size)!);
        plain.protect('noaccess'); // raised for the call only
        const sealed = ageEncrypt(plain, me.recipient, { armor });
        expect(plain.protection).toBe('noaccess');
        plain.free();
        const target = file(`ours-${size}${armor ? '.asc' : ''}.age`);
        fs.writeFileSync(target, sealed);
        const start = armor ? '-----BEGIN AGE ENCRYPTED FILE-----\n' : 'age-encryption.org/v1\n-> X25519 ';
        expect(Buffer.from(sealed.subarray(0, start.length)).toString()).toBe(start);
        ageCli(['-d', '-i', me.file, '-o', file('ours.out'), target]);
        expect(fs.readFileSync(file('ours.out')).equals(plaintexts.get(size)!)).toBe(true);
        const identity = readFile(me.file);
        expect(bytesOf(ageDecrypt(target, { identity, maxSize: MAX })).equals(plaintexts.get(size)!)).toBe(true);
        identity.free();
      });
    }
  }

  it('to two recipients, each of whom decrypts; a fresh file key and nonce every time', () => {
    const plain = regionOf(Buffer.from('two of us'));
    const sealed = ageEncrypt(plain, [other.recipient, me.recipient]);
    expect(Buffer.from(ageEncrypt(plain, [other.recipient, me.recipient])).equals(Buffer.from(sealed))).toBe(false);
    plain.free();
    fs.writeFileSync(file('two.age'), sealed);
    for (const who of [me, other]) {
      expect(ageCli(['-d', '-i', who.file, file('two.age')])).toBe('two of us');
    }
  });

  it('refuses what is not a recipient, and bad arguments, with nothing left behind', () => {
    const plain = regionOf(Buffer.from('x'));
    const secretKey = fs.readFileSync(me.file, 'utf8').split('\n')[2]!;
    const flipped = me.recipient.slice(0, -1) + (me.recipient.endsWith('q') ? 'p' : 'q');
    for (const bad of ['', 'age1', secretKey, flipped, me.recipient.toUpperCase().slice(0, 20) + me.recipient.slice(20)]) {
      const error = failsCleanly(() => ageEncrypt(plain, [me.recipient, bad]));
      expect([error.code, error.message]).toEqual(['ERR_INVALID_ARG', expect.stringMatching(/recipient 2 is not/)]);
      expect(error.message).not.toContain(secretKey.slice(16));
    }
    expect(errorCode(() => ageEncrypt(plain, []))).toBe('ERR_INVALID_ARG');
    expect(errorCode(() => ageEncrypt(plain, [1 as never]))).toBe('ERR_INVALID_ARG');
    expect(errorCode(() => ageEncrypt(plain, me.recipient, { armour: true } as never))).toBe('ERR_INVALID_ARG');
    expect(errorCode(() => ageEncrypt(plain, me.recipient, { armor: 1 as never }))).toBe('ERR_INVALID_ARG');
    expect(errorCode(() => ageEncrypt(allocate(1, { backend: 'heap' }), me.recipient))).toBe('ERR_INVALID_ARG');
    expect(extraArgumentFailures([['ageEncrypt()', () => (ageEncrypt as (...a: unknown[]) => unknown)(plain, me.recipient, {}, 1)]])).toEqual([]);
    plain.free();
    expect(errorCode(() => ageEncrypt(plain, me.recipient))).toBe('ERR_FREED');
  });
});

describe('the independent encoder (node:crypto)', () => {
  it('decrypts what it writes, over three chunks', () => {
    const plaintext = crypto.randomBytes(2 * 65536 + 5);
    fs.writeFileSync(file('crafted.age'), craftAge({ passphrase: 'pw', logN: 10, plaintext }));
    const passphrase = passphraseRegion('pw');
    expect(bytesOf(ageDecrypt(file('crafted.age'), { passphrase, maxSize: MAX })).equals(plaintext)).toBe(true);
    fs.writeFileSync(file('crafted.asc'), armor(craftAge({ passphrase: 'pw', logN: 10, plaintext })));
    expect(bytesOf(ageDecrypt(file('crafted.asc'), { passphrase, maxSize: MAX })).equals(plaintext)).toBe(true);
    passphrase.free();
  });

  it('the age CLI decrypts what it writes: the encoder the crafted failures below come from is age v1', async () => {
    const plaintext = crypto.randomBytes(65536 + 7);
    fs.writeFileSync(file('crafted-cli.age'), craftAge({ passphrase: PASSPHRASE, logN: 10, plaintext }));
    expect(await ageCliDecryptWithPassphrase(file('crafted-cli.age'), file('crafted-cli.out'), PASSPHRASE)).toBe(0);
    expect(fs.readFileSync(file('crafted-cli.out')).equals(plaintext)).toBe(true);
  });
});

describe('failures: typed, nothing released, nothing left behind', () => {
  let identity: Region;
  beforeAll(() => {
    identity = readFile(me.file);
  });
  afterAll(() => identity.free());

  function variant(name: string, bytes: Uint8Array | string): string {
    fs.writeFileSync(file(name), bytes);
    return file(name);
  }
  const decrypt = (target: string) => () => ageDecrypt(target, { identity, maxSize: MAX });
  const original = (name: string) => fs.readFileSync(file(name));

  it('wrong identity: ERR_AUTH', () => {
    const wrong = readFile(other.file);
    const error = failsCleanly(() => ageDecrypt(file('x25519-1.age'), { identity: wrong }));
    expect(error.code).toBe('ERR_AUTH');
    expect(error.message).toMatch(/wrong identity/);
    wrong.free();
  });

  it('wrong passphrase: ERR_AUTH', () => {
    const wrong = passphraseRegion('not it');
    expect(failsCleanly(() => ageDecrypt(file('scrypt-1.age'), { passphrase: wrong })).code).toBe('ERR_AUTH');
    wrong.free();
  });

  it('corrupted header: a flipped MAC, a flipped stanza body, a bad version, non-canonical base64', () => {
    const bytes = original('x25519-1.age');
    const macAt = bytes.indexOf('\n--- ') + 6;
    const flippedMac = Buffer.from(bytes);
    flippedMac[macAt] = flippedMac[macAt] === 0x41 ? 0x42 : 0x41;
    const mac = failsCleanly(decrypt(variant('mac.age', flippedMac)));
    expect([mac.code, mac.message]).toEqual(['ERR_AUTH', expect.stringMatching(/header MAC/)]);

    const bodyAt = bytes.indexOf('\n', bytes.indexOf('-> X25519')) + 2;
    const flippedBody = Buffer.from(bytes);
    flippedBody[bodyAt] = flippedBody[bodyAt] === 0x41 ? 0x42 : 0x41;
    expect(failsCleanly(decrypt(variant('body.age', flippedBody))).code).toBe('ERR_AUTH');

    const v2 = Buffer.from(bytes.toString('latin1').replace('age-encryption.org/v1', 'age-encryption.org/v2'), 'latin1');
    expect(failsCleanly(decrypt(variant('v2.age', v2))).message).toMatch(/not v1/);
    expect(failsCleanly(decrypt(variant('v2.age', v2))).code).toBe('ERR_AGE_FORMAT');

    // The share's last base64 character with non-zero trailing bits: same bytes, not canonical.
    const text = bytes.toString('latin1');
    const share = text.slice(text.indexOf('-> X25519 ') + 10, text.indexOf('\n', text.indexOf('-> X25519 ')));
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
    const last = alphabet.indexOf(share.at(-1)!);
    const noncanonical = share.slice(0, -1) + alphabet[last ^ 1];
    const bad = failsCleanly(decrypt(variant('canon.age', Buffer.from(text.replace(share, noncanonical), 'latin1'))));
    expect([bad.code, bad.message]).toEqual(['ERR_AGE_FORMAT', expect.stringMatching(/share.*canonical/)]);

    const padded = failsCleanly(decrypt(variant('pad.age', Buffer.from(text.replace(share, `${share}=`), 'latin1'))));
    expect(padded.code).toBe('ERR_AGE_FORMAT');

    // A stanza of another type (a two-line body) is ignored: the X25519 stanza still opens,
    // and the header MAC, which covers the inserted lines, is what fails.
    const grease = `-> example.com/enigma a b\n${'A'.repeat(64)}\nAAAA\n`;
    const greased = failsCleanly(decrypt(variant('grease.age', Buffer.from(text.replace('-> X25519', `${grease}-> X25519`), 'latin1'))));
    expect([greased.code, greased.message]).toEqual(['ERR_AUTH', expect.stringMatching(/header MAC/)]);
    const badGrease = `-> example.com/enigma\n${'A'.repeat(65)}\n\n`;
    expect(failsCleanly(decrypt(variant('grease2.age', Buffer.from(text.replace('-> X25519', `${badGrease}-> X25519`), 'latin1')))).message).toMatch(/longer than 64/);

    const lowOrder = Buffer.from(text.replace(share, 'A'.repeat(43)), 'latin1');
    expect(failsCleanly(decrypt(variant('low.age', lowOrder))).message).toMatch(/low-order/);
  });

  it("a byte from 0x80 up in the MAC line is not base64 (libsodium 1.0.18 reads it as '/')", () => {
    // The MAC line is the one part of the header its MAC does not cover: a '/' there changed
    // into such a byte would still decrypt if the decoder's reading were trusted.
    let bytes = Buffer.alloc(0);
    let slash = -1;
    for (let tries = 0; tries < 40 && slash < 0; tries++) {
      ageCli(['-r', me.recipient, '-o', file('slash.age'), file('plain-1')]);
      bytes = original('slash.age');
      const mac = bytes.indexOf('\n--- ') + 5;
      const at = bytes.subarray(mac, mac + 43).indexOf('/');
      slash = at < 0 ? -1 : mac + at;
    }
    expect(slash).toBeGreaterThan(0);
    expect(bytesOf(decrypt(file('slash.age'))()).equals(plaintexts.get(1)!)).toBe(true); // untouched: it decrypts
    for (const high of [0x80, 0xaf, 0xd3, 0xff]) {
      const changed = Buffer.from(bytes);
      changed[slash] = high;
      expect(failsCleanly(decrypt(variant('high.age', changed))).code).toBe('ERR_AGE_FORMAT');
    }
  });

  it('truncated payload: by a byte, to the header alone, at a chunk boundary (no final chunk)', () => {
    const small = original('x25519-1.age');
    expect(failsCleanly(decrypt(variant('cut1.age', small.subarray(0, small.length - 1)))).code).toBe('ERR_AUTH');
    const header = failsCleanly(decrypt(variant('cut2.age', small.subarray(0, payloadOffset(small)))));
    expect([header.code, header.message]).toEqual(['ERR_AUTH', expect.stringMatching(/truncated/)]);
    const headerLess = failsCleanly(decrypt(variant('cut3.age', small.subarray(0, small.indexOf('\n---')))));
    expect(headerLess.code).toBe('ERR_AGE_FORMAT');

    const two = original('x25519-65537.age');
    const boundary = failsCleanly(decrypt(variant('cut4.age', two.subarray(0, payloadOffset(two) + 16 + 65536 + 16)))); 
    expect([boundary.code, boundary.message]).toEqual(['ERR_AUTH', expect.stringMatching(/chunk boundary without its final chunk/)]);
  });

  it('a flipped byte in the last chunk, and in its tag', () => {
    for (const name of ['x25519-65537.age', 'x25519-1048576.age']) {
      const bytes = original(name);
      for (const at of [bytes.length - 1, bytes.length - 17]) {
        const flipped = Buffer.from(bytes);
        flipped[at]! ^= 0x01;
        expect(failsCleanly(decrypt(variant('flip.age', flipped))).code).toBe('ERR_AUTH');
      }
    }
  });

  it('trailing data after a short and after a full final chunk', () => {
    const short = Buffer.concat([original('x25519-1.age'), Buffer.from('x')]);
    expect(failsCleanly(decrypt(variant('trail1.age', short))).code).toBe('ERR_AUTH');
    const full = Buffer.concat([original('x25519-65536.age'), crypto.randomBytes(20)]);
    const error = failsCleanly(decrypt(variant('trail2.age', full)));
    expect([error.code, error.message]).toEqual(['ERR_AUTH', expect.stringMatching(/data after its final chunk/)]);
    const armored = `${original('x25519-1.asc.age').toString()}junk\n`;
    expect(failsCleanly(decrypt(variant('trail3.age', armored))).code).toBe('ERR_AGE_FORMAT');
  });

  it('a final chunk without the last-chunk flag, and an empty final chunk after a full one', () => {
    const passphrase = passphraseRegion('pw');
    const plaintext = crypto.randomBytes(65536);
    const noFlag = variant('noflag.age', craftAge({ passphrase: 'pw', logN: 10, plaintext, noLastFlag: true }));
    expect(failsCleanly(() => ageDecrypt(noFlag, { passphrase, maxSize: MAX })).code).toBe('ERR_AUTH');
    const shortNoFlag = variant('noflag2.age', craftAge({ passphrase: 'pw', logN: 10, plaintext: plaintext.subarray(0, 9), noLastFlag: true }));
    expect(failsCleanly(() => ageDecrypt(shortNoFlag, { passphrase, maxSize: MAX })).code).toBe('ERR_AUTH');
    const empty = variant('empty.age', craftAge({ passphrase: 'pw', logN: 10, plaintext, emptyFinalChunk: true }));
    const error = failsCleanly(() => ageDecrypt(empty, { passphrase, maxSize: MAX }));
    expect([error.code, error.message]).toEqual(['ERR_AGE_FORMAT', expect.stringMatching(/final chunk is empty/)]);
    passphrase.free();
  });

  it('scrypt: alone in its header, and a work factor above the bound refused before scrypt runs', () => {
    const passphrase = passphraseRegion('pw');
    const x25519 = original('x25519-1.age').toString('latin1');
    const stanza = x25519.slice(x25519.indexOf('-> X25519'), x25519.indexOf('\n---') + 1);
    const mixed = variant('mixed.age', craftAge({ passphrase: 'pw', logN: 10, plaintext: Buffer.from('x'), extraStanza: stanza }));
    const error = failsCleanly(() => ageDecrypt(mixed, { passphrase }));
    expect([error.code, error.message]).toEqual(['ERR_AGE_FORMAT', expect.stringMatching(/scrypt.*only stanza/)]);
    // The same header under an identity: still refused, before any key is tried.
    expect(failsCleanly(() => ageDecrypt(mixed, { identity })).code).toBe('ERR_AGE_FORMAT');

    const plaintext = Buffer.from('x');
    const start = performance.now();
    const above = variant('wf23.age', craftAge({ passphrase: 'pw', logN: 10, statedLogN: 23, plaintext }));
    expect(failsCleanly(() => ageDecrypt(above, { passphrase, maxWorkFactor: 22 })).code).toBe('ERR_TOO_LARGE');
    const huge = variant('wf99.age', craftAge({ passphrase: 'pw', logN: 10, statedLogN: 123456789, plaintext }));
    expect(failsCleanly(() => ageDecrypt(huge, { passphrase, maxWorkFactor: 22 })).code).toBe('ERR_TOO_LARGE');
    const defaultBound = variant('wf19.age', craftAge({ passphrase: 'pw', logN: 10, statedLogN: 19, plaintext }));
    expect(failsCleanly(() => ageDecrypt(defaultBound, { passphrase })).message).toMatch(/above maxWorkFactor \(18\)/);
    expect(performance.now() - start).toBeLessThan(5_000); // no scrypt of 2^19 or more ran
    // Under the bound, the stated factor is the one used: 10 opens, a wrong stated 11 does not.
    const stated11 = variant('wf11.age', craftAge({ passphrase: 'pw', logN: 10, statedLogN: 11, plaintext }));
    expect(failsCleanly(() => ageDecrypt(stated11, { passphrase })).code).toBe('ERR_AUTH');
    const leadingZero = variant('wf0.age', craftAge({ passphrase: 'pw', logN: 10, statedLogN: 10, plaintext }).toString('latin1').replace(' 10\n', ' 010\n'));
    expect(failsCleanly(() => ageDecrypt(leadingZero, { passphrase })).code).toBe('ERR_AGE_FORMAT');
    passphrase.free();
  });

  it('armor: strict base64, 64 columns, an END line', () => {
    const text = original('x25519-65537.asc.age').toString();
    const lines = text.split('\n');
    const unpadded = lines.map((l, i) => (i === lines.length - 3 ? l.replace(/=+$/, '') : l)).join('\n');
    if (unpadded !== text) expect(failsCleanly(decrypt(variant('a1.age', unpadded))).code).toBe('ERR_AGE_FORMAT');
    const joined = [lines[0], lines[1]! + lines[2]!, ...lines.slice(3)].join('\n');
    expect(failsCleanly(decrypt(variant('a2.age', joined))).message).toMatch(/longer than 64/);
    expect(failsCleanly(decrypt(variant('a3.age', text.replace('-----END AGE ENCRYPTED FILE-----\n', '')))).code).toBe(
      'ERR_AGE_FORMAT',
    );
    const crlf = text.replace(/\n/g, '\r\n');
    expect(bytesOf(ageDecrypt(variant('a4.age', `\n  ${crlf}\n\n`), { identity, maxSize: MAX })).equals(plaintexts.get(65537)!)).toBe(true);
  });

  it('the identity: not an AGE-SECRET-KEY-1 line, a bad checksum, mixed case; messages never echo it', () => {
    const key = fs.readFileSync(me.file, 'utf8').split('\n')[2]!;
    const cases = [
      'not a key',
      key.slice(0, -1) + (key.at(-1) === 'Q' ? 'P' : 'Q'),
      key.replace(/(?<=^.{16,})[A-Z]/, (letter) => letter.toLowerCase()), // one letter of the data part
      'AGE-PLUGIN-YUBIKEY-1QQQQQQ',
    ];
    for (const text of cases) {
      const region = allocate(text.length);
      region.view().set(Buffer.from(text));
      const error = failsCleanly(() => ageDecrypt(file('x25519-1.age'), { identity: region }));
      expect(error.code).toBe('ERR_INVALID_ARG');
      expect(error.message).toMatch(/line 1 of the identity/);
      expect(error.message).not.toContain(text.length > 30 ? text.slice(16, 40) : text);
      region.free();
    }
    const comments = allocate(9);
    comments.view().set(Buffer.from('# nothing'));
    expect(failsCleanly(() => ageDecrypt(file('x25519-1.age'), { identity: comments })).message).toMatch(/no AGE-SECRET-KEY-1/);
    comments.free();
  });

  it('the wrong kind of key, a missing file, maxSize, a file that is not age', () => {
    const passphrase = passphraseRegion(PASSPHRASE);
    expect(failsCleanly(() => ageDecrypt(file('scrypt-1.age'), { identity })).message).toMatch(/pass \{ passphrase \}/);
    expect(failsCleanly(() => ageDecrypt(file('x25519-1.age'), { passphrase })).message).toMatch(/pass \{ identity \}/);
    expect(failsCleanly(() => ageDecrypt(file('missing.age'), { identity })).code).toBe('ERR_NOT_FOUND');
    expect(failsCleanly(() => ageDecrypt(file('x25519-65537.age'), { identity })).code).toBe('ERR_TOO_LARGE');
    expect(failsCleanly(() => ageDecrypt(file('plain-1'), { identity })).code).toBe('ERR_AGE_FORMAT');
    expect(failsCleanly(() => ageDecrypt(variant('nothing.age', ''), { identity })).code).toBe('ERR_AGE_FORMAT');
    passphrase.free();
  });

  it('arguments and options', () => {
    const passphrase = passphraseRegion('x');
    const heap = allocate(4, { backend: 'heap' });
    const target = file('x25519-1.age');
    expect(errorCode(() => ageDecrypt(target, { identity, passphrase }))).toBe('ERR_INVALID_ARG');
    expect(errorCode(() => ageDecrypt(target, {}))).toBe('ERR_INVALID_ARG');
    expect(errorCode(() => ageDecrypt(target, { identity, maxsize: 1 } as never))).toBe('ERR_INVALID_ARG');
    expect(errorCode(() => ageDecrypt(target, { passphrase, maxWorkFactor: 23 }))).toBe('ERR_INVALID_ARG');
    expect(errorCode(() => ageDecrypt(target, { passphrase, maxWorkFactor: 0 }))).toBe('ERR_INVALID_ARG');
    expect(errorCode(() => ageDecrypt(target, { identity: heap }))).toBe('ERR_INVALID_ARG');
    expect(errorCode(() => ageDecrypt(target, { identity, backend: 'heap' }))).toBe('ERR_INVALID_ARG');
    expect(errorCode(() => ageDecrypt(-1, { identity }))).toBe('ERR_INVALID_ARG');
    expect(errorCode(() => ageDecrypt('', { identity }))).toBe('ERR_INVALID_ARG');
    expect(extraArgumentFailures([['ageDecrypt()', () => (ageDecrypt as (...a: unknown[]) => unknown)(target, { identity }, 1)]])).toEqual([]);
    const freed = passphraseRegion('x');
    freed.free();
    expect(errorCode(() => ageDecrypt(target, { passphrase: freed }))).toBe('ERR_FREED');
    passphrase.free();
    heap.free();
  });
});

describe('random byte flips across a small file never crash', () => {
  it('every flip is a typed error (or, in armor whitespace, the same plaintext)', () => {
    const identity = readFile(me.file);
    const expected = plaintexts.get(1)!;
    const codes = new Map<string, number>();
    let unchanged = 0;
    for (const name of ['x25519-1.age', 'x25519-1.asc.age']) {
      const bytes = fs.readFileSync(file(name));
      const target = file(`fuzz-${name}`);
      for (let round = 0; round < 400; round++) {
        const flipped = Buffer.from(bytes);
        const at = crypto.randomInt(flipped.length);
        flipped[at] = (flipped[at]! ^ crypto.randomInt(1, 256)) & 0xff;
        fs.writeFileSync(target, flipped);
        const where = `${name}: byte ${at} of ${bytes.length}, ${bytes[at]} -> ${flipped[at]}`;
        let region: Region | undefined;
        try {
          region = ageDecrypt(target, { identity });
        } catch (error) {
          expect(error, where).toBeInstanceOf(StrongroomError);
          const code = (error as StrongroomError).code;
          expect(['ERR_AUTH', 'ERR_AGE_FORMAT'], where).toContain(code);
          codes.set(code, (codes.get(code) ?? 0) + 1);
        }
        if (region !== undefined) {
          expect(name.endsWith('.asc.age'), `${where} decrypted`).toBe(true);
          expect(bytesOf(region).equals(expected), where).toBe(true);
          unchanged++;
        }
      }
    }
    expect(codes.get('ERR_AUTH')).toBeGreaterThan(0);
    expect(codes.get('ERR_AGE_FORMAT')).toBeGreaterThan(0);
    expect(unchanged).toBeLessThan(40); // only a flip of the armor's surrounding whitespace keeps a file valid
    identity.free();
  });
});

describe('residue', () => {
  it('the plaintext lives only in the guarded region; the identity scalar nowhere once decrypted', async () => {
    const marker = makeMarker(40); // one partial ChaCha20 block: implementations stage those on the stack
    fs.writeFileSync(file('marker'), marker);
    ageCli(['-r', me.recipient, '-o', file('marker.age'), file('marker')]);
    fs.rmSync(file('marker'));
    const { scalar } = readAgeIdentity(me.file);
    const child = await startChild(
      `${PREAMBLE}
       const identity = sr.readFile(${JSON.stringify(me.file)}, { backend: 'mmap' });
       identity.protect('noaccess');
       const plain = sr.ageDecrypt(${JSON.stringify(file('marker.age'))}, { identity, backend: 'mmap' });
       plain.protect('noaccess');
       await checkpoint('decrypted');
       plain.free();
       await checkpoint('freed');`,
      CHILD,
    );
    // The middle 30 bytes: X25519 clamps the first and the last byte of its own copy.
    const scalarMiddle = scalar.subarray(1, 31);
    await expectResidue(child, marker, [
      // The positive control: the scan sees the plaintext, and only in noaccess (guarded) pages.
      {
        at: 'decrypted',
        present: true,
        count: 1,
        perms: '---',
        check: async () => expect((await child.scan(scalarMiddle)).matches).toEqual([]),
      },
      { at: 'freed', present: false },
    ]);
  });

  it('encryption: the plaintext only in its own region while it lives, nowhere once freed', async () => {
    const marker = makeMarker(40); // one partial ChaCha20 block, as above
    const child = await startChild(
      `${PREAMBLE}
       ${plantMarker('secret', marker, 'mmap')}
       const sealed = sr.ageEncrypt(secret, ${JSON.stringify(me.recipient)});
       secret.protect('noaccess');
       await checkpoint('encrypted', sealed.length);
       secret.free();
       await checkpoint('freed');`,
      CHILD,
    );
    await expectResidue(child, marker, [
      { at: 'encrypted', present: true, count: 1, perms: '---', data: 40 + 16 + 16 + 168 },
      { at: 'freed', present: false },
    ]);
  });
});
