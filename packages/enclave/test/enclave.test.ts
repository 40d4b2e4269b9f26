// Enclave: sealing, opening, tamper detection, transport between threads, redaction,
// the cost of holding many enclaves, and residue in a child's memory.
import { inspect } from 'node:util';

import { describe, expect, it } from 'vitest';
import { bytesOf, errorCode, expectResidue, hammerSealing, makeMarker, runNode, startChild } from '@strongroom/testkit';

import { cofferStats, configureCoffer, Enclave, purge, rekeyCoffer, SecretBuffer } from '../src/index.js';
import { CHILD, secretBufferMarker } from './helpers.js';

const PREAMBLE = `
import { Enclave, EnclaveStream, SecretBuffer, purge, configureCoffer, cofferStats } from '@strongroom/enclave';
import * as core from '@strongroom/core-native';
`;

describe('Enclave', () => {
  it('uses the native backend where the addon loads', () => {
    expect(Enclave.backend).toBe('native');
    expect(['mmap', 'secretmem']).toContain(cofferStats().backend); // where the native coffer's halves live
  });

  it('use() opens for one call and destroys the buffer when fn returns, throws, or its promise settles', async () => {
    const enclave = Enclave.from(Uint8Array.from([5, 6, 7]));
    let seen: SecretBuffer | undefined;
    expect(enclave.use((secret) => ((seen = secret), bytesOf(secret)))).toEqual([5, 6, 7]);
    expect(seen?.destroyed).toBe(true);
    expect(() =>
      enclave.use((secret) => {
        seen = secret;
        throw new Error('fn failed');
      }),
    ).toThrow('fn failed');
    expect(seen?.destroyed).toBe(true);
    const pending = enclave.use(async (secret) => {
      seen = secret;
      await new Promise((resolve) => setTimeout(resolve, 1));
      return secret.destroyed;
    });
    expect(seen?.destroyed).toBe(false); // still open while the promise is pending
    expect(await pending).toBe(false);
    expect(seen?.destroyed).toBe(true);
    await expect(enclave.use(async () => Promise.reject(new Error('async failure')))).rejects.toThrow('async failure');
    expect(SecretBuffer.live().buffers).toBe(0);
    expect(errorCode(() => enclave.use('fn' as never))).toBe('ERR_INVALID_ARG');
    expect(errorCode(() => (enclave.use as (...args: unknown[]) => unknown)(() => 0, 1))).toBe('ERR_INVALID_ARG');
  });

  it('seal() seals a SecretBuffer and destroys it; open() gives a new frozen buffer', () => {
    const buffer = SecretBuffer.from(Uint8Array.from([1, 2, 3, 4]));
    const enclave = Enclave.seal(buffer);
    expect(buffer.destroyed).toBe(true);
    expect(enclave.size).toBe(4);
    const first = enclave.open();
    const second = enclave.open();
    expect(first.frozen).toBe(true);
    expect(bytesOf(first)).toEqual([1, 2, 3, 4]);
    expect(first === second).toBe(false);
    first.destroy();
    expect(bytesOf(second)).toEqual([1, 2, 3, 4]);
    second.destroy();
  });

  it('from() seals bytes and wipes them; random() seals fresh random bytes', () => {
    const bytes = Uint8Array.from([9, 8, 7]);
    const enclave = Enclave.from(bytes);
    expect(Array.from(bytes)).toEqual([0, 0, 0]);
    expect(bytesOf(enclave.open())).toEqual([9, 8, 7]);
    const a = Enclave.random(32).open();
    const b = Enclave.random(32).open();
    expect(a.size).toBe(32);
    expect(a.equals(b)).toBe(false);
    expect(bytesOf(a).some((byte) => byte !== 0)).toBe(true);
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
    expect(bytesOf(enclave.open())).toEqual([5, 5]);
    const bytes = enclave.toBytes();
    const copy = Enclave.fromBytes(bytes);
    bytes.fill(0);
    expect(bytesOf(copy.open())).toEqual([5, 5]);
  });

  it('rejects misuse with typed errors and loses nothing', () => {
    const busy = SecretBuffer.from(Uint8Array.from([1]));
    busy.read(() => {
      expect(errorCode(() => Enclave.seal(busy))).toBe('ERR_BUSY');
    });
    expect(busy.destroyed).toBe(false);
    expect(bytesOf(busy)).toEqual([1]);
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
    expect(bytesOf(enclave.open())).toEqual([3, 1, 4]);
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
    expect(bytesOf(Enclave.from(Uint8Array.from([2])).open())).toEqual([2]);
  });
});

// Enclave as a layer for testkit's hammerSealing: the coffer test runs the same hammer on
// core-native's functions; this one adds the Enclave's own sealing, toBytes() and fromBytes().
const ENCLAVE_LAYER = `
import { Enclave, cofferStats, configureCoffer, rekeyCoffer } from '@strongroom/enclave';
const seal = (plain) => Enclave.from(Uint8Array.from(plain));
const toBytes = (enclave) => enclave.toBytes();
const fromBytes = (bytes) => Enclave.fromBytes(bytes);
const opensTo = (enclave, plain) => {
  const opened = enclave.open();
  const same = opened.read((view) => Buffer.from(view).equals(plain));
  opened.destroy();
  return same;
};
const rekey = () => rekeyCoffer();
const rekeys = () => cofferStats().rekeys;
const setup = () => configureCoffer({ rekeyInterval: 1 });
`;

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
    // 3 workers for 3 s, each rekeying every 5th operation; more than 300 operations each and 300 rekeys in all
    await hammerSealing(ENCLAVE_LAYER, { ...CHILD, workers: 3, size: 48, rekeyEvery: 5, postEvery: 40, minOps: 300, minRekeys: 300 });
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
    const child = await startChild(
      `${PREAMBLE}
       core.configure({ backend: 'mmap' });
       ${secretBufferMarker('secret', marker)}
       await checkpoint('planted');
       const enclave = Enclave.seal(secret);
       await checkpoint('sealed');
       const opened = enclave.open();
       await checkpoint('opened');
       opened.destroy();
       await checkpoint('destroyed');`,
      CHILD,
    );
    await expectResidue(child, marker, [
      { at: 'planted', present: true }, // positive control
      { at: 'sealed', present: false },
      { at: 'opened', count: 1, perms: '---' }, // the frozen buffer, noaccess
      { at: 'destroyed', present: false },
    ]);
  });
});
