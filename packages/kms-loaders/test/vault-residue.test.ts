// Residue of vault(), in a child process: after a load through a real socket from the Vault
// double (in this process) and a forced GC, the secret is in no readable memory of the
// child but at most one copy in freed C-heap memory (named in the README). The controls: opening the Enclave puts it in one guarded region, where the scan
// finds it; reading the same secret the usual way (fetch and JSON.parse) leaves copies in
// the JS heap, where the scan finds them too.
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { makeMarker, maskMarker, MIN_SCANNED_BYTES, startChild, textMarker, type MemoryMatch, type ScanResult } from '@strongroom/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { VaultDouble } from './doubles.js';
import { CHILD_START } from './residue-helpers.js';

const PACKAGE_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

let double: VaultDouble;
beforeAll(async () => {
  double = await new VaultDouble().start();
});
afterAll(() => double.stop());

function childCode(address: string): string {
  return `${CHILD_START}
import { Enclave, loadSecrets, SecretBuffer, vault } from '@strongroom/kms-loaders';
// The token arrives masked and is unmasked in guarded memory: it is never a JS string
// until vault() makes the X-Vault-Token header of it.
const held = SecretBuffer.from(Buffer.from(process.env.TOKEN_MASKED, 'hex'), { backend: 'mmap' });
{ const mask = Buffer.from(process.env.TOKEN_MASK, 'hex'); held.write((v) => { for (let i = 0; i < v.length; i++) v[i] ^= mask[i]; }); }
const token = Enclave.seal(held);
const store = await loadSecrets({ s: vault({ address: '${address}', auth: { token }, path: 'residue/app', field: 'password' }) });
await settle('loaded', store.get('s').size);
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
    const token = textMarker(makeMarker(24));
    double.tokens.set(token.text, { expires: Number.POSITIVE_INFINITY });
    const { masked, mask } = maskMarker(token.bytes);
    const control = double.token(); // for the usual way at the end
    const child = await startChild(childCode(double.address), {
      cwd: PACKAGE_DIR,
      args: ['--expose-gc'],
      env: { TOKEN_MASKED: masked, TOKEN_MASK: mask, TOKEN_PLAIN: control },
    });
    // After the load: at most one copy, and only in the C heap ([heap], not the JS heap):
    // freed memory that still held the answer, most likely the memory Node's socket read
    // went into before the bytes were handed to JS in a new buffer. Whether it is there
    // depends on the heap's layout (seen on Node 20, 22 and 24, not on every run), and it
    // lasts until malloc reuses that memory. The buffers JS gets, vault() wipes: without
    // the socket-chunk wipe this stage finds two copies.
    // Each stage: wait for the child's checkpoint, scan, check, resume; on a failure the
    // child is killed and the error names the stage.
    const stage = async (label: string, check: (found: ScanResult, data: unknown) => Promise<void> | void): Promise<void> => {
      try {
        const data = await child.waitFor(label);
        const found = await child.scan(marker.bytes);
        expect(found.scannedBytes).toBeGreaterThan(MIN_SCANNED_BYTES); // enough read to show an absence
        await check(found, data);
        child.resume();
      } catch (error) {
        child.kill();
        throw new Error(`stage '${label}': ${(error as Error).message}`, { cause: error });
      }
    };
    const guarded = (found: ScanResult): MemoryMatch[] => found.matches.filter((m) => m.mapping.perms === '---p');
    const others = (found: ScanResult): MemoryMatch[] => found.matches.filter((m) => m.mapping.perms !== '---p');
    let heapCopy: bigint | undefined;

    await stage('loaded', async (found, data) => {
      expect(data).toBe(marker.text.length);
      expect(guarded(found)).toHaveLength(0); // the Enclave holds it sealed
      expect(others(found).length).toBeLessThanOrEqual(1);
      expect(others(found).every((m) => m.mapping.path === '[heap]' && m.mapping.perms.startsWith('rw'))).toBe(true);
      heapCopy = others(found)[0]?.address;
      // The copy the README names: the token, as the header string node:http was given, is
      // in the JS heap (and only in writable memory: never a file-backed or guarded mapping).
      const copies = await child.scan(token.bytes);
      expect(copies.matches.length).toBeGreaterThan(0);
      expect(copies.matches.every((m) => m.mapping.perms.startsWith('rw'))).toBe(true);
    });
    await stage('opened', (found) => {
      expect(guarded(found)).toHaveLength(1); // positive control: the scan reads guarded pages, at rest (PROT_NONE)
      expect(others(found).map((m) => m.address)).toEqual(heapCopy === undefined ? [] : [heapCopy]); // no new copy
    });
    await stage('closed', (found) => {
      expect(guarded(found)).toHaveLength(0);
      expect(others(found).map((m) => m.address)).toEqual(heapCopy === undefined ? [] : [heapCopy]);
    });
    await stage('plain', (found, data) => {
      // control: the usual way (fetch, JSON.parse) leaves copies in the JS heap, and the scan finds them
      expect(data).toBe(marker.text.length);
      expect(others(found).filter((m) => m.address !== heapCopy).length).toBeGreaterThan(0);
    });
    expect((await child.exited).code).toBe(0);
    expect(double.log.filter((l) => l.path === '/v1/secret/data/residue/app')).toHaveLength(2);
  });
});
