// pkcs11Decrypt against a real SoftHSM2 token (softhsm2 and opensc from apt, installed by
// scripts/setup.sh): a token initialised in a temporary folder (SOFTHSM2_CONF), an AES-256
// key (written with pkcs11-tool) and an RSA-2048 key (imported with softhsm2-util), data keys
// wrapped here with node:crypto and unwrapped by the token. Happy paths, every error, no
// descriptor, thread or mapping left behind, and residue scans of a child, after the call and
// inside it (held in C_Logout by a test-only forwarding module): the data key and the PIN are
// nowhere outside their guarded regions; SoftHSM holds the AES key in its own heap while
// logged in, and nowhere once the exchange has ended.
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import {
  asyncErrorCode,
  expectResidue,
  makeMarker,
  openFileDescriptors,
  softHsm,
  SOFTHSM_MODULE,
  startChild,
  type ChildHandle,
  type ScanResult,
  type SoftHsm,
} from '@strongroom/testkit';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

import { allocate, pkcs11Decrypt, stats, StrongroomError, type Pkcs11DecryptOptions, type Region } from '../src/index.js';
import { CHILD, PACKAGE_DIR, plantMarker, PREAMBLE } from './helpers.js';

const MODULE = SOFTHSM_MODULE;
const PAGE = Number(execFileSync('getconf', ['PAGESIZE'], { encoding: 'utf8' }).trim());
const TOKEN = 'strongroom-test';
const PIN = '4715-2093';
const SO_PIN = '8830-1127';
const AES_LABEL = 'kek-aes';
const RSA_LABEL = 'kek-rsa';
const AES_ID = Buffer.from('a1', 'hex');
const TWIN_LABEL = 'kek-twin';

let hsm: SoftHsm;
let slot = -1;
let dir = '';
let conf = '';
const kek = crypto.randomBytes(32);
let rsaPublic: crypto.KeyObject;
const TOKEN_LOGIN = { label: TOKEN, pin: PIN };

