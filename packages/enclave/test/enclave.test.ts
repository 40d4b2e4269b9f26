// Enclave: sealing, opening, tamper detection, transport between threads, redaction,
// the cost of holding many enclaves, and residue in a child's memory.
import { inspect } from 'node:util';
import { fileURLToPath } from 'node:url';

import { describe, expect, it } from 'vitest';
import { errorCode, makeMarker, maskMarker, runNode, startChild } from '@strongroom/testkit';

import { cofferStats, configureCoffer, Enclave, purge, rekeyCoffer, SecretBuffer } from '../src/index.js';

const CHILD = { cwd: fileURLToPath(new URL('..', import.meta.url)) };
const PREAMBLE = `
import { Enclave, EnclaveStream, SecretBuffer, purge, configureCoffer, cofferStats } from '@strongroom/enclave';
import * as core from '@strongroom/core-native';
`;

function contents(buffer: SecretBuffer): number[] {
  return buffer.read((view) => Array.from(view));
}

describe('Enclave', () => {
  it('uses the native backend where the addon loads', () => {
    expect(Enclave.backend).toBe('native');
    expect(['mmap', 'secretmem']).toContain(cofferStats().backend); // where the native coffer's halves live
  });

  it('seal() seals a SecretBuffer and destroys it; open() gives a new frozen buffer', () => {
    const buffer = SecretBuffer.from(Uint8Array.from([1, 2, 3, 4]));
    const enclave = Enclave.seal(buffer);
    expect(buffer.destroyed).toBe(true);
    expect(enclave.size).toBe(4);
    const first = enclave.open();
    const second = enclave.open();
    expect(first.frozen).toBe(true);
    expect(contents(first)).toEqual([1, 2, 3, 4]);
    expect(first === second).toBe(false);
    first.destroy();
    expect(contents(second)).toEqual([1, 2, 3, 4]);
    second.destroy();
  });

  it('from() seals bytes and wipes them; random() seals fresh random bytes', () => {
    const bytes = Uint8Array.from([9, 8, 7]);
    const enclave = Enclave.from(bytes);
    expect(Array.from(bytes)).toEqual([0, 0, 0]);
    expect(contents(enclave.open())).toEqual([9, 8, 7]);
    const a = Enclave.random(32).open();
    const b = Enclave.random(32).open();
    expect(a.size).toBe(32);
    expect(a.equals(b)).toBe(false);
    expect(contents(a).some((byte) => byte !== 0)).toBe(true);
  });

  it('tampering with any byte of the sealed bytes gives ERR_AUTH and leaves nothing allocated', () => {
    const sealed = Enclave.from(Uint8Array.from([1, 2, 3, 4, 5])).toBytes();
    const live = SecretBuffer.live().buffers;
    for (let i = 0; i < sealed.length; i++) {
      const forged = Uint8Array.from(sealed);
      forged[i]! ^= 0x80;
      expect(errorCode(() => Enclave.fromBytes(forged).open())).toBe('ERR_AUTH');
    }
    expect(SecretBuffer.live().buffers).toBe(live);
  });

  it('truncated or foreign bytes give ERR_AUTH; a nonce and MAC alone ERR_EMPTY', () => {
    const sealed = Enclave.from(Uint8Array.from([1, 2, 3])).toBytes();
    expect(errorCode(() => Enclave.fromBytes(sealed.subarray(0, 39)))).toBe('ERR_AUTH');
    expect(errorCode(() => Enclave.fromBytes(new Uint8Array(0)))).toBe('ERR_AUTH');
    expect(errorCode(() => Enclave.fromBytes(sealed.subarray(0, 40)))).toBe('ERR_EMPTY');
    expect(errorCode(() => Enclave.fromBytes(sealed.subarray(0, sealed.length - 1)).open())).toBe('ERR_AUTH');
    expect(errorCode(() => Enclave.fromBytes(new Uint8Array(64)).open())).toBe('ERR_AUTH');
  });

  it('toBytes() and fromBytes() copy: changing either side changes nothing', () => {
    const enclave = Enclave.from(Uint8Array.from([5, 5]));
    const out = enclave.toBytes();
    out.fill(0);
    expect(contents(enclave.open())).toEqual([5, 5]);
    const bytes = enclave.toBytes();
    const copy = Enclave.fromBytes(bytes);
    bytes.fill(0);
    expect(contents(copy.open())).toEqual([5, 5]);
  });

  it('rejects misuse with typed errors and loses nothing', () => {
    const busy = SecretBuffer.from(Uint8Array.from([1]));
    busy.read(() => {
      expect(errorCode(() => Enclave.seal(busy))).toBe('ERR_BUSY');
    });
    expect(busy.destroyed).toBe(false);
    expect(contents(busy)).toEqual([1]);
    busy.destroy();
    expect(errorCode(() => Enclave.seal(busy))).toBe('ERR_DESTROYED');
    expect(errorCode(() => Enclave.seal(Uint8Array.from([1]) as never))).toBe('ERR_INVALID_ARG');
    expect(errorCode(() => Enclave.from('secret' as never))).toBe('ERR_INVALID_ARG');
    expect(errorCode(() => Enclave.from(new Uint8Array(0)))).toBe('ERR_INVALID_ARG');
    expect(errorCode(() => Enclave.random(0))).toBe('ERR_INVALID_ARG');
    expect(errorCode(() => Enclave.fromBytes([1, 2] as never))).toBe('ERR_INVALID_ARG');
    expect(errorCode(() => new (Enclave as unknown as new (t: symbol, b: Uint8Array) => Enclave)(Symbol('x'), new Uint8Array(41)))).toBe(
      'ERR_INVALID_ARG',
    );
  });

  it('structuredClone of an Enclave throws with what to do instead', () => {
    const enclave = Enclave.from(Uint8Array.from([1]));
    expect(errorCode(() => structuredClone(enclave))).toBe('ERR_INVALID_ARG');
    expect(() => structuredClone(enclave)).toThrow(/toBytes\(\)/);
  });

  it('never shows bytes in text', () => {
    const enclave = Enclave.from(Uint8Array.from([0x41, 0x42, 0x43]));
    for (const text of [String(enclave), `${enclave}`, inspect(enclave)]) {
      expect(text).toContain('Enclave(3 bytes, sealed)');
    }
    expect(JSON.parse(JSON.stringify({ enclave }))).toEqual({ enclave: { type: 'Enclave', size: 3 } });
  });

  it('opens after many rekeys, automatic and explicit', async () => {
    const enclave = Enclave.from(Uint8Array.from([3, 1, 4]));
    const before = cofferStats().rekeys;
    configureCoffer({ rekeyInterval: 5 });
    await new Promise((resolve) => setTimeout(resolve, 200));
    configureCoffer({ rekeyInterval: 500 });
    for (let i = 0; i < 10; i++) rekeyCoffer();
    expect(cofferStats().rekeys - before).toBeGreaterThanOrEqual(15);
    expect(contents(enclave.open())).toEqual([3, 1, 4]);
  });

  it('validates configureCoffer()', () => {
    expect(errorCode(() => configureCoffer({ rekeyInterval: -5 }))).toBe('ERR_INVALID_ARG');
    expect(errorCode(() => configureCoffer({ rekeyInterval: 86_400_001 }))).toBe('ERR_INVALID_ARG');
    expect(errorCode(() => configureCoffer({ every: 5 } as never))).toBe('ERR_INVALID_ARG');
    expect(errorCode(() => configureCoffer(null as never))).toBe('ERR_INVALID_ARG');
    expect(configureCoffer({}).rekeyInterval).toBe(500);
  });

  it('purge() makes old enclaves fail with ERR_AUTH; new ones work', () => {
    const old = Enclave.from(Uint8Array.from([1]));
    const buffer = SecretBuffer.random(8);
    const { buffers } = purge();
    expect(buffers).toBeGreaterThanOrEqual(1);
    expect(buffer.destroyed).toBe(true);
    expect(SecretBuffer.live().buffers).toBe(0);
    expect(errorCode(() => old.open())).toBe('ERR_AUTH');
    expect(contents(Enclave.from(Uint8Array.from([2])).open())).toEqual([2]);
  });
});

