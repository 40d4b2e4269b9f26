// Residue of vault(), in a child process: after a load through a real socket from the Vault
// double (in this process) and a forced GC, the secret is in no readable memory of the
// child (Node 22 at times, Node 24 always: but one copy in the C heap, gone after the next
// socket read). The controls: opening the Enclave puts it in one guarded region, where the scan
// finds it; reading the same secret the usual way (fetch and JSON.parse) leaves copies in
// the JS heap, where the scan finds them too.
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { expectResidue, makeMarker, maskMarker, MIN_SCANNED_BYTES, startChild, textMarker, type ScanResult } from '@strongroom/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { VaultDouble } from './doubles.js';

const NODE_MAJOR = Number(process.versions.node.split('.')[0]);
const PACKAGE_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

let double: VaultDouble;
beforeAll(async () => {
  double = await new VaultDouble().start();
});
afterAll(() => double.stop());

function childCode(address: string): string {
  return `
import * as core from '@strongroom/core-native';
import { Enclave, loadSecrets, SecretBuffer, vault } from '@strongroom/kms-loaders';
core.configure({ backend: 'mmap' }); // guarded pages a scan can read ('secretmem' pages it cannot)
async function settle(label, data) {
  for (let i = 0; i < 3; i++) { globalThis.gc(); await new Promise((resolve) => setImmediate(resolve)); }
  await checkpoint(label, data);
}
// The token arrives masked and is unmasked in guarded memory: it is never a JS string
// until vault() makes the X-Vault-Token header of it.
const held = SecretBuffer.from(Buffer.from(process.env.TOKEN_MASKED, 'hex'), { backend: 'mmap' });
{ const mask = Buffer.from(process.env.TOKEN_MASK, 'hex'); held.write((v) => { for (let i = 0; i < v.length; i++) v[i] ^= mask[i]; }); }
const token = Enclave.seal(held);
const store = await loadSecrets({ s: vault({ address: '${address}', auth: { token }, path: 'residue/app', field: 'password' }) });
await settle('loaded', store.get('s').size);
// A second read, longer than the first answer: Node's next socket read reuses the memory of the last.
const filler = await loadSecrets({ f: vault({ address: '${address}', auth: { token }, path: 'residue/filler', field: 'pad' }) });
filler.close();
await settle('filler');
const opened = store.get('s').open();
await settle('opened');
opened.destroy();
store.close();
await settle('closed');
const response = await fetch('${address}/v1/secret/data/residue/app', { headers: { 'x-vault-token': process.env.TOKEN_PLAIN } });
const plain = (await response.json()).data.data.password; // held, as a program would hold it
await settle('plain', plain.length);
process.exit(0);
`;
}

describe('vault() residue', () => {
  it('the secret is in no readable memory of the child after the load, but in its guarded region while opened', async () => {
    const marker = textMarker(makeMarker(24)); // printable, so that it can be a JSON string
    double.put('secret/residue/app', { username: 'app', password: marker.text });
    double.put('secret/residue/filler', { pad: 'f'.repeat(8192) });
    const token = textMarker(makeMarker(24));
    double.tokens.set(token.text, { expires: Number.POSITIVE_INFINITY });
    const { masked, mask } = maskMarker(token.bytes);
    const control = double.token(); // for the usual way at the end
    const child = await startChild(childCode(double.address), {
      cwd: PACKAGE_DIR,
      args: ['--expose-gc'],
      env: { TOKEN_MASKED: masked, TOKEN_MASK: mask, TOKEN_PLAIN: control },
    });
    // After the load: nothing on Node 20. Node 22 (at times) and 24 (always) leave one copy
    // in the C heap ([heap], not the JS heap) that the next socket read overwrites (the
    // 'filler' stage): by all signs the memory Node's socket read went into, freed unwiped
    // once the bytes were handed to JS in a new buffer. On Node 20 the buffer JS gets is the
    // one read into, and vault() wipes it.
    try {
      expect(await child.waitFor('loaded')).toBe(marker.text.length);
      const found = await child.scan(marker.bytes);
      expect(found.scannedBytes).toBeGreaterThan(MIN_SCANNED_BYTES); // enough read to show an absence
      if (NODE_MAJOR < 22) expect(found.matches).toHaveLength(0);
      expect(found.matches.length).toBeLessThanOrEqual(1);
      expect(found.matches.every((m) => m.mapping.path === '[heap]' && m.mapping.perms.startsWith('rw'))).toBe(true);
      // The copy the README names: the token, as the header string node:http was given, is
      // in the JS heap (and only in writable memory: never a file-backed or guarded mapping).
      const copies = await child.scan(token.bytes);
      expect(copies.matches.length).toBeGreaterThan(0);
      expect(copies.matches.every((m) => m.mapping.perms.startsWith('rw'))).toBe(true);
      child.resume();
    } catch (error) {
      child.kill();
      throw error;
    }
    await expectResidue(child, marker.bytes, [
      { at: 'filler', present: false },
      {
        at: 'opened', // positive control: the scan reads guarded pages (PROT_NONE ones through /proc/PID/mem)
        count: 1,
        check: (found: ScanResult) => expect(found.matches[0]?.mapping.perms).toBe('---p'), // at rest: no scope open
      },
      { at: 'closed', present: false },
      {
        at: 'plain', // control: the usual way leaves copies in the JS heap, and the scan finds them
        data: marker.text.length,
        present: true,
        check: (found: ScanResult) => expect(found.matches.some((m) => m.mapping.perms.startsWith('rw'))).toBe(true),
      },
    ]);
    expect(double.log.filter((l) => l.path === '/v1/secret/data/residue/app')).toHaveLength(2);
    expect(double.log.filter((l) => l.path === '/v1/secret/data/residue/filler')).toHaveLength(1);
  });
});