beforeAll(() => {
  hsm = softHsm();
  ({ dir, conf } = hsm);
  slot = hsm.initToken(TOKEN, PIN, SO_PIN);
  const { privateKey, publicKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  rsaPublic = publicKey;
  hsm.addRsaKey(TOKEN_LOGIN, privateKey.export({ type: 'pkcs8', format: 'pem' }), RSA_LABEL, 'b2');
  hsm.addAesKey(TOKEN_LOGIN, kek, AES_LABEL, AES_ID.toString('hex'));
  // Two AES keys under one label (ids c1 and c2): a label alone is ambiguous.
  for (const id of ['c1', 'c2']) hsm.addAesKey(TOKEN_LOGIN, crypto.randomBytes(32), TWIN_LABEL, id);
});

afterAll(() => hsm?.close());

const live: Region[] = [];
afterEach(() => {
  for (const r of live.splice(0)) r.free();
});

function region(bytes: Uint8Array): Region {
  const r = allocate(bytes.length);
  r.view().set(bytes);
  r.protect('noaccess');
  live.push(r);
  return r;
}

const pin = (text = PIN): Region => region(Buffer.from(text));

function gcmWrap(dataKey: Uint8Array, aad?: Uint8Array): { iv: Buffer; body: Buffer } {
  const iv = crypto.randomBytes(12);
  const cipher = crypto.createCipheriv('aes-256-gcm', kek, iv);
  if (aad !== undefined) cipher.setAAD(aad);
  return { iv, body: Buffer.concat([cipher.update(dataKey), cipher.final(), cipher.getAuthTag()]) };
}

function oaepWrap(dataKey: Uint8Array, oaepHash: 'sha1' | 'sha256'): Buffer {
  return crypto.publicEncrypt({ key: rsaPublic, padding: crypto.constants.RSA_PKCS1_OAEP_PADDING, oaepHash }, dataKey);
}

function aes(ciphertext: Uint8Array, more: Partial<Pkcs11DecryptOptions> = {}): Pkcs11DecryptOptions {
  return { module: MODULE, tokenLabel: TOKEN, pin: pin(), key: { label: AES_LABEL }, mechanism: 'aes-gcm', ciphertext, ...more };
}

async function plaintext(result: Promise<Region>): Promise<Buffer> {
  const r = await result;
  live.push(r);
  r.protect('readonly');
  const out = Buffer.from(r.view());
  r.protect('noaccess');
  return out;
}

async function failure(result: Promise<unknown>): Promise<StrongroomError> {
  const error = await result.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(StrongroomError);
  return error as StrongroomError;
}

describe('pkcs11Decrypt on SoftHSM2', () => {
  it('AES-GCM: iv || ciphertext || tag, by token label and key label, into a region of exactly the data key', async () => {
    const dataKey = crypto.randomBytes(32);
    const { iv, body } = gcmWrap(dataKey);
    const r = await pkcs11Decrypt(aes(Buffer.concat([iv, body])));
    live.push(r);
    expect(r.size).toBe(32);
    expect(r.protection).toBe('readwrite');
    expect(Buffer.from(r.view()).equals(dataKey)).toBe(true);
  });

  it('AES-GCM: the IV apart, with AAD, by slot and key id; a 1-byte and a 1000-byte plaintext', async () => {
    const aad = Buffer.from('tenant=7');
    for (const length of [1, 1000]) {
      const dataKey = crypto.randomBytes(length);
      const { iv, body } = gcmWrap(dataKey, aad);
      const { tokenLabel: _omit, ...options } = aes(body, { key: { id: AES_ID }, iv, aad });
      expect((await plaintext(pkcs11Decrypt({ ...options, slot }))).equals(dataKey)).toBe(true);
    }
  });

  it('RSA-OAEP with SHA-1 (and MGF1-SHA1): the token unwraps what node:crypto wrapped', async () => {
    const dataKey = crypto.randomBytes(32);
    const out = await plaintext(
      pkcs11Decrypt({
        module: MODULE, tokenLabel: TOKEN, pin: pin(), key: { label: RSA_LABEL }, mechanism: 'rsa-oaep',
        ciphertext: oaepWrap(dataKey, 'sha1'), oaepHash: 'sha1',
      }),
    );
    expect(out.equals(dataKey)).toBe(true);
  });

  it("RSA-OAEP with SHA-256 (the default): SoftHSM 2.6 refuses the parameters (CKR_ARGUMENTS_BAD), named as ERR_PKCS11", async () => {
    // SoftHSM 2.6.1 (Debian bookworm) decrypts OAEP with SHA-1 only; a token that supports
    // SHA-256 makes this test fail, and it then becomes a happy path.
    const error = await failure(
      pkcs11Decrypt({
        module: MODULE, tokenLabel: TOKEN, pin: pin(), key: { label: RSA_LABEL }, mechanism: 'rsa-oaep',
        ciphertext: oaepWrap(crypto.randomBytes(32), 'sha256'),
      }),
    );
    expect(error.code).toBe('ERR_PKCS11');
    expect(error.message).toMatch(/^C_DecryptInit failed .*CKR_ARGUMENTS_BAD \(0x7\).*oaepHash: 'sha1'/);
  });

  it('a wrong PIN is ERR_SOURCE_AUTH (CKR_PIN_INCORRECT), and the message holds no PIN', async () => {
    const { iv, body } = gcmWrap(crypto.randomBytes(32));
    const error = await failure(pkcs11Decrypt(aes(Buffer.concat([iv, body]), { pin: pin('0000-0000') })));
    expect(error.code).toBe('ERR_SOURCE_AUTH');
    expect(error.message).toContain('CKR_PIN_INCORRECT');
    expect(error.message).toContain(`'${TOKEN}'`);
    expect(error.message).not.toContain('0000');
    expect(error.message).not.toContain(PIN);
  });

  it('a missing key label, a key of the other class, a missing token label and an empty slot are ERR_SECRET_NOT_FOUND, named', async () => {
    const { iv, body } = gcmWrap(crypto.randomBytes(32));
    const ct = Buffer.concat([iv, body]);
    const noKey = await failure(pkcs11Decrypt(aes(ct, { key: { label: 'no-such-key' } })));
    expect([noKey.code, noKey.message]).toEqual([
      'ERR_SECRET_NOT_FOUND',
      expect.stringContaining(`no AES secret key labelled 'no-such-key' on the token labelled '${TOKEN}'`),
    ]);
    // The RSA label with aes-gcm looks for a secret key: there is none of that label.
    const wrongClass = await failure(pkcs11Decrypt(aes(ct, { key: { label: RSA_LABEL } })));
    expect(wrongClass.code).toBe('ERR_SECRET_NOT_FOUND');
    const noToken = await failure(pkcs11Decrypt(aes(ct, { tokenLabel: 'no-such-token' })));
    expect([noToken.code, noToken.message]).toEqual([
      'ERR_SECRET_NOT_FOUND',
      expect.stringContaining(`no token labelled 'no-such-token' in ${MODULE} (tokens present: '${TOKEN}'`),
    ]);
    const { tokenLabel: _omit, ...bySlot } = aes(ct, { slot: slot + 1 === 2 ** 32 ? 1 : slot + 1 });
    const noSlot = await failure(pkcs11Decrypt(bySlot));
    expect([noSlot.code, noSlot.message]).toEqual(['ERR_SECRET_NOT_FOUND', expect.stringContaining('CKR_SLOT_ID_INVALID')]);
  });

  it("a module that does not load is ERR_SOURCE_UNAVAILABLE with dlerror's text; a library without C_GetFunctionList too", async () => {
    const { iv, body } = gcmWrap(crypto.randomBytes(32));
    const ct = Buffer.concat([iv, body]);
    const missing = await failure(pkcs11Decrypt(aes(ct, { module: path.join(dir, 'no-such-module.so') })));
    expect(missing.code).toBe('ERR_SOURCE_UNAVAILABLE');
    expect(missing.message).toContain('cannot open shared object file: No such file or directory');
    const notSo = path.join(dir, 'not-a-library.so');
    fs.writeFileSync(notSo, 'not an ELF file');
    const garbage = await failure(pkcs11Decrypt(aes(ct, { module: notSo })));
    expect([garbage.code, garbage.message]).toEqual(['ERR_SOURCE_UNAVAILABLE', expect.stringMatching(/invalid ELF header|file too short/)]);
    const libz = execFileSync('/sbin/ldconfig', ['-p'], { encoding: 'utf8' }).match(/=> (\S*libz\.so\.1)$/m)?.[1];
    expect(libz).toBeDefined();
    const other = await failure(pkcs11Decrypt(aes(ct, { module: libz ?? '' })));
    expect([other.code, other.message]).toEqual(['ERR_SOURCE_UNAVAILABLE', expect.stringContaining('is not a PKCS#11 module: it has no C_GetFunctionList')]);
  });

  it('a tampered or truncated ciphertext, another AAD or IV is ERR_AUTH (AES-GCM and RSA-OAEP)', async () => {
    const dataKey = crypto.randomBytes(32);
    const aad = Buffer.from('aad');
    const { iv, body } = gcmWrap(dataKey, aad);
    const flipped = Buffer.from(body);
    flipped[3] = (flipped[3] ?? 0) ^ 1;
    const tag = Buffer.from(body);
    tag[tag.length - 1] = (tag[tag.length - 1] ?? 0) ^ 0x80;
    const cases: Array<[string, Pkcs11DecryptOptions]> = [
      ['a flipped ciphertext bit', aes(flipped, { iv, aad })],
      ['a flipped tag bit', aes(tag, { iv, aad })],
      ['another AAD', aes(body, { iv, aad: Buffer.from('aaD') })],
      ['no AAD', aes(body, { iv })],
      ['another IV', aes(body, { iv: crypto.randomBytes(12), aad })],
      ['the tag cut short', aes(body.subarray(0, body.length - 1), { iv, aad })],
      ['shorter than a tag', aes(body.subarray(0, 15), { iv, aad })],
      ['shorter than IV and tag', aes(Buffer.concat([iv, body]).subarray(0, 27))],
    ];
    const rsa = oaepWrap(dataKey, 'sha1');
    const rsaFlipped = Buffer.from(rsa);
    rsaFlipped[100] = (rsaFlipped[100] ?? 0) ^ 1;
    const oaep = (ciphertext: Uint8Array): Pkcs11DecryptOptions => ({
      module: MODULE, tokenLabel: TOKEN, pin: pin(), key: { label: RSA_LABEL }, mechanism: 'rsa-oaep', ciphertext, oaepHash: 'sha1',
    });
    cases.push(['an RSA block with a flipped bit', oaep(rsaFlipped)], ['an RSA block cut short', oaep(rsa.subarray(1))]);
    const regions = stats().regions;
    for (const [name, options] of cases) {
      const error = await failure(pkcs11Decrypt(options));
      expect([name, error.code]).toEqual([name, 'ERR_AUTH']);
    }
    // Only the PINs of the cases are left: no plaintext region survived a failure.
    expect(stats().regions).toBe(regions);
  });

  it('an empty plaintext (an authentic GCM tag over nothing) is ERR_EMPTY, and leaves no region', async () => {
    const { iv, body } = gcmWrap(new Uint8Array(0));
    expect(body.length).toBe(16);
    const regions = stats().regions;
    const options = aes(Buffer.concat([iv, body]));
    const error = await failure(pkcs11Decrypt(options));
    expect(error.code).toBe('ERR_EMPTY');
    expect(stats().regions).toBe(regions + 1); // the PIN of the options only
    // The same tag over nothing, altered: the tag is still checked, so ERR_AUTH.
    const forged = Buffer.concat([iv, body]);
    forged[forged.length - 1] = (forged[forged.length - 1] ?? 0) ^ 1;
    expect((await failure(pkcs11Decrypt(aes(forged)))).code).toBe('ERR_AUTH');
  });

  it('two keys under one label: ERR_INVALID_ARG asking for the id; label and id together choose one', async () => {
    const { iv, body } = gcmWrap(crypto.randomBytes(32));
    const ct = Buffer.concat([iv, body]);
    const error = await failure(pkcs11Decrypt(aes(ct, { key: { label: TWIN_LABEL } })));
    expect([error.code, error.message]).toEqual([
      'ERR_INVALID_ARG',
      expect.stringContaining(`more than one AES secret key labelled '${TWIN_LABEL}'`),
    ]);
    // Both exist, and neither is the key the data key was wrapped under: found, then not authentic.
    const chosen = await failure(pkcs11Decrypt(aes(ct, { key: { label: TWIN_LABEL, id: Buffer.from('c2', 'hex') } })));
    expect(chosen.code).toBe('ERR_AUTH');
    const mismatch = await failure(pkcs11Decrypt(aes(ct, { key: { label: AES_LABEL, id: Buffer.from('c2', 'hex') } })));
    expect([mismatch.code, mismatch.message]).toEqual([
      'ERR_SECRET_NOT_FOUND',
      expect.stringContaining(`labelled '${AES_LABEL}' and with id c2`),
    ]);
  });

  it('checks its options first, naming the function', async () => {
    const ct = new Uint8Array(40);
    const cases: Array<[unknown, RegExp]> = [
      [{ ...aes(ct), slot: 1 }, /exactly one of tokenLabel and slot/],
      [{ ...aes(ct), tokenLabel: undefined }, /exactly one of tokenLabel and slot/],
      [{ ...aes(ct), tokenLabel: 'x'.repeat(33) }, /at most 32 bytes/],
      [{ ...aes(ct), tokenLabel: 'padded ' }, /must not end with a space/],
      [{ ...aes(ct), key: {} }, /a label, an id, or both/],
      [{ ...aes(ct), key: { name: 'x' } }, /pkcs11Decrypt\(\)'s key has no option 'name'/],
      [{ ...aes(ct), mechanism: 'aes-cbc' }, /mechanism must be one of 'aes-gcm', 'rsa-oaep'/],
      [{ ...aes(ct), oaepHash: 'sha1' }, /oaepHash goes with mechanism 'rsa-oaep'/],
      [{ ...aes(ct), mechanism: 'rsa-oaep', aad: new Uint8Array(1) }, /aad goes with mechanism 'aes-gcm'/],
      [{ ...aes(ct), iv: new Uint8Array(257) }, /iv must be 1 to 256 bytes/],
      [{ ...aes(ct), pin: new Uint8Array(4) }, /pin must be a Region/],
      [{ ...aes(ct), backend: 'heap' }, /backend 'heap' is not accepted/],
      [{ ...aes(ct), keyLabel: 'x' }, /pkcs11Decrypt\(\) has no option 'keyLabel'/],
    ];
    for (const [options, message] of cases) {
      const error = await failure(pkcs11Decrypt(options as Pkcs11DecryptOptions));
      expect([error.code, error.message]).toEqual(['ERR_INVALID_ARG', expect.stringMatching(message)]);
    }
    const extra = await failure((pkcs11Decrypt as (...args: unknown[]) => Promise<Region>)(aes(ct), {}));
    expect(extra.message).toMatch(/takes at most 1 argument/);
  });

  it('the PIN may be freed as soon as the call has returned (a private copy is read)', async () => {
    const dataKey = crypto.randomBytes(32);
    const { iv, body } = gcmWrap(dataKey);
    const p = allocate(PIN.length);
    p.view().set(Buffer.from(PIN));
    const pending = pkcs11Decrypt(aes(Buffer.concat([iv, body]), { pin: p }));
    p.free();
    expect((await plaintext(pending)).equals(dataKey)).toBe(true);
  });

  it('leaves no descriptor, thread, mapping or region behind, on success and on every failure', async () => {
    const dataKey = crypto.randomBytes(32);
    const { iv, body } = gcmWrap(dataKey);
    const ct = Buffer.concat([iv, body]);
    const bad = Buffer.from(ct);
    bad[13] = (bad[13] ?? 0) ^ 1;
    const rsaOptions: Pkcs11DecryptOptions = {
      module: MODULE, tokenLabel: TOKEN, pin: pin(), key: { label: RSA_LABEL }, mechanism: 'rsa-oaep',
      ciphertext: oaepWrap(dataKey, 'sha1'), oaepHash: 'sha1',
    };
    // The first call loads libcrypto.so.3 (SoftHSM's dependency), which pins itself in the
    // process (OpenSSL 3 is never unloaded): a once-only cost, taken before the count.
    live.push(await pkcs11Decrypt(aes(ct)));
    const threads = (): number => fs.readdirSync('/proc/self/task').length;
    const softhsmMapped = (): boolean => fs.readFileSync('/proc/self/maps', 'utf8').includes('libsofthsm2.so');
    expect(softhsmMapped()).toBe(false);
    const cases: Array<[Pkcs11DecryptOptions, boolean]> = [
      [aes(ct), true],
      [rsaOptions, true],
      [aes(ct, { pin: pin('9999-9999') }), false],
      [aes(ct, { key: { label: 'absent' } }), false],
      [aes(ct, { tokenLabel: 'absent' }), false],
      [aes(ct, { module: '/nonexistent.so' }), false],
      [aes(bad), false],
    ];
    const before = { fds: openFileDescriptors('self'), threads: threads(), regions: stats().regions };
    for (const [options, succeeds] of cases) {
      const outcome = await pkcs11Decrypt(options).then(
        (r) => {
          r.free();
          return 'ok';
        },
        (e: unknown) => (e as StrongroomError).code,
      );
      expect(outcome === 'ok').toBe(succeeds);
      // The token was finalised and the module unloaded: no session can outlive the call.
      expect(softhsmMapped()).toBe(false);
      expect(openFileDescriptors('self')).toEqual(before.fds);
      expect(threads()).toBe(before.threads);
      expect(stats().regions).toBe(before.regions); // no plaintext region, no PIN copy
    }
    // The token works on as before (nothing was left logged in or locked).
    expect((await plaintext(pkcs11Decrypt(aes(ct)))).equals(dataKey)).toBe(true);
  });

  it('runs off the JS thread: the event loop turns while the token works', async () => {
    const { iv, body } = gcmWrap(crypto.randomBytes(32));
    let ticks = 0;
    const timer = setInterval(() => (ticks += 1), 0);
    const calls = Array.from({ length: 4 }, () => pkcs11Decrypt(aes(Buffer.concat([iv, body]))));
    for (const r of await Promise.all(calls)) live.push(r);
    clearInterval(timer);
    expect(ticks).toBeGreaterThan(0);
  });

  it('a wrong PIN counts against the token: SoftHSM does not lock, but the token works after the right PIN', async () => {
    const { iv, body } = gcmWrap(crypto.randomBytes(32));
    const code = await asyncErrorCode(() => pkcs11Decrypt(aes(Buffer.concat([iv, body]), { pin: pin('1111-1111') })));
    expect(code).toBe('ERR_SOURCE_AUTH');
    live.push(await pkcs11Decrypt(aes(Buffer.concat([iv, body]))));
  });
});

describe('residue (a child process, scanned)', () => {
  // The child gets the wrapped key only; the marker is the data key. The scan reads the
  // child's whole memory: SoftHSM runs inside it, so its heap is scanned too. The regions are
  // 'mmap' ones: memfd_secret pages cannot be read through /proc/PID/mem, so a scan would
  // miss the positive control there.
  function childFor(options: string, pinSetup: string): string {
    return `${PREAMBLE}
      ${pinSetup}
      pin.protect('noaccess');
      await checkpoint('ready');
      const key = await sr.pkcs11Decrypt({ module: '${MODULE}', pin, backend: 'mmap', ${options} });
      key.protect('noaccess');
      await checkpoint('decrypted', key.size);
      key.free();
      pin.free();
      await checkpoint('freed');`;
  }
  const hex = (bytes: Uint8Array): string => `Buffer.from('${Buffer.from(bytes).toString('hex')}', 'hex')`;
  const plainPin = `const pin = sr.allocate(${PIN.length}); pin.view().set(Buffer.from('${PIN}'));`;
  const env = (): { env: Record<string, string> } => ({ env: { SOFTHSM2_CONF: conf } });

  it.each([
    ['AES-GCM', (marker: Uint8Array): string => {
      const { iv, body } = gcmWrap(marker);
      return `tokenLabel: '${TOKEN}', key: { label: '${AES_LABEL}' }, mechanism: 'aes-gcm', ciphertext: ${hex(Buffer.concat([iv, body]))}`;
    }],
    ['RSA-OAEP', (marker: Uint8Array): string =>
      `tokenLabel: '${TOKEN}', key: { label: '${RSA_LABEL}' }, mechanism: 'rsa-oaep', oaepHash: 'sha1', ciphertext: ${hex(oaepWrap(marker, 'sha1'))}`],
  ])('%s: the decrypted data key is in its guarded region and nowhere else (SoftHSM and OpenSSL heaps included), then nowhere', async (_name, options) => {
    const marker = makeMarker(32);
    const child = await startChild(childFor(options(marker), plainPin), { ...CHILD, ...env() });
    await expectResidue(child, marker, [
      { at: 'ready', present: false },
      { at: 'decrypted', data: 32, count: 1, perms: '---' }, // positive control: the noaccess region
      { at: 'freed', present: false },
    ]);
  });

  // Inside the exchange: a test-only module (test/native/p11pause.c) forwards to SoftHSM and
  // holds the exchange in C_Logout, after C_Decrypt, with the session open and logged in.
  const PAUSE = path.join(PACKAGE_DIR, 'test', 'native', 'build', 'Release', 'p11pause.so');
  function pausedChild(options: string, pauseDir: string, pinSetup = plainPin): string {
    return `${PREAMBLE}
      import fs from 'node:fs';
      ${pinSetup}
      pin.protect('noaccess');
      await checkpoint('ready');
      const pending = sr.pkcs11Decrypt({ module: '${PAUSE}', pin, backend: 'mmap', ${options} });
      while (!fs.existsSync('${pauseDir}/paused')) await new Promise((r) => setTimeout(r, 5));
      await checkpoint('inside');
      fs.writeFileSync('${pauseDir}/release', '');
      const key = await pending;
      key.protect('noaccess');
      await checkpoint('decrypted', key.size);
      key.free();
      pin.free();
      await checkpoint('freed');`;
  }

  // Copies in anonymous memory only (a malloc arena), never in a file's mapping.
  const anonymousOnly = ({ matches }: ScanResult): void => expect(matches.filter((m) => m.mapping.path !== '')).toEqual([]);

  // A region's data ends flush against its trailing guard page: a copy there is the region.
  const inRegion = (address: bigint, length: number): boolean => (address + BigInt(length)) % BigInt(PAGE) === 0n;

  it.each(['aes-gcm', 'rsa-oaep'] as const)(
    '%s, inside the exchange (logged in, after C_Decrypt): the data key only in its region; SoftHSM holds the AES key in its heap until the exchange ends',
    async (mechanism) => {
      const marker = makeMarker(32);
      const options =
        mechanism === 'aes-gcm'
          ? `tokenLabel: '${TOKEN}', key: { label: '${AES_LABEL}' }, mechanism: 'aes-gcm', ciphertext: ${hex(Buffer.concat(Object.values(gcmWrap(marker))))}`
          : `tokenLabel: '${TOKEN}', key: { label: '${RSA_LABEL}' }, mechanism: 'rsa-oaep', oaepHash: 'sha1', ciphertext: ${hex(oaepWrap(marker, 'sha1'))}`;
      const start = async (): Promise<ChildHandle> => {
        const pauseDir = fs.mkdtempSync(path.join(dir, 'pause-'));
        return startChild(pausedChild(options, pauseDir), {
          ...CHILD,
          env: { SOFTHSM2_CONF: conf, STRONGROOM_P11_REAL: MODULE, STRONGROOM_P11_PAUSE_DIR: pauseDir },
        });
      };
      // The data key: once, in the result region ('readwrite' while the token writes into it);
      // neither SoftHSM nor OpenSSL keeps a copy once C_Decrypt has returned.
      await expectResidue(await start(), marker, [
        { at: 'ready', present: false },
        { at: 'inside', count: 1, perms: 'rw', check: ({ matches }) => expect(inRegion(matches[0]!.address, 32)).toBe(true) },
        { at: 'decrypted', data: 32, count: 1, perms: '---' },
        { at: 'freed', present: false },
      ]);
      // The AES key encryption key (an RSA exchange too: SoftHSM decrypts its token's objects
      // while it searches them): in SoftHSM's own heap (ordinary read-write memory, not a
      // guarded region) while logged in. After the exchange (C_Logout, C_Finalize, dlclose) it
      // is gone, except that with AES-GCM on Node 22 and 24 one copy stays, in every run since
      // 2026-11-30, in anonymous read-write memory of the pool thread's malloc arena: memory of
      // SoftHSM or of OpenSSL (which stays loaded), which strongroom never had, and which
      // malloc_trim does not give back. So after the exchange: at most one copy, and only there.
      const after = mechanism === 'rsa-oaep' ? { present: false } : { atMost: 1, perms: 'rw-p', check: anonymousOnly };
      await expectResidue(await start(), kek, [
        { at: 'ready', present: false },
        // (twice, at times: SoftHSM copies it between its own buffers as it goes)
        {
          at: 'inside',
          present: true,
          perms: 'rw',
          check: ({ matches }) => expect(matches.filter((m) => inRegion(m.address, 32))).toEqual([]),
        },
        { at: 'decrypted', data: 32, ...after },
        { at: 'freed', ...after },
      ]);
    },
  );

  it('the PIN is in its guarded region only: before, inside the exchange (logged in), and after', async () => {
    // A token of its own whose PIN is a marker (printable: softhsm2-util takes it as an argument).
    const marker = Buffer.from(`SRMK${crypto.randomBytes(12).toString('hex')}`);
    const label = 'strongroom-pin';
    hsm.initToken(label, marker.toString(), SO_PIN);
    hsm.addAesKey({ label, pin: marker.toString() }, kek, AES_LABEL);
    const { iv, body } = gcmWrap(crypto.randomBytes(32));
    const options = `tokenLabel: '${label}', key: { label: '${AES_LABEL}' }, mechanism: 'aes-gcm', ciphertext: ${hex(Buffer.concat([iv, body]))}`;
    const pauseDir = fs.mkdtempSync(path.join(dir, 'pause-'));
    const child = await startChild(pausedChild(options, pauseDir, plantMarker('pin', marker, 'mmap')), {
      ...CHILD,
      env: { SOFTHSM2_CONF: conf, STRONGROOM_P11_REAL: MODULE, STRONGROOM_P11_PAUSE_DIR: pauseDir },
    });
    const region = ({ matches }: ScanResult): void => expect(inRegion(matches[0]!.address, marker.length)).toBe(true);
    await expectResidue(child, marker, [
      { at: 'ready', count: 1, perms: '---', check: region }, // positive control: the caller's region
      // The caller's region and the exchange's private copy, both 'noaccess' (the copy is readable
      // only during C_Login): SoftHSM kept no copy of the PIN while logged in.
      { at: 'inside', count: 2, perms: '---' },
      { at: 'decrypted', data: 32, count: 1, perms: '---', check: region },
      { at: 'freed', present: false },
    ]);
  });
});
