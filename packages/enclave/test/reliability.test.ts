// Enclave paths that used to fail or run unbounded (issue 9, item 7): under
// configure({ backend: 'heap' }) the native coffer still seals and opens guarded memory;
// EnclaveStream.fromFile() stops at maxSize, for a device that never ends too.
import { configure } from '@strongroom/core-native';
import { asyncErrorCode, bytesOf, openFileDescriptors } from '@strongroom/testkit';
import { describe, expect, it } from 'vitest';

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
