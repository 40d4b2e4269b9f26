// The portable backend: forced by STRONGROOM_ENCLAVE_BACKEND=js, chosen by itself when
// the addon is really missing (an install copied without its build), refused under
// STRONGROOM_REQUIRE_NATIVE=1, and interoperable with the native backend: a child reads
// the native coffer's halves (test hook, mmap backend), builds a JS sealer on the same
// halves, and bytes sealed by either backend open in the other.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runNode } from '@strongroom/testkit';

const PACKAGE_DIR = fileURLToPath(new URL('..', import.meta.url));
const CHILD = { cwd: PACKAGE_DIR };
const JS = { ...CHILD, env: { STRONGROOM_ENCLAVE_BACKEND: 'js' } };
const PREAMBLE = `
import { Enclave, EnclaveStream, SecretBuffer, purge, configureCoffer, cofferStats } from '@strongroom/enclave';
const warnings = [];
process.on('warning', (w) => warnings.push(w.code));
const contents = (buffer) => buffer.read((view) => Array.from(view).join(','));
const codeOf = (fn) => { try { fn(); return 'no error'; } catch (error) { return error.code; } };
`;

async function lines(code: string, options: Parameters<typeof runNode>[1]): Promise<string[]> {
  const { code: exit, stdout, stderr } = await runNode(code, options);
  expect(stderr.replace(/\(Use `node --trace-warnings.*\n?/g, '').replace(/.*STRONGROOM_JS_FALLBACK.*\n?/g, '')).toBe('');
  expect(exit).toBe(0);
  return stdout.trim().split('\n');
}

describe('the portable backend, forced', () => {
  it('seals, opens, detects tampering, purges, and warns once', async () => {
    const out = await lines(
      `${PREAMBLE}
       console.log(Enclave.backend);
       const enclave = Enclave.from(Uint8Array.from([1, 2, 3]));
       const opened = enclave.open();
       console.log(contents(opened), opened.frozen);
       console.log(contents(Enclave.seal(SecretBuffer.from(Uint8Array.from([4, 5]), { backend: 'heap' })).open()));
       console.log(Enclave.random(16).open().size);
       const forged = enclave.toBytes(); forged[30] ^= 1;
       console.log(codeOf(() => Enclave.fromBytes(forged).open()));
       await new Promise((resolve) => setTimeout(resolve, 0));
       console.log(warnings.join('|'));
       purge();
       console.log(codeOf(() => enclave.open()), opened.destroyed);
       console.log(contents(Enclave.from(Uint8Array.from([9])).open()));`,
      JS,
    );
    expect(out).toEqual(['js', '1,2,3 true', '4,5', '16', 'ERR_AUTH', 'STRONGROOM_JS_FALLBACK', 'ERR_AUTH true', '9']);
  });

  it('rekeys on its interval without changing the key', async () => {
    const out = await lines(
      `${PREAMBLE}
       const enclave = Enclave.from(Uint8Array.from([7, 7]));
       configureCoffer({ rekeyInterval: 5 });
       await new Promise((resolve) => setTimeout(resolve, 200));
       configureCoffer({ rekeyInterval: 0 });
       const { rekeys, backend, locked } = cofferStats();
       console.log(Enclave.backend, backend, locked, rekeys >= 5, contents(enclave.open()));`,
      JS,
    );
    expect(out).toEqual(['js heap false true 7,7']);
  });

  it('streams seal and flatten, from writes and from a file', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'strongroom-fallback-'));
    const file = path.join(dir, 'bundle');
    fs.writeFileSync(file, Buffer.alloc(50_000, 0x5a));
    try {
      const out = await lines(
        `${PREAMBLE}
         const stream = new EnclaveStream({ chunkSize: 1000 });
         stream.end(Buffer.alloc(2500, 3));
         await new Promise((resolve) => stream.on('finish', resolve));
         const flat = stream.flatten();
         console.log(flat.size, flat.read((v) => v.every((b) => b === 3)));
         const fromFile = await EnclaveStream.fromFile(${JSON.stringify(file)});
         const all = fromFile.flatten();
         console.log(all.size, all.read((v) => v.every((b) => b === 0x5a)));`,
        JS,
      );
      expect(out).toEqual(['2500 true', '50000 true']);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('STRONGROOM_REQUIRE_NATIVE=1 refuses it; an unknown backend name is an error', async () => {
    const out = await lines(
      `${PREAMBLE}
       console.log(codeOf(() => Enclave.from(Uint8Array.from([1]))));`,
      { ...CHILD, env: { STRONGROOM_ENCLAVE_BACKEND: 'js', STRONGROOM_REQUIRE_NATIVE: '1' } },
    );
    expect(out).toEqual(['ERR_NATIVE_UNAVAILABLE']);
    const bad = await lines(
      `${PREAMBLE}
       console.log(codeOf(() => Enclave.random(8)));`,
      { ...CHILD, env: { STRONGROOM_ENCLAVE_BACKEND: 'wasm' } },
    );
    expect(bad).toEqual(['ERR_INVALID_ARG']);
  });
});

describe('the portable backend when the addon is really missing', () => {
  // An install of the three packages without the addon's build: what a machine with no
  // prebuild and no compiler ends up with.
  let root: string;

  beforeAll(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'strongroom-noaddon-'));
    const scope = path.join(root, 'node_modules', '@strongroom');
    const packages = path.resolve(PACKAGE_DIR, '..');
    for (const [name, folder] of [
      ['core-native', 'core-native'],
      ['buffer', 'buffer-api'],
      ['enclave', 'enclave'],
    ] as const) {
      fs.mkdirSync(path.join(scope, name), { recursive: true });
      fs.cpSync(path.join(packages, folder, 'package.json'), path.join(scope, name, 'package.json'));
      fs.cpSync(path.join(packages, folder, 'dist'), path.join(scope, name, 'dist'), { recursive: true });
    }
    // core-native's packed files beside dist/ that its loader imports (not the addon).
    fs.cpSync(path.join(packages, 'core-native', 'scripts'), path.join(scope, 'core-native', 'scripts'), { recursive: true });
    for (const dependency of ['tweetnacl', '@noble/hashes']) {
      const target = fs.realpathSync(path.join(PACKAGE_DIR, 'node_modules', dependency));
      fs.mkdirSync(path.dirname(path.join(root, 'node_modules', dependency)), { recursive: true });
      fs.symlinkSync(target, path.join(root, 'node_modules', dependency));
    }
  });

  afterAll(() => {
    fs.rmSync(root, { recursive: true, force: true });
  });

  it('falls back by itself, with the warning (Enclave.hmac too); SecretBuffer without heap says the addon is missing', async () => {
    const out = await lines(
      `${PREAMBLE}
       import { isNativeAvailable } from '@strongroom/core-native';
       console.log(isNativeAvailable(), Enclave.backend);
       console.log(contents(Enclave.from(Uint8Array.from([6, 6, 6])).open()));
       const { createHmac } = await import('node:crypto');
       const tag = Enclave.from(Uint8Array.from([6, 6, 6])).hmac('sha256', 'message');
       console.log(Buffer.from(tag).equals(createHmac('sha256', Uint8Array.from([6, 6, 6])).update('message').digest()));
       console.log(codeOf(() => SecretBuffer.alloc(4)));
       await new Promise((resolve) => setTimeout(resolve, 0));
       console.log(warnings.join('|'));`,
      { cwd: root, env: { STRONGROOM_ENCLAVE_BACKEND: undefined } },
    );
    expect(out).toEqual(['false js', '6,6,6', 'true', 'ERR_NATIVE_UNAVAILABLE', 'STRONGROOM_JS_FALLBACK']);
  });

  it('STRONGROOM_REQUIRE_NATIVE=1 makes it ERR_NATIVE_UNAVAILABLE', async () => {
    const out = await lines(
      `${PREAMBLE}
       console.log(codeOf(() => Enclave.backend));
       try { Enclave.random(4); } catch (error) { console.log(/did not load/.test(error.message)); }`,
      { cwd: root, env: { STRONGROOM_REQUIRE_NATIVE: '1', STRONGROOM_ENCLAVE_BACKEND: undefined } },
    );
    expect(out).toEqual(['ERR_NATIVE_UNAVAILABLE', 'true']);
  });
});

describe('the two backends interoperate', () => {
  it('bytes sealed by the native coffer open in the JS backend on the same halves, and back', async () => {
    const out = await lines(
      `${PREAMBLE}
       import { closeSync, openSync, readSync } from 'node:fs';
       import { createRequire } from 'node:module';
       import * as core from '@strongroom/core-native';
       import { JsSealer } from './dist/js-sealer.js';
       core.configure({ backend: 'mmap' });
       configureCoffer({ rekeyInterval: 0 });
       const native = Enclave.from(Uint8Array.from([1, 2, 3, 4]));
       const { LOCAL_ADDON } = await import('../core-native/scripts/addon-path.mjs');
       const binding = createRequire(process.cwd() + '/')(LOCAL_ADDON);
       const halves = Buffer.alloc(64);
       const fd = openSync('/proc/self/mem', 'r');
       readSync(fd, halves, 0, 64, BigInt(binding.cofferHalvesAddress()));
       closeSync(fd);
       const js = new JsSealer(0, { left: halves.subarray(0, 32), right: halves.subarray(32) });
       halves.fill(0);
       console.log(contents(js.open(native.toBytes())));
       const sealedByJs = js.sealBytes(Uint8Array.from([9, 8, 7]));
       console.log(contents(Enclave.fromBytes(sealedByJs).open()));
       const other = new JsSealer(0);
       console.log(codeOf(() => other.open(native.toBytes())));`,
      { ...CHILD, env: { STRONGROOM_TEST_HOOKS: '1' } },
    );
    expect(out).toEqual(['1,2,3,4', '9,8,7', 'ERR_AUTH']);
  });
});

describe('the portable backend leaves no plaintext copy per seal', () => {
  it('after Enclave.from() the marker is nowhere in the heap (control: present before)', async () => {
    const { expectResidue, makeMarker, maskMarker, startChild } = await import('@strongroom/testkit');
    const marker = makeMarker(32);
    const { masked, mask } = maskMarker(marker);
    // The marker is put together in a 'heap' region by XOR, so no heap string ever holds it.
    const child = await startChild(
      `import * as sr from '@strongroom/core-native';
       import { Enclave } from '@strongroom/enclave';
       const region = sr.allocate(32, { backend: 'heap' });
       sr.copyIn(region, Buffer.from('${masked}', 'hex'));
       const maskRegion = sr.allocate(32, { backend: 'heap' });
       sr.copyIn(maskRegion, Buffer.from('${mask}', 'hex'));
       sr.xor(region, maskRegion);
       await checkpoint('planted');
       const enclave = Enclave.from(region.view()); // seals, then wipes the view's bytes
       region.free();
       for (let i = 0; i < 3; i++) Enclave.from(new Uint8Array(64).fill(i + 1)); // churn
       await checkpoint('sealed', enclave.size);`,
      JS,
    );
    await expectResidue(child, marker, [
      { at: 'planted', present: true },
      { at: 'sealed', data: 32, present: false },
    ]);
  });
});
