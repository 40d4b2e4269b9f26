// Residue of age(), in a child process, for files made by Debian's real `age` CLI: an X25519
// identity (age-keygen's file) and an `age -p` passphrase, each given as a SecretBuffer and as
// an Enclave. After a load through loadSecrets and a forced GC, the README's table says
// "none": the plaintext marker is in no readable memory of the child; the key is where the
// caller keeps it (a SecretBuffer's guarded region, or sealed in an Enclave) and nowhere
// else, and the identity's X25519 scalar, which core-native decodes from the bech32 text,
// nowhere at all. The controls: the opened Enclave (and the opened key, when it is one) in
// guarded regions and a heap copy of the plaintext; a planted heap copy of the scalar.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import {
  expectResidue,
  heapMarkerCode,
  makeMarker,
  startChild,
  startTerminal,
  TERMINAL_SAY,
  textMarker,
  type ChildHandle,
  type ResidueStage,
  type ScanResult,
} from '@strongroom/testkit';
import { afterAll, describe, expect, it } from 'vitest';

import { tempFolder } from './helpers.js';

const PACKAGE_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { dir, remove } = tempFolder('age-residue');
afterAll(remove);

let files = 0;
const fresh = (suffix: string): string => path.join(dir, `${++files}-${suffix}`);

/** A new identity from age-keygen: its file and its recipient. */
function keygen(): { file: string; recipient: string } {
  const file = fresh('key.txt');
  execFileSync('age-keygen', ['-o', file], { stdio: 'pipe' });
  return { file, recipient: execFileSync('age-keygen', ['-y', file], { encoding: 'utf8' }).trim() };
}

/** The AGE-SECRET-KEY-1… line of an identity file, and the 32-byte scalar it encodes (bech32; checksum not checked). */
function identityOf(file: string): { line: Uint8Array; scalar: Uint8Array } {
  const line = fs.readFileSync(file, 'utf8').split('\n').find((l) => l.startsWith('AGE-SECRET-KEY-1'));
  if (line === undefined) throw new Error(`${file} holds no AGE-SECRET-KEY-1 line`);
  const charset = 'qpzry9x8gf2tvdw0s3jn54khce6mua7l';
  const out: number[] = [];
  let acc = 0;
  let bits = 0;
  for (const c of line.toLowerCase().slice('age-secret-key-1'.length, -6)) {
    acc = ((acc << 5) | charset.indexOf(c)) & 0xfff;
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      out.push((acc >> bits) & 0xff);
    }
  }
  if (out.length !== 32) throw new Error(`the identity in ${file} does not decode to 32 bytes`);
  return { line: new Uint8Array(Buffer.from(line, 'latin1')), scalar: Uint8Array.from(out) };
}

/** `age -r` of marker into a new file. */
function encryptTo(recipient: string, marker: Uint8Array): string {
  const file = fresh('secret.age');
  execFileSync('age', ['-r', recipient, '-o', file], { input: marker, stdio: ['pipe', 'pipe', 'pipe'] });
  return file;
}

/** `age -p` of marker into a new file, the passphrase typed twice at a pseudo-terminal (age reads it from nowhere else). */
async function encryptWithPassphrase(marker: Uint8Array, passphrase: string): Promise<string> {
  const input = fresh('plain');
  const output = fresh('secret.age');
  fs.writeFileSync(input, marker, { mode: 0o600 });
  try {
    const terminal = startTerminal(
      `import { spawnSync } from 'node:child_process';
       ${TERMINAL_SAY}
       const result = spawnSync('age', ${JSON.stringify(['-p', '-o', output, input])}, { stdio: 'inherit' });
       say('done', result.status);`,
      { timeoutMs: 60_000 },
    );
    await terminal.shown('Enter passphrase');
    terminal.type(`${passphrase}\n`);
    await terminal.shown('Confirm passphrase');
    terminal.type(`${passphrase}\n`);
    const status = await terminal.report('done');
    if (status !== 0) throw new Error(`age -p exited with ${String(status)}:\n${terminal.output}`);
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
  return `
import * as core from '@strongroom/core-native';
import { age, Enclave, loadSecrets, SecretBuffer } from '@strongroom/kms-loaders';
core.configure({ backend: 'mmap' }); // guarded pages a scan can read ('secretmem' pages it cannot)
async function settle(label, data) {
  for (let i = 0; i < 3; i++) { globalThis.gc(); await new Promise((resolve) => setImmediate(resolve)); }
  await checkpoint(label, data);
}
const read = SecretBuffer.fromFile(${JSON.stringify(keyFile)});
const key = ${enclave ? 'Enclave.seal(read)' : 'read'};
await settle('before');
const store = await loadSecrets({ s: age(${JSON.stringify(ageFile)}, { ${kind}: key }) });
await settle('loaded');
const opened = store.get('s').open();
let copy = opened.read((view) => Buffer.from(view)); // the deliberate heap copy of the control
const keyOpened = key instanceof Enclave ? key.open() : undefined;
await settle('opened', opened.size);
opened.destroy();
keyOpened?.destroy();
copy.fill(0);
copy = undefined;
store.close();
if (key instanceof SecretBuffer) key.destroy();
await settle('closed');
${planted === undefined ? '' : `${heapMarkerCode('planted', planted)}\nawait settle('planted', planted.length);`}
`;
}

const CHILD = { cwd: PACKAGE_DIR, args: ['--expose-gc'], timeoutMs: 60_000 };

const guarded = (found: ScanResult): ScanResult['matches'] => found.matches.filter((m) => m.mapping.perms === '---p');

/** Copies of `needle` in the child: `count` of them, all in guarded (---p) pages. */
async function expectGuarded(child: ChildHandle, needle: Uint8Array, count: number, what: string): Promise<bigint[]> {
  const found = await child.scan(needle);
  expect(found.matches.length, `${what}: ${found.matches.map((m) => `${m.mapping.perms} ${m.mapping.path}`).join(', ')}`).toBe(count);
  expect(guarded(found).length, what).toBe(count);
  return found.matches.map((m) => m.address);
}

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
    {
      at: 'opened', // the controls: the opened secret (guarded) and its heap copy; an Enclave key opened (guarded)
      data: marker.length,
      count: 2,
      check: async (found) => {
        expect(guarded(found)).toHaveLength(1);
        expect(found.matches.filter((m) => m.mapping.perms.startsWith('rw'))).toHaveLength(1);
        await expectGuarded(child, keyText, 1, "the key, opened or the caller's");
        await noScalar();
      },
    },
    {
      at: 'closed',
      count: 0,
      check: async () => {
        await expectGuarded(child, keyText, 0, 'the key once destroyed');
        await noScalar();
      },
    },
  ];
  if (scalar !== undefined) {
    result.push({
      at: 'planted', // the scalar's control: a heap Buffer that holds it is found
      data: scalar.length,
      count: 0,
      check: async () => {
        const found = await child.scan(scalar);
        expect(found.matches.length).toBeGreaterThan(0);
        expect(found.matches.every((m) => m.mapping.perms.startsWith('rw'))).toBe(true);
      },
    });
  }
  return result;
}

describe('age() residue', () => {
  it.each([
    ['a SecretBuffer', false],
    ['an Enclave', true],
  ])('X25519, the identity %s: the plaintext nowhere; the identity only where the caller keeps it; its scalar nowhere', async (_name, enclave) => {
    const marker = makeMarker(40); // one partial ChaCha20 block: implementations stage those on the stack
    const me = keygen();
    const ageFile = encryptTo(me.recipient, marker);
    const { line, scalar } = identityOf(me.file);
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
