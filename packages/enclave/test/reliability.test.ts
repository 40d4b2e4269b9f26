// Enclave paths that used to fail or run unbounded (issue 9, item 7): under
// configure({ backend: 'heap' }) the native coffer still seals and opens guarded memory;
// EnclaveStream.fromFile() stops at maxSize, for a device that never ends too.
import { configure } from '@strongroom/core-native';
import { asyncErrorCode, bytesOf, openFileDescriptors, runNode } from '@strongroom/testkit';
import { describe, expect, it } from 'vitest';

import { CHILD } from './helpers.js';

import { DEFAULT_FILE_MAX_SIZE, Enclave, EnclaveStream, SecretBuffer } from '../src/index.js';

describe("under configure({ backend: 'heap' })", () => {
  it('Enclave.open, Enclave.random and EnclaveStream.flatten work, in native memory', async () => {
    const previous = configure();
    try {
      configure({ backend: 'heap' });
      const enclave = Enclave.from(Uint8Array.from([1, 2, 3]));
      const opened = enclave.open();
      expect(bytesOf(opened)).toEqual([1, 2, 3]);
      const random = Enclave.random(16).open();
      expect(random.size).toBe(16);
      const stream = new EnclaveStream({ chunkSize: 4 });
      stream.end(Buffer.from([5, 6, 7, 8, 9]));
      await new Promise((resolve) => stream.on('finish', resolve));
      const flat = stream.flatten();
      expect(bytesOf(flat)).toEqual([5, 6, 7, 8, 9]);
      for (const buffer of [opened, random, flat]) buffer.destroy();
    } finally {
      configure(previous);
      SecretBuffer.destroyAll();
    }
  });
});

describe('EnclaveStream.fromFile() maxSize', () => {
  it('a device that never ends (/dev/zero) stops at maxSize with ERR_TOO_LARGE; no descriptor stays open', async () => {
    const fds = openFileDescriptors(process.pid);
    expect(await asyncErrorCode(() => EnclaveStream.fromFile('/dev/zero', { maxSize: 100_000 }))).toBe('ERR_TOO_LARGE');
    expect(openFileDescriptors(process.pid)).toEqual(fds);
  });

  it('a regular file over maxSize is refused before it is read; exactly maxSize is read', async () => {
    expect(await asyncErrorCode(() => EnclaveStream.fromFile('/proc/self/exe', { maxSize: 10 }))).toBe('ERR_TOO_LARGE');
    const exact = await EnclaveStream.fromFile('/etc/hostname', { maxSize: 1 << 20 });
    expect(exact.size).toBeGreaterThan(0);
    exact.destroy();
    expect(DEFAULT_FILE_MAX_SIZE).toBe(256 * 1024 * 1024);
    expect(await asyncErrorCode(() => EnclaveStream.fromFile('/dev/zero', { maxSize: 0 }))).toBe('ERR_INVALID_ARG');
  });
});

describe('every package under RLIMIT_MEMLOCK 0 (without CAP_IPC_LOCK)', () => {
  it("'require' gives ERR_MLOCK_LIMIT and changes nothing; 'best-effort' works unlocked", async () => {
    const result = await runNode(
      `import { configure, stats } from '@strongroom/core-native';
       import { SecretBuffer } from '@strongroom/buffer';
       import { Enclave, EnclaveStream } from '@strongroom/enclave';
       const codeOf = (fn) => { try { fn(); return 'none'; } catch (e) { return e.code; } };
       const bytes = Uint8Array.from([1, 2, 3]);
       process.env.STRONGROOM_LIMIT_SECRET = 'abc';
       const before = {
         alloc: codeOf(() => SecretBuffer.alloc(32)),
         fromEnv: codeOf(() => SecretBuffer.fromEnv('STRONGROOM_LIMIT_SECRET')),
         enclave: codeOf(() => Enclave.from(bytes)),
         kept: Array.from(bytes).join(','),
         env: process.env.STRONGROOM_LIMIT_SECRET,
         regions: stats().regions,
       };
       configure({ mlock: 'best-effort' });
       const enclave = Enclave.from(bytes);
       const opened = enclave.open();
       const stream = new EnclaveStream({ chunkSize: 2 });
       stream.end(Buffer.from([4, 5, 6]));
       await new Promise((resolve) => stream.on('finish', resolve));
       const flat = stream.flatten();
       const after = {
         opened: opened.read((v) => Array.from(v).join(',')),
         flat: flat.read((v) => Array.from(v).join(',')),
         fromEnv: SecretBuffer.fromEnv('STRONGROOM_LIMIT_SECRET').size,
         unlocked: stats().bytesUnlocked > 0,
       };
       console.log(JSON.stringify({ before, after }));`,
      { ...CHILD, memlockBytes: 0, dropIpcLock: true },
    );
    expect(result.code, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout.trim().split('\n').at(-1) as string)).toEqual({
      before: { alloc: 'ERR_MLOCK_LIMIT', fromEnv: 'ERR_MLOCK_LIMIT', enclave: 'ERR_MLOCK_LIMIT', kept: '1,2,3', env: 'abc', regions: 0 },
      after: { opened: '1,2,3', flat: '4,5,6', fromEnv: 3, unlocked: true },
    });
  });
});

describe('EnclaveStream and what it has not staged yet', () => {
  it('destroy() wipes writes still queued (cork()); purge() wipes those of every stream', async () => {
    const { purge } = await import('../src/index.js');
    for (const end of ['destroy', 'purge'] as const) {
      const stream = new EnclaveStream({ chunkSize: 4 });
      stream.on('error', () => {});
      stream.cork();
      const queued = [Buffer.from([1, 2, 3]), Buffer.from([4, 5, 6])];
      for (const chunk of queued) stream.write(chunk);
      if (end === 'destroy') stream.destroy();
      else purge();
      expect(queued.map((chunk) => Array.from(chunk)), end).toEqual([
        [0, 0, 0],
        [0, 0, 0],
      ]);
      stream.destroy();
    }
  });

  it('a control: with { wipeSource: false } destroy() leaves the queued writes alone', () => {
    const stream = new EnclaveStream({ chunkSize: 4, wipeSource: false });
    stream.cork();
    const chunk = Buffer.from([1, 2, 3]);
    stream.write(chunk);
    stream.destroy();
    expect(Array.from(chunk)).toEqual([1, 2, 3]);
  });

  it('strings are refused with ERR_INVALID_ARG: they can never be wiped', () => {
    const stream = new EnclaveStream();
    expect(() => stream.write('secret')).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG' }));
    expect(() => stream.end('secret')).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG' }));
    stream.destroy();
  });
});