describe('Enclave in a child process', () => {
  it('sealed bytes travel to a worker thread and open there, until a purge', async () => {
    const { code, stdout, stderr } = await runNode(
      `${PREAMBLE}
       import { Worker } from 'node:worker_threads';
       const work = \`
         import { Enclave } from '@strongroom/enclave';
         import { parentPort } from 'node:worker_threads';
         parentPort.on('message', (bytes) => {
           try {
             const opened = Enclave.fromBytes(bytes).open();
             parentPort.postMessage(opened.read((view) => Array.from(view).join(',')));
             opened.destroy();
           } catch (error) { parentPort.postMessage(error.code); }
         });
       \`;
       const worker = new Worker(work, { eval: true, execArgv: ['--input-type=module'] });
       const ask = (bytes) => new Promise((resolve) => { worker.once('message', resolve); worker.postMessage(bytes); });
       const enclave = Enclave.from(Uint8Array.from([7, 8, 9]));
       console.log(await ask(enclave.toBytes()));
       purge();
       console.log(await ask(enclave.toBytes()));
       await worker.terminate();`,
      CHILD,
    );
    expect(stderr).toBe('');
    expect(code).toBe(0);
    expect(stdout.trim().split('\n')).toEqual(['7,8,9', 'ERR_AUTH']);
  });

  it('worker threads sealing, opening and rekeying at once for seconds lose nothing', async () => {
    const { code, stdout, stderr } = await runNode(
      `${PREAMBLE}
       import { Worker } from 'node:worker_threads';
       configureCoffer({ rekeyInterval: 1 });
       const work = \`
         import { Enclave, rekeyCoffer } from '@strongroom/enclave';
         import { parentPort } from 'node:worker_threads';
         import { randomBytes } from 'node:crypto';
         const until = Date.now() + 3000;
         let ops = 0, bad = 0;
         while (Date.now() < until) {
           const plain = randomBytes(48);
           const enclave = Enclave.from(Uint8Array.from(plain));
           if (ops % 5 === 0) rekeyCoffer();
           try {
             const opened = enclave.open();
             if (!opened.read((view) => Buffer.from(view).equals(plain))) bad++;
             opened.destroy();
           } catch { bad++; }
           if (ops % 40 === 0) parentPort.postMessage({ sealed: enclave.toBytes(), plain });
           ops++;
         }
         parentPort.postMessage({ ops, bad });
       \`;
       const results = await Promise.all(Array.from({ length: 3 }, () => new Promise((resolve, reject) => {
         const worker = new Worker(work, { eval: true, execArgv: ['--input-type=module'] });
         let crossOps = 0, crossBad = 0;
         worker.on('message', (m) => {
           if (m.ops !== undefined) return resolve({ ...m, crossOps, crossBad });
           crossOps++;
           try {
             const opened = Enclave.fromBytes(m.sealed).open();
             if (!opened.read((view) => Buffer.from(view).equals(Buffer.from(m.plain)))) crossBad++;
             opened.destroy();
           } catch { crossBad++; }
         });
         worker.on('error', reject);
       })));
       console.log(JSON.stringify({ results, rekeys: cofferStats().rekeys }));`,
      { ...CHILD, timeoutMs: 60_000 },
    );
    expect(stderr).toBe('');
    expect(code).toBe(0);
    const { results, rekeys } = JSON.parse(stdout) as {
      results: Array<{ ops: number; bad: number; crossOps: number; crossBad: number }>;
      rekeys: number;
    };
    for (const result of results) {
      expect(result).toMatchObject({ bad: 0, crossBad: 0 });
      expect(result.ops).toBeGreaterThan(300);
      expect(result.crossOps).toBeGreaterThan(5);
    }
    expect(rekeys).toBeGreaterThan(300);
  });

  it('holding many enclaves costs no locked memory', async () => {
    const { stdout, code } = await runNode(
      `${PREAMBLE}
       Enclave.from(Uint8Array.from([1])).open().destroy();
       const before = core.stats().bytesLocked;
       const enclaves = Array.from({ length: 5000 }, () => Enclave.random(32));
       const after = core.stats().bytesLocked;
       console.log(JSON.stringify({ delta: after - before, kept: enclaves.length }));`,
      CHILD,
    );
    expect(code).toBe(0);
    const { delta, kept } = JSON.parse(stdout) as { delta: number; kept: number };
    expect(kept).toBe(5000);
    // 5000 guarded 32-byte buffers would lock at least 5000 pages.
    expect(delta).toBe(0);
  });

  it('a sealed marker is in no readable memory of the child; opening brings it back only into the buffer', async () => {
    const marker = makeMarker();
    const { masked, mask } = maskMarker(marker);
    const child = await startChild(
      `${PREAMBLE}
       core.configure({ backend: 'mmap' });
       const secret = SecretBuffer.from(Buffer.from('${masked}', 'hex'));
       {
         const maskRegion = core.allocate(${marker.length}, { backend: 'mmap' });
         core.copyIn(maskRegion, Buffer.from('${mask}', 'hex'));
         secret.write((view) => {
           const m = maskRegion.view();
           for (let i = 0; i < view.length; i++) view[i] ^= m[i];
         });
         maskRegion.free();
       }
       await checkpoint('planted');
       const enclave = Enclave.seal(secret);
       await checkpoint('sealed');
       const opened = enclave.open();
       await checkpoint('opened');
       opened.destroy();
       await checkpoint('destroyed');`,
      CHILD,
    );
    await child.waitFor('planted');
    expect((await child.scan(marker)).matches.length).toBeGreaterThan(0); // positive control
    child.resume();
    await child.waitFor('sealed');
    expect((await child.scan(marker)).matches).toEqual([]);
    child.resume();
    await child.waitFor('opened');
    const opened = await child.scan(marker);
    expect(opened.matches.length).toBe(1);
    expect(opened.matches[0]!.mapping.perms.startsWith('---')).toBe(true); // the frozen buffer, noaccess
    child.resume();
    await child.waitFor('destroyed');
    expect((await child.scan(marker)).matches).toEqual([]);
    child.resume();
    expect((await child.exited).code).toBe(0);
  });
});
